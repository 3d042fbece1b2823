"""`score --engine spark`: Apache Spark in local mode, with a real Java runtime, scoring the
same files as the pandas engine with the same package; and the parts that need no Spark.

One Spark session (a JVM, and Python workers it keeps) serves the whole file: `score` finds
it running and uses it, as it would take the one `spark-submit` started.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import breaking_value, checked_feature, damaged_parquet, rule_name

from groundwork.cli import main
from groundwork.errors import UserFacingError
from groundwork.release.package import load_package
from groundwork.serving.batch import score_file
from groundwork.serving.spark_score import (
    check_java,
    failed_partition,
    is_local,
    package_files,
    renumbered,
    score_with_spark,
    spark_session,
    worker_predictor,
)

MASTER = "local[1]"  # one Python worker to start: the machine running the suite is busy
# Spark's web UI: nothing here looks at it, and it takes a second to start.
SUBMIT_ARGS = "--conf spark.ui.enabled=false pyspark-shell"
# The pandas engine runs ONNX Runtime with several threads, Spark's tasks with one each:
# float32 sums in another order differ in the last digits, far inside the ONNX tolerance.
TOLERANCE = 1e-5


@pytest.fixture(scope="session")
def spark_installed() -> None:
    """Skipped without Java or PySpark on a workstation; in CI, a failure."""
    missing = None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing = "no Java runtime (apt-get install openjdk-17-jre-headless)"
    elif importlib.util.find_spec("pyspark") is None:
        missing = "no PySpark (uv sync --extra spark)"
    if missing and os.environ.get("CI"):
        pytest.fail(missing, pytrace=False)
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="session")
def spark(spark_installed):
    """Spark on MASTER for the session: `score` finds it running and takes it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)  # workers import this environment
        env.setenv("PYSPARK_SUBMIT_ARGS", SUBMIT_ARGS)
        session = spark_session(MASTER, "groundwork tests")
        yield session
        session.stop()


@pytest.fixture(scope="module")
def rows(sample) -> pd.DataFrame:
    """The sample's rows with a text id, which passes through both engines untouched."""
    return sample.assign(row_id=[f"r{i}" for i in range(len(sample))])


def pandas_scores(source: Path, package: Path) -> pd.DataFrame:
    target = source.with_name(f"{source.stem}.pandas.parquet")
    score_file(source, target, package, progress=False)
    return pd.read_parquet(target)


def assert_same_scores(spark: pd.DataFrame, pandas: pd.DataFrame) -> None:
    """Same rows in the same order, same columns, same labels, values within tolerance."""
    assert list(spark.columns) == list(pandas.columns)
    assert len(spark) == len(pandas)
    for name in pandas.columns:
        left, right = spark[name], pandas[name]
        if pd.api.types.is_float_dtype(right):
            np.testing.assert_allclose(left.astype(float), right, atol=TOLERANCE, err_msg=name)
        else:
            assert left.astype(str).tolist() == right.astype(str).tolist(), name


def test_the_score_command_on_spark_scores_a_csv_file_as_the_pandas_engine(
    spark, model_package, rows, tmp_path, capsys
):
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    target = tmp_path / "scored"
    command = ["score", str(source), str(target), "--model", str(model_package)]
    assert main([*command, "--engine", "spark", "--master", MASTER]) == 0
    said = capsys.readouterr().out
    assert f"{len(rows)} rows scored into {target} (a Parquet dataset, by Spark)" in said
    scored = pd.read_parquet(target)
    assert_same_scores(scored, pandas_scores(source, model_package))
    assert scored.columns[len(rows.columns)] == "prediction"
    assert scored["prediction"].nunique() > 1  # a constant would match less


def test_a_parquet_file_split_in_partitions_keeps_its_row_order(
    spark, model_package, rows, tmp_path
):
    source = tmp_path / "in.parquet"
    rows.to_parquet(source, index=False, row_group_size=100)  # Spark splits by row group
    target = tmp_path / "scored"
    assert score_with_spark(source, f"file://{target}", model_package, MASTER, 3) == len(rows)
    parts = [len(pd.read_parquet(part)) for part in sorted(target.glob("part-*.parquet"))]
    assert len(parts) >= 2 and min(parts) > 0 and sum(parts) == len(rows)
    assert_same_scores(pd.read_parquet(target), pandas_scores(source, model_package))


def test_a_bad_row_is_refused_by_its_row_in_the_input_and_the_output_stays(
    spark, model_package, rows, spec, tmp_path
):
    column = checked_feature(spec)
    broken = rows.astype({column.name: object})
    broken.loc[300, column.name] = breaking_value(column)  # row 101 of the second partition
    source = tmp_path / "in.parquet"
    broken.to_parquet(source, index=False, row_group_size=100)  # partitions of 200 rows
    target = tmp_path / "scored"
    target.mkdir()
    (target / "part-0.parquet").write_text("previous output")
    with pytest.raises(UserFacingError) as refused:
        score_with_spark(source, target, model_package, MASTER, partitions=2)
    message = str(refused.value)
    assert f"column '{column.name}' fails rule {rule_name(column)}" in message
    assert "rows 301 " in message  # 1 is the first data row; the first partition counted
    assert message.endswith("Nothing was written.")
    assert [p.name for p in target.iterdir()] == ["part-0.parquet"]
    assert (target / "part-0.parquet").read_text() == "previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "scored"]


