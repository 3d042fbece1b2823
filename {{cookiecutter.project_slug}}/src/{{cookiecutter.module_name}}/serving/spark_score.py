"""Batch scoring on Apache Spark: the same package, schema and `Predictor` as `score`.

For files that outgrow one machine. Spark reads the CSV or Parquet input in partitions;
each partition's rows go, as pandas frames, through `Predictor.predict_frame` inside
`mapInPandas`, which validates them with the schema built from the package's data spec
and scores them with ONNX Runtime (or scikit-learn). The package's files are broadcast
once; each Python worker writes them to a local folder, checks their checksums and keeps
one predictor (one ONNX Runtime session, one thread: Spark runs a task per core).

Output is a Parquet dataset (a folder of part files): the input's columns plus
`prediction` (and `probability_<class>`). On a local path it is written beside the
target and renamed over it once the job succeeded, so a failed run leaves no partial
output and keeps the previous one; on a cluster URI (s3a://, hdfs://, abfss://) Spark's
own commit protocol applies: part files are committed, and `_SUCCESS` written, only when
every task succeeded.

A row that breaks a rule fails its task with the column, the rule and the row's position
in its partition; the driver turns that position into the row number in the input (input
partitions follow the file's order), counting the rows of the partitions before it.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ..artifacts import atomic_dir
from ..errors import UserFacingError
from ..release.package import load_package
from ..release.predictor import PREDICTION, Predictor, probability_column
from .batch import file_format

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

log = structlog.get_logger(__name__)

JAVA_HINT = (
    "Spark needs a Java runtime (17 or newer) and found none: install it with "
    "`sudo apt-get install openjdk-17-jre-headless` (Debian, Ubuntu), or set JAVA_HOME."
)
SPARK_HINT = (
    "the Spark engine needs PySpark (dependency group `spark`): run `uv sync --group spark`, "
    "or `make score ENGINE=spark ...`, which adds it."
)
# Raised in a task, found in the driver's exception text: the partition and the message.
FAILED_PARTITION = re.compile(r"rows? in partition (\d+) do not match:\n(.*?)(?:\n\n|\Z)", re.S)
ROW_NUMBERS = re.compile(r"(rows )(\d+(?:, \d+)*)")


def check_java() -> None:
    """Fail with the package to install, not Py4J's traceback, when Java is missing."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return
    if shutil.which("java") is None:
        raise UserFacingError(JAVA_HINT)


def spark_session(master: str | None, app_name: str) -> SparkSession:
    """Spark on `master`; None takes spark-submit's master, else Spark's default, local[*]."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserFacingError(SPARK_HINT) from None
    check_java()
    # Workers run this interpreter, so they import the same environment as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    import logging

    logging.getLogger("py4j").setLevel(logging.WARNING)  # a line per connection otherwise
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    builder = SparkSession.builder if master is None else SparkSession.builder.master(master)
    try:
        spark = (
            builder.appName(app_name)
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", "50000")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
    except (PySparkException, Py4JJavaError) as exc:
        # A master spark-submit refuses stops the JVM before it starts (its reason is on
        # stderr already); one it accepts but Spark cannot parse fails in the JVM.
        given = f"master {master!r}" if master else "spark-submit's master, else local[*]"
        raise UserFacingError(
            f"Spark did not start on {given}: {spark_reason(exc)}\nCheck --master: "
            "local[N], local[*], spark://HOST:PORT, yarn or k8s://https://HOST:PORT."
        ) from None
    # A failed task's Java and Python traces would bury the one message `score` prints.
    spark.sparkContext.setLogLevel("FATAL")
    return spark


def spark_reason(exc: Exception) -> str:
    """Spark's message without Py4J's preamble or the Java stack: its first line, and the
    first line of its root cause."""
    lines = [line.removeprefix(": ").strip() for line in str(exc).splitlines()]
    preamble = ("An error occurred while calling", "at ")
    reason = next((line for line in lines if line and not line.startswith(preamble)), repr(exc))
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by: ")]
    return f"{reason} (cause: {causes[-1]})" if causes and causes[-1] not in reason else reason


def package_files(package_path: Path) -> dict[str, bytes]:
    """The package's files, to broadcast: workers on other machines cannot read the path."""
    return {p.name: p.read_bytes() for p in sorted(package_path.iterdir()) if p.is_file()}


_PREDICTORS: dict[str, Predictor] = {}  # per Python worker, by package checksum


def worker_predictor(files: dict[str, bytes], checksum: str) -> Predictor:
    """The worker's predictor of the broadcast package, loaded and checked once."""
    if checksum not in _PREDICTORS:
        folder = Path(tempfile.mkdtemp(prefix="model-package-"))
        for name, content in files.items():
            (folder / name).write_bytes(content)
        _PREDICTORS[checksum] = Predictor(load_package(folder), threads=1)
    return _PREDICTORS[checksum]


def output_schema(input_schema, predictor: Predictor):
    """The input's columns, then the prediction columns in Spark's types."""
    from pyspark.sql import types

    fields = list(input_schema.fields)
    if predictor.spec.is_classification:
        kinds = {type(label) for label in predictor.classes}
        label_type = (
            types.BooleanType()
            if kinds == {bool}
            else types.LongType()
            if kinds <= {int}
            else types.StringType()
        )
        fields.append(types.StructField(PREDICTION, label_type, nullable=False))
        fields += [
            types.StructField(probability_column(label), types.DoubleType(), nullable=False)
            for label in predictor.classes
        ]
    else:
        fields.append(types.StructField(PREDICTION, types.DoubleType(), nullable=False))
    return types.StructType(fields)


