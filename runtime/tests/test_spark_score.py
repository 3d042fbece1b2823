"""The Spark engine's parts that need no Spark: Java, errors and row numbers.

Spark itself runs in the template's suite, which installs Java; here: `uv sync --group spark`
and `uv run --group spark <slug> score IN OUT --engine spark`.
"""

import pytest

from groundwork.errors import (
    UserFacingError,
)
from groundwork.serving.spark_score import (
    check_java,
    failed_partition,
    is_local,
    renumbered,
)

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
