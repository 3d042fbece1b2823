"""Step 1 on the project's own data: the schema built from conf/data, and clear errors."""

import pandas as pd
import pytest
from conftest import ROOT, breaking_value, checked_feature, rule_name, write_raw

from groundwork.config import compose_config
from groundwork.data.load import (
    data_spec,
    read_raw,
    validate,
)
from groundwork.data.sample import (
    SAMPLES,
    synthesize,
    write_sample,
)
from groundwork.data.schema import raw_schema
from groundwork.errors import (
    DataValidationError,
    UserFacingError,
)

DATA_CONFIGS = sorted(path.stem for path in (ROOT / "conf/data").glob("*.yaml"))


def test_shipped_sample_is_the_generated_sample(cfg, tmp_path):
    """data/raw holds exactly what `sample-data` writes, so CI can regenerate it offline."""
    if cfg.data.get("sample") not in SAMPLES:
        pytest.skip("the data in use is not a sample set")
    shipped = ROOT / cfg.data.raw_path
    if not shipped.exists():
        pytest.skip("raw data not pulled: run `make data`")
    regenerated = write_sample(cfg.data.sample, tmp_path / "sample.csv")
    assert regenerated.read_bytes() == shipped.read_bytes()


def test_sample_passes_the_schema(sample, spec):
    assert set(sample.columns) == {c.name for c in spec.columns} | {spec.target.name}
    if spec.is_classification:
        assert set(sample[spec.target.name]) <= set(spec.target.classes)


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_synthesized_rows_pass_every_data_config(name):
    spec = data_spec(compose_config([f"data={name}"], conf_dir=ROOT / "conf"))
    rows = synthesize(spec, rows=300)
    validated = validate(rows, raw_schema(spec))
    assert len(validated) == 300
    if spec.is_classification:
        assert set(validated[spec.target.name]) == set(spec.target.classes)


def test_broken_value_names_column_rule_and_row(sample, spec):
    column = checked_feature(spec)
    broken = sample.astype({column.name: object})
    broken.loc[2, column.name] = breaking_value(column)
    with pytest.raises(DataValidationError) as error:
        validate(broken, raw_schema(spec))
    message = str(error.value)
    assert f"'{column.name}'" in message and rule_name(column) in message
    assert "rows 3 " in message  # row 1 is the first data row


def test_missing_column_and_bad_target_are_both_reported(sample, spec):
    dropped = spec.feature_names[0]
    bad_target = "no-such-class" if spec.is_classification else "not a number"
    broken = sample.drop(columns=[dropped]).astype({spec.target.name: object})
    broken[spec.target.name] = bad_target
    with pytest.raises(DataValidationError) as error:
        validate(broken, raw_schema(spec))
    message = str(error.value)
    assert f"missing column '{dropped}'" in message
    assert f"'{spec.target.name}'" in message


def test_missing_value_in_a_required_column_is_named(sample, spec):
    required = [c for c in spec.features if not c.nullable]
    if not required:
        pytest.skip("every feature may be missing")
    broken = sample.astype({required[0].name: object})
    broken.loc[0, required[0].name] = None
    with pytest.raises(DataValidationError, match=f"'{required[0].name}' fails rule not_nullable"):
        validate(broken, raw_schema(spec))


def test_text_in_numeric_column_is_a_clear_error(sample, spec):
    if not spec.numeric:
        pytest.skip("no numeric column")
    broken = sample.astype({spec.numeric[0]: object})
    broken.loc[0, spec.numeric[0]] = "n/a"
    with pytest.raises(DataValidationError, match=spec.numeric[0]):
        validate(broken, raw_schema(spec))


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(UserFacingError, match="make data"):
        read_raw(tmp_path / "absent.csv")


def test_unreadable_file_is_a_validation_error(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x00garbage")
    with pytest.raises(DataValidationError, match="not a readable CSV"):
        read_raw(path)


def test_extra_column_is_refused(sample, spec):
    with pytest.raises(DataValidationError, match="unexpected column .free_text."):
        validate(sample.assign(free_text="x"), raw_schema(spec))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_read_raw_round_trip(tmp_path, sample, spec, suffix):
    path = write_raw(sample, tmp_path / f"raw{suffix}")
    pd.testing.assert_frame_equal(
        validate(read_raw(path), raw_schema(spec)), sample, check_dtype=False
    )
