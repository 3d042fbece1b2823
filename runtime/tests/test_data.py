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
from groundwork.data.schema import raw_schema, target_dtype
from groundwork.data.spec import spec_from_config
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


# A config with what the shipped ones lack: open and half-open ranges (one below a negative
# max), a nullable category, an identifier, an ignored column and a numeric target.
EVERY_ROLE = {
    "task": "regression",
    "target": {"name": "price"},
    "columns": {
        "area": {"role": "numeric", "min": 10, "max": 500},
        "rooms": {"role": "numeric", "min": 1},
        "freezer_c": {"role": "numeric", "max": -18},
        "score": {"role": "numeric"},
        "district": {"role": "categorical", "values": ["north", "south"], "nullable": True},
        "listing_id": {"role": "identifier"},
        "notes": {"role": "ignored"},
    },
}


def test_synthesized_rows_of_every_role_pass_their_schema_and_explain_the_target():
    spec = spec_from_config(EVERY_ROLE)
    rows = validate(synthesize(spec, rows=400), raw_schema(spec))
    assert rows["listing_id"].tolist() == list(range(1, 401))
    assert set(rows["notes"]) == {"n/a"}
    assert set(rows["district"].dropna()) == {"north", "south"}
    assert 0 < rows["district"].isna().sum() < 60  # about 5% missing, as nullable allows
    assert rows["freezer_c"].between(-20, -18).all() and rows["rooms"].between(1, 3).all()
    assert rows["score"].between(-1, 1).all()
    assert rows["price"].corr(rows["area"]) > 0.3  # the target depends on the features


def test_each_bound_is_checked_alone_and_an_open_range_takes_any_number():
    spec = spec_from_config(EVERY_ROLE)
    rows = synthesize(spec, rows=50).astype({"district": object})
    rows.loc[1, "rooms"], rows.loc[2, "freezer_c"], rows.loc[3, "district"] = 0.0, -4.0, "west"
    rows.loc[4, "score"] = -1e9
    with pytest.raises(DataValidationError) as error:
        validate(rows, raw_schema(spec))
    message = str(error.value)
    assert "'rooms' fails rule greater_than_or_equal_to(1.0)" in message
    assert "'freezer_c' fails rule less_than_or_equal_to(-18.0)" in message
    assert "'district' fails rule isin" in message
    assert "'score'" not in message


@pytest.mark.parametrize(
    ("classes", "kind"),
    [((False, True), bool), ((0, 1), int), (("no", "yes"), str), ((0, "other"), str)],
)
def test_the_target_keeps_the_type_of_its_classes(classes, kind):
    assert target_dtype(classes) is kind
    config = EVERY_ROLE | {"task": "classification", "target": {"name": "y", "classes": classes}}
    spec = spec_from_config(config)
    rows = validate(synthesize(spec, rows=60), raw_schema(spec))
    expected = {kind(c) for c in classes}
    assert set(rows["y"]) == expected and all(type(v) is kind for v in rows["y"])
    unknown = rows.astype({"y": object})
    unknown.loc[0, "y"] = "maybe"
    with pytest.raises(DataValidationError, match="'y' fails rule"):
        validate(unknown, raw_schema(spec))


@pytest.mark.parametrize(
    ("name", "target", "positives_or_range"),
    [("breast_cancer", "malignant", 212), ("diabetes", "progression", (25.0, 346.0))],
)
def test_each_sample_set_is_written_offline_with_its_target(
    name, target, positives_or_range, tmp_path
):
    path = write_sample(name, tmp_path / "raw" / f"{name}.csv")
    frame = pd.read_csv(path)
    assert len(frame) == {"breast_cancer": 569, "diabetes": 442}[name]
    assert frame.columns[-1] == target and not frame.isna().any().any()
    assert all(" " not in column for column in frame.columns)
    if name == "breast_cancer":  # the malignant tumours are the positive class, not the benign
        assert frame[target].sum() == positives_or_range and len(frame.columns) == 11
    else:  # unscaled, with sex kept as its two codes
        assert (frame[target].min(), frame[target].max()) == positives_or_range
        assert frame["age"].between(19, 79).all() and set(frame["sex"]) == {1, 2}


def test_a_stray_value_in_a_true_false_target_is_refused_not_read_as_true(tmp_path):
    """pandas reads such a column as text; coerced to bool, every text, "False" too, is True."""
    target = {"name": "sold", "classes": [False, True]}
    spec = spec_from_config(EVERY_ROLE | {"task": "classification", "target": target})
    rows = synthesize(spec, rows=6)
    clean = read_raw(write_raw(rows, tmp_path / "clean.csv"))
    assert validate(clean, raw_schema(spec))["sold"].tolist() == rows["sold"].tolist()
    rows = rows.astype({"sold": object})
    rows.loc[2, "sold"] = "unknown"
    stray = read_raw(write_raw(rows, tmp_path / "stray.csv"))
    with pytest.raises(DataValidationError) as error:
        validate(stray, raw_schema(spec))
    assert "'sold' fails rule isin([False, True]) in 1 row(s): rows 3 (values 'unknown')" in str(
        error.value
    )
