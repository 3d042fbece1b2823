import pandas as pd
import pytest
from conftest import ROOT

from {{ cookiecutter.module_name }}.data import read_raw, validate, write_sample_data
from {{ cookiecutter.module_name }}.errors import DataValidationError, UserFacingError
from {{ cookiecutter.module_name }}.schema import FEATURES, TARGET


def test_shipped_sample_is_the_generated_sample(tmp_path):
    """data/raw holds exactly what `sample-data` writes, so CI can regenerate it offline."""
    shipped = ROOT / "data/raw/breast_cancer.csv"
    if not shipped.exists():
        pytest.skip("raw data not pulled: run `dvc pull`")
    regenerated = write_sample_data(tmp_path / "sample.csv")
    assert regenerated.read_bytes() == shipped.read_bytes()


def test_sample_passes_the_schema(sample):
    assert list(sample.columns) == [*FEATURES, TARGET]
    assert len(sample) == 569
    assert set(sample[TARGET]) == {0, 1}


def test_out_of_range_value_names_column_rule_and_row(sample):
    broken = sample.copy()
    broken.loc[2, "mean_radius"] = -1.0
    with pytest.raises(DataValidationError) as error:
        validate(broken)
    message = str(error.value)
    assert "'mean_radius'" in message
    assert "in_range" in message
    assert "rows 3 " in message  # row 1 is the first data row


def test_missing_column_and_bad_target_are_both_reported(sample):
    broken = sample.drop(columns=["mean_area"]).assign(**{TARGET: 7})
    with pytest.raises(DataValidationError) as error:
        validate(broken)
    message = str(error.value)
    assert "missing column 'mean_area'" in message
    assert f"'{TARGET}'" in message and "isin" in message


def test_text_in_numeric_column_is_a_clear_error(sample):
    broken = sample.astype({"mean_texture": object})
    broken.loc[0, "mean_texture"] = "n/a"
    with pytest.raises(DataValidationError, match="mean_texture"):
        validate(broken)


def test_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(UserFacingError, match="dvc pull"):
        read_raw(tmp_path / "absent.csv")


def test_unreadable_file_is_a_validation_error(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x00garbage")
    with pytest.raises(DataValidationError, match="not a readable CSV"):
        read_raw(path)


def test_extra_column_is_refused(sample):
    with pytest.raises(DataValidationError, match="unexpected column .patient_name."):
        validate(sample.assign(patient_name="x"))


def test_read_raw_round_trip(tmp_path, sample):
    path = tmp_path / "raw.csv"
    sample.to_csv(path, index=False)
    pd.testing.assert_frame_equal(validate(read_raw(path)), sample)
