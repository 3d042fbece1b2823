"""Batch scoring of CSV and Parquet files, chunk by chunk, through the shared predictor."""

import numpy as np
import pandas as pd
import pytest
from conftest import breaking_value, checked_feature, damaged_parquet, rule_name

from groundwork.cli import main
from groundwork.errors import (
    DataValidationError,
    UserFacingError,
)
from groundwork.release.package import (
    load_package,
)
from groundwork.release.predictor import (
    Predictor,
)
from groundwork.serving.batch import score_file


@pytest.fixture
def batch(sample, unseen_rows, spec):
    """Rows of the data and rows over every declared range, with an id column, as a file
    to score might have (the target, if present, passes through). The synthesized rows take
    their identifiers and ignored columns from the data's rows: a column keeps the one type
    a Parquet file allows it (synthesized ids are numbers, a customer's name is text)."""
    unseen = unseen_rows.copy()
    for name in [*spec.identifiers, *spec.ignored]:
        unseen[name] = np.resize(sample[name].to_numpy(), len(unseen))
    rows = pd.concat([sample, unseen], ignore_index=True).head(400)
    return rows.assign(row_id=[f"r{i}" for i in range(len(rows))])


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
    expected = Predictor(load_package(model_package)).predict_frame(batch)
    assert list(scored.columns) == [*batch.columns, *expected.columns]
    assert scored["row_id"].tolist() == batch["row_id"].tolist()
    for column in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[column]):
            np.testing.assert_allclose(scored[column], expected[column], atol=1e-12)
        else:  # class labels
            assert scored[column].astype(str).tolist() == expected[column].astype(str).tolist()


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_bad_row_is_reported_by_its_row_and_the_output_stays_intact(
    model_package, batch, spec, tmp_path, suffix
):
    column = checked_feature(spec)
    broken = batch.astype({column.name: object})
    broken.loc[250, column.name] = breaking_value(column)  # in the third chunk of 100
    source = write(broken, tmp_path / f"in{suffix}")
    target = tmp_path / f"out{suffix}"
    target.write_text("previous output")
    with pytest.raises(DataValidationError) as error:
        score_file(source, target, model_package, chunk_size=100, progress=False)
    message = str(error.value)
    assert f"'{column.name}'" in message and rule_name(column) in message
    assert "rows 251 " in message
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


def test_files_that_cannot_be_read_are_named_with_the_reason(model_package, batch, tmp_path):
    not_parquet = tmp_path / "in.parquet"
    not_parquet.write_text("row_id\nr1\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    ragged = write(batch, tmp_path / "ragged.csv")
    with ragged.open("a") as out:
        out.write("1,2,3," * len(batch.columns) + "\n")  # more fields than the header's
    damaged = damaged_parquet(batch, tmp_path / "damaged.parquet")
    cases = [
        (not_parquet, "in.parquet is not a readable Parquet file"),
        (empty, "empty.csv is not a readable CSV file"),
        (ragged, "ragged.csv cannot be read: Error tokenizing data"),
        (damaged, "damaged.parquet cannot be read: "),  # the footer reads, the pages do not
    ]
    for source, message in cases:
        with pytest.raises(UserFacingError, match=message):
            score_file(source, tmp_path / "out.parquet", model_package, progress=False)
        assert not (tmp_path / "out.parquet").exists()


def test_a_file_of_a_header_alone_is_refused_and_nothing_is_written(model_package, batch, tmp_path):
    source = write(batch.head(0), tmp_path / "in.csv")
    with pytest.raises(UserFacingError, match="in.csv has no rows to score"):
        score_file(source, tmp_path / "out.parquet", model_package, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


def test_a_column_whose_type_changes_between_csv_chunks_is_named(model_package, batch, tmp_path):
    ids = [str(i) for i in range(100)] + [f"r{i}" for i in range(100, len(batch))]
    source = write(batch.assign(row_id=ids), tmp_path / "in.csv")  # numbers, then text
    with pytest.raises(UserFacingError, match="column types change between chunks"):
        score_file(source, tmp_path / "out.parquet", model_package, 100, progress=False)
    assert not (tmp_path / "out.parquet").exists()
    # CSV output takes each chunk as it comes.
    assert score_file(source, tmp_path / "out.csv", model_package, 100, progress=False) == len(
        batch
    )