def score_partitions(files_broadcast, checksum: str):
    """The function `mapInPandas` runs on each partition's frames."""

    def score(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from pyspark import TaskContext

        from ..errors import DataValidationError

        predictor = worker_predictor(files_broadcast.value, checksum)
        context = TaskContext.get()  # None only outside a Spark task, and this runs in one
        assert context is not None
        partition = context.partitionId()
        seen = 0
        for frame in frames:
            try:
                scored = predictor.predict_frame(frame, first_row=seen + 1)
            except DataValidationError as exc:
                # Numbered within the partition: the driver adds the rows before it.
                detail = str(exc).split(":\n", 1)[-1]
                raise UserFacingError(
                    f"rows in partition {partition} do not match:\n{detail}\n\n"
                ) from None
            seen += len(frame)
            # Added in place: a concat would copy every input column once more.
            for name in scored.columns:
                frame[name] = scored[name].to_numpy()
            yield frame

    return score


def read_input(spark: SparkSession, source: str, partitions: int | None) -> DataFrame:
    kind = file_format(Path(source))
    if partitions:
        # Split the file into about N input partitions by size: unlike `repartition`, this
        # keeps the file's row order, which row numbers in error messages rely on.
        size = Path(source).stat().st_size if Path(source).exists() else None
        if size:
            spark.conf.set("spark.sql.files.maxPartitionBytes", str(math.ceil(size / partitions)))
            spark.conf.set("spark.sql.files.openCostInBytes", "0")
    reader = spark.read
    if kind == "csv":
        # Inferred types, as pandas infers them for the pandas engine.
        return reader.csv(source, header=True, inferSchema=True, enforceSchema=False)
    return reader.parquet(source)


def rows_before(frame: DataFrame, partition: int) -> int:
    """How many rows the input partitions before `partition` hold."""
    counts = frame.rdd.mapPartitionsWithIndex(
        lambda index, rows: [(index, sum(1 for _ in rows))] if index < partition else []
    ).collect()
    return sum(count for _, count in counts)


def failed_partition(text: str) -> tuple[int, str] | None:
    """The partition and the message of a task's validation failure in Spark's error text."""
    found = FAILED_PARTITION.search(text)
    return (int(found.group(1)), found.group(2).strip()) if found else None


def renumbered(detail: str, offset: int) -> str:
    """`detail` with each row number moved on by `offset`: from the partition to the input."""

    def renumber(match: re.Match) -> str:
        numbers = [int(n) + offset for n in match.group(2).split(", ")]
        return match.group(1) + ", ".join(str(n) for n in numbers)

    return ROW_NUMBERS.sub(renumber, detail)


def validation_error(text: str, frame: DataFrame) -> UserFacingError | None:
    """The task's validation failure with row numbers in the input, or None."""
    found = failed_partition(text)
    if found is None:
        return None
    partition, detail = found
    detail = renumbered(detail, rows_before(frame, partition))
    return UserFacingError(
        "the data does not match the rules in conf/data (row numbers count data rows in "
        f"the input, 1 for the first):\n{detail}\nNothing was written."
    )


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def write_scored(spark: SparkSession, scored: DataFrame, path: str, source: str) -> int:
    """Write the scored rows to `path`; their count, from the part files' footers."""
    scored.write.mode("overwrite").parquet(path)
    if is_local(path):
        # Read here, not by Spark: Spark skips a folder whose name starts with a dot, as the
        # temporary one beside the target does.
        import pyarrow.parquet as pq

        parts = Path(path.removeprefix("file://")).glob("part-*.parquet")
        rows = sum(pq.ParquetFile(part).metadata.num_rows for part in parts)
    else:
        rows = spark.read.parquet(path).count()
    if rows == 0:
        raise UserFacingError(f"{source} has no rows to score.")
    return rows


def score_with_spark(
    source: Path | str,
    target: Path | str,
    package_path: Path | str,
    master: str | None = None,
    partitions: int | None = None,
) -> int:
    """Score `source` on Spark into the Parquet dataset `target`; return the row count.

    `master` None: the one `spark-submit` was given (deploy/spark/submit.sh), else local[*].
    """
    source, target = str(source), str(target)
    if is_local(source) and not Path(source.removeprefix("file://")).exists():
        raise UserFacingError(f"{source} not found: give the path of a CSV or Parquet file.")
    if partitions is not None and partitions < 1:
        raise UserFacingError(f"--partitions must be at least 1, not {partitions}.")
    package = load_package(package_path)  # refuses an altered package before Spark starts
    predictor = Predictor(package)
    spark = spark_session(master, f"score {Path(source).name}")
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        frame = read_input(spark, source, partitions)
    except (PySparkException, Py4JJavaError) as exc:
        raise UserFacingError(f"Spark could not read {source}: {spark_reason(exc)}") from None
    files = spark.sparkContext.broadcast(package_files(Path(package_path)))
    scored = frame.mapInPandas(
        score_partitions(files, package.lineage["checksum"]),
        schema=output_schema(frame.schema, predictor),
    )
    try:
        if is_local(target):
            with atomic_dir(Path(target.removeprefix("file://"))) as tmp:
                rows = write_scored(spark, scored, str(tmp), source)
        else:
            rows = write_scored(spark, scored, target, source)
    except (PySparkException, Py4JJavaError) as exc:
        refused = validation_error(str(exc), frame)
        if refused is not None:
            raise refused from None
        raise UserFacingError(f"Spark could not score {source}: {spark_reason(exc)}") from None
    finally:
        files.unpersist()
    master = spark.sparkContext.master
    log.info("file scored", engine="spark", master=master, source=source, rows=rows)
    return rows
