"""`score --engine spark` in baked projects: Apache Spark in local mode, with a real Java
runtime, scoring the same files as the pandas engine with the same package.

Each command starts its own Spark (a JVM and Python workers), as a user's would.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ENV, missing_tool, run

pytestmark = pytest.mark.slow

# The pandas engine runs ONNX Runtime with several threads, Spark's tasks with one each:
# float32 sums in another order differ in the last digits, far inside the ONNX tolerance.
TOLERANCE = 1e-5


@pytest.fixture(scope="module", autouse=True)
def java():
    """Skipped without Java on a workstation; in CI (.ci/run installs it) a failure."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        message = "no Java runtime (apt-get install openjdk-17-jre-headless)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: .ci/run installs it", pytrace=False)
        missing_tool(message)


def slug(project: Path) -> str:
    return json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"][
        "project_slug"
    ]


def score(project: Path, source: Path, target: Path, *extra: str, check: bool = True, env=None):
    command = ["uv", "run", "--frozen", "--group", "spark", slug(project), "score"]
    return run([*command, str(source), str(target), *extra], project, check=check, env=env)


def spark_score(project: Path, source: Path, target: Path, *extra: str, check: bool = True):
    return score(project, source, target, "--engine", "spark", "--master", "local[2]", *extra,
                 check=check)  # fmt: skip


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


def synthesized(project: Path, rows: int, path: Path) -> Path:
    """`rows` valid rows from the project's data config (its own generator), as Parquet."""
    code = (
        "from groundwork.config import compose_config\n"
        "from groundwork.data.load import data_spec\n"
        "from groundwork.data.sample import synthesize\n"
        f"frame = synthesize(data_spec(compose_config()), rows={rows}, seed=11)\n"
        f"frame.to_parquet({str(path)!r}, index=False)\n"
    )
    run(["uv", "run", "--frozen", "python", "-c", code], project)
    return path


def test_spark_scores_as_the_pandas_engine_and_refuses_a_bad_row(default_project, tmp_path):
    project = default_project
    run(["uv", "sync", "--frozen", "--group", "spark"], project)
    model = ("--model", "models/candidate")

    # The sample CSV: the same rows, columns and predictions as the pandas engine's.
    raw = project / "data/raw/breast_cancer.csv"
    said = spark_score(project, raw, tmp_path / "sample_spark", *model).stdout
    assert "569 rows scored" in said and "Parquet dataset, by Spark" in said
    score(project, raw, tmp_path / "sample.parquet", *model)
    assert_same_scores(pd.read_parquet(tmp_path / "sample_spark"),
                       pd.read_parquet(tmp_path / "sample.parquet"))  # fmt: skip

    # The cluster entry point, spark-submit, here on local[2]: the same scores.
    env = {**ENV, "MASTER": "local[2]"}
    submitted = run(["deploy/spark/submit.sh", str(raw), str(tmp_path / "submitted"),
                     "models/candidate"], project, env=env)  # fmt: skip
    assert "569 rows scored" in submitted.stdout
    assert_same_scores(pd.read_parquet(tmp_path / "submitted"),
                       pd.read_parquet(tmp_path / "sample.parquet"))  # fmt: skip

    # 200,000 generated rows, split in 4 input partitions that keep the file's order.
    big = synthesized(project, 200_000, tmp_path / "big.parquet")
    spark_score(project, big, tmp_path / "big_spark", *model, "--partitions", "4")
    parts = sorted((tmp_path / "big_spark").glob("part-*.parquet"))
    assert len(parts) >= 2, parts
    score(project, big, tmp_path / "big.out.parquet", *model)
    assert_same_scores(pd.read_parquet(tmp_path / "big_spark"),
                       pd.read_parquet(tmp_path / "big.out.parquet"))  # fmt: skip

    # A bad row deep in the file: refused with its column, rule and row in the input, and
    # the previous output is left whole.
    frame = pd.read_parquet(big)
    frame.loc[150_000, "mean_radius"] = -1.0
    frame.to_parquet(tmp_path / "bad.parquet", index=False)
    before = sorted(p.name for p in (tmp_path / "big_spark").iterdir())
    refused = spark_score(project, tmp_path / "bad.parquet", tmp_path / "big_spark", *model,
                          "--partitions", "4", check=False)  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert "column 'mean_radius' fails rule in_range(0.0, 50.0)" in refused.stderr
    assert "rows 150001 (values -1.0)" in refused.stderr  # row 1 is the first data row
    assert "Nothing was written." in refused.stderr and "Traceback" not in refused.stderr
    assert sorted(p.name for p in (tmp_path / "big_spark").iterdir()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".big_spark")]
    refused = spark_score(project, tmp_path / "bad.parquet", tmp_path / "new", *model,
                          check=False)  # fmt: skip
    assert refused.returncode == 1 and not (tmp_path / "new").exists()

    # Without Java: the package to install, not a Py4J traceback.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "JAVA_HOME": ""}
    venv = project / ".venv/bin"
    command = [str(venv / slug(project)), "score", str(raw), str(tmp_path / "x"),
               "--engine", "spark", *model]  # fmt: skip
    lost = run(command, project, check=False, env=env)
    assert lost.returncode == 1 and "openjdk-17-jre-headless" in lost.stderr, lost.stderr
    assert "Traceback" not in lost.stderr and "Py4J" not in lost.stderr


# Penguin-like data (text categories, gaps, three classes) on Spark, with derived features
# computed in the workers: tests/test_derived_features.py.
