"""Batch scoring of CSV and Parquet files, chunk by chunk, through the shared predictor."""

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.cli import main
from {{ cookiecutter.module_name }}.errors import DataValidationError, UserFacingError
from {{ cookiecutter.module_name }}.package import load_package
from {{ cookiecutter.module_name }}.predict import Predictor
from {{ cookiecutter.module_name }}.score import score_file


@pytest.fixture
def batch(sample):
    """The sample with an id column, as a file to score might have."""
    return sample.assign(patient_id=[f"p{i}" for i in range(len(sample))])


def write(frame: pd.DataFrame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def read(path):
    return pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)


@pytest.mark.parametrize(
    "source, target",
    [("in.csv", "out.csv"), ("in.parquet", "out.parquet"), ("in.csv", "out.parquet")],
)
def test_file_is_scored_in_chunks_like_the_predictor(
    model_package, batch, tmp_path, source, target
):
    source, target = write(batch, tmp_path / source), tmp_path / target
    assert score_file(source, target, model_package, chunk_size=100, progress=False) == len(batch)
    scored = read(target)
    assert list(scored.columns) == [*batch.columns, "probability", "prediction"]
    assert scored["patient_id"].tolist() == batch["patient_id"].tolist()
    expected = Predictor(load_package(model_package)).predict_frame(batch)
    np.testing.assert_allclose(scored["probability"], expected["probability"], atol=1e-12)
    assert scored["prediction"].tolist() == expected["prediction"].tolist()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_bad_row_is_reported_by_its_row_and_the_output_stays_intact(
    model_package, batch, tmp_path, suffix
):
    broken = batch.copy()
    broken.loc[250, "mean_smoothness"] = 7.0  # in the third chunk of 100
    source = write(broken, tmp_path / f"in{suffix}")
    target = tmp_path / f"out{suffix}"
    target.write_text("previous output")
    with pytest.raises(DataValidationError) as error:
        score_file(source, target, model_package, chunk_size=100, progress=False)
    message = str(error.value)
    assert "'mean_smoothness'" in message and "in_range" in message and "rows 251 " in message
    assert target.read_text() == "previous output"
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"in{suffix}", f"out{suffix}"]


def test_score_command_reports_rows_and_refuses_unknown_formats(
    model_package, batch, tmp_path, capsys
):
    source = write(batch, tmp_path / "in.parquet")
    target = tmp_path / "out.csv"
    assert main(["score", str(source), str(target), "--model", str(model_package)]) == 0
    assert f"{len(batch)} rows scored" in capsys.readouterr().out
    assert (
        main(["score", str(source), str(tmp_path / "out.xlsx"), "--model", str(model_package)]) == 1
    )
    assert "use a .csv or .parquet file" in capsys.readouterr().err


def test_missing_input_and_bad_chunk_size_are_named(model_package, tmp_path):
    with pytest.raises(UserFacingError, match="in.csv not found"):
        score_file(tmp_path / "in.csv", tmp_path / "out.csv", model_package, progress=False)
    with pytest.raises(UserFacingError, match="--chunk-size"):
        score_file(tmp_path / "in.csv", tmp_path / "out.csv", model_package, chunk_size=0)