def test_a_file_without_rows_is_refused_and_nothing_is_written(
    spark, model_package, rows, tmp_path
):
    source = tmp_path / "empty.csv"
    rows.head(0).to_csv(source, index=False)
    with pytest.raises(UserFacingError, match="empty.csv has no rows to score"):
        score_with_spark(source, tmp_path / "scored", model_package, MASTER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.csv"]


def test_a_file_spark_cannot_read_is_named_with_spark_s_reason(spark, model_package, tmp_path):
    source = tmp_path / "in.parquet"
    source.write_text("row_id,mean_radius\nr1,14.1\n")  # a CSV under a Parquet name
    with pytest.raises(UserFacingError) as refused:
        score_with_spark(source, tmp_path / "scored", model_package, MASTER)
    message = str(refused.value)
    assert message.startswith(f"Spark could not read {source}: ")
    assert "Could not read footer" in message and "\tat " not in message
    assert not (tmp_path / "scored").exists()


def test_a_damaged_file_fails_with_spark_s_reason_and_nothing_is_written(
    spark, model_package, rows, tmp_path
):
    source = damaged_parquet(rows, tmp_path / "in.parquet")
    with pytest.raises(UserFacingError) as refused:
        score_with_spark(source, tmp_path / "scored", model_package, MASTER)
    message = str(refused.value)
    assert message.startswith(f"Spark could not score {source}: ")
    assert "[FAILED_READ_FILE" in message and "(cause: " in message  # the thrift error
    assert len(message.splitlines()) == 1  # no Java stack
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_without_pyspark_the_error_names_the_dependency_group(
    model_package, rows, tmp_path, monkeypatch, capsys
):
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if not installed: it is here
    command = ["score", str(source), str(tmp_path / "out"), "--model", str(model_package)]
    assert main([*command, "--engine", "spark"]) == 1
    assert "uv sync --group spark" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_input_and_a_bad_partition_count_are_named_before_spark_starts(
    model_package, tmp_path, capsys
):
    missing = tmp_path / "in.csv"
    command = ["score", str(missing), str(tmp_path / "out"), "--model", str(model_package)]
    assert main([*command, "--engine", "spark"]) == 1
    assert f"error: {missing} not found: give the path of a CSV or Parquet file" in (
        capsys.readouterr().err
    )
    missing.write_text("mean_radius\n14.1\n")
    assert main([*command, "--engine", "spark", "--partitions", "0"]) == 1
    assert "--partitions must be at least 1, not 0" in capsys.readouterr().err


def test_without_java_the_score_command_names_the_package_to_install(
    model_package, rows, tmp_path, monkeypatch, capsys
):
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    command = ["score", str(source), str(tmp_path / "out"), "--model", str(model_package)]
    assert main([*command, "--engine", "spark"]) == 1
    err = capsys.readouterr().err
    assert "openjdk-17-jre-headless" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_bad_master_url_is_refused_with_the_url_and_the_forms_spark_takes(
    spark_installed, model_package, rows, tmp_path
):
    """In its own process: in this one, the running session would be taken whatever the URL."""
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    command = [sys.executable, "-m", "groundwork.cli", "score", str(source),
               str(tmp_path / "out"), "--model", str(model_package), "--engine", "spark",
               "--master", "local[two]"]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_SUBMIT_ARGS": SUBMIT_ARGS}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    # Spark logs its own trace as it fails; the last lines are the command's message.
    message = done.stderr[done.stderr.rindex("error: ") :]
    assert message.startswith("error: Spark did not start on master 'local[two]'")
    assert "Could not parse Master URL: 'local[two]'" in message
    assert "Check --master: local[N], local[*], spark://HOST:PORT" in message
    assert "\tat " not in message and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_worker_loads_the_package_once_and_refuses_an_altered_one(model_package):
    files = package_files(model_package)
    checksum = load_package(model_package).lineage["checksum"]
    predictor = worker_predictor(files, checksum)
    assert worker_predictor(files, checksum) is predictor
    altered = {**files, "model.joblib": files["model.joblib"] + b"\0"}
    with pytest.raises(UserFacingError, match="model.joblib does not match the checksum"):
        worker_predictor(altered, "altered")


# How a failed task's message reaches the driver: inside Spark's and Python's traces.
SPARK_TEXT = """org.apache.spark.SparkException: Job aborted due to stage failure: Task 2 ...
pyspark.errors.exceptions.captured.PythonException ...
UserFacingError: rows in partition 2 do not match:
column 'age' fails rule in_range(0.0, 120.0) in 2 row(s): rows 3, 41 (values -1.0, 300.0)
column 'city' fails rule isin(['Paris']) in 1 row(s): rows 7 (values 'Lyon')

\tat org.apache.spark.api.python.BasePythonRunner..."""


def test_a_task_failure_gives_its_partition_and_message():
    partition, detail = failed_partition(SPARK_TEXT)
    assert partition == 2
    assert detail.splitlines()[0].startswith("column 'age' fails rule in_range")
    assert len(detail.splitlines()) == 2
    assert failed_partition("java.lang.OutOfMemoryError: Java heap space") is None


def test_row_numbers_move_from_the_partition_to_the_input():
    _, detail = failed_partition(SPARK_TEXT)
    moved = renumbered(detail, 1000)
    assert "rows 1003, 1041 (values -1.0, 300.0)" in moved
    assert "rows 1007 (values 'Lyon')" in moved
    assert "in 2 row(s)" in moved  # counts stay as they are


def test_without_java_the_error_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(UserFacingError, match="openjdk-17-jre-headless"):
        check_java()
    (tmp_path / "jdk/bin").mkdir(parents=True)
    (tmp_path / "jdk/bin/java").touch()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    check_java()  # JAVA_HOME with a java in it is enough


def test_cluster_uris_are_not_local_paths():
    assert is_local("out/scored") and is_local("file:///data/out")
    assert not is_local("s3a://bucket/out") and not is_local("hdfs://nn/out")
