"""A user's first edit, as a user makes it: a ratio and the month of a date, added to adopted
penguin-like data (text categories, gaps, three classes) in conf/data and the project's
features.py. The whole chain then runs on them: the pipeline, the project's tests, the API
over HTTP (one record and many), `score`, `score --engine spark`, `monitor`, the
exploration notebook and a module exported from it, and the package it serves, with ONNX
verified and serving."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import bake, run, running_api
from test_monitoring import monitor, serve_and_send
from test_own_data import adopt, get, penguins, post
from test_spark_engine import assert_same_scores, java, score, spark_score  # noqa: F401

pytestmark = pytest.mark.slow

DERIVED = {
    "bill_ratio": {
        "role": "numeric", "derived": True, "from": ["bill_length_mm", "bill_depth_mm"],
        "min": 1.0, "max": 4.0, "nullable": True,
        "description": "Bill length over bill depth",
    },
    "observed_month": {
        "role": "numeric", "derived": True, "from": ["observed_on"], "min": 1, "max": 12,
        "nullable": True, "description": "The month of the sighting",
    },
}  # fmt: skip
# The function a user writes in src/<package>/features.py (below its docstring).
DERIVE = textwrap.dedent(
    '''
    import numpy as np


    def derive(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The bill's shape, and the month of the sighting."""
        month = columns["observed_on"].astype("datetime64[M]")  # None: NaT
        return {
            "bill_ratio": columns["bill_length_mm"] / columns["bill_depth_mm"],
            "observed_month": np.where(np.isnat(month), np.nan, month.astype("int64") % 12 + 1),
        }
    '''
)


def sightings(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    """`penguins` with each bill's depth (the species tell apart by length over depth) and
    the date of the sighting, as text, with gaps."""
    rng = np.random.default_rng(seed + 1)
    frame = penguins(rows, seed)
    depth = frame["species"].map({"Adelie": 18.4, "Chinstrap": 18.4, "Gentoo": 15.0})
    frame.insert(3, "bill_depth_mm", (depth + rng.normal(0, 0.6, rows)).round(1))
    dates = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 730, rows), unit="D")
    frame.insert(4, "observed_on", pd.Series(dates.strftime("%Y-%m-%d"), dtype=object))
    frame.loc[rng.random(rows) < 0.04, "observed_on"] = None
    return frame


def test_a_ratio_and_a_date_part_run_through_every_path(cookies, tmp_path):
    project = bake(cookies, project_name="Penguin Sightings")
    data = tmp_path / "sightings.csv"
    sightings().to_csv(data, index=False)
    adopt(project, data, "species", "ID=penguin_id")

    # The user's edit: two derived columns in the data config, and `derive` to compute them.
    config_file = project / "conf/data/sightings.yaml"
    config = yaml.safe_load(config_file.read_text())
    bounds = dict(config["columns"])
    assert config["columns"]["observed_on"]["role"] in ("ignored", "identifier")
    config["columns"]["observed_on"]["example"] = "2022-06-15"
    config["columns"] |= DERIVED
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    features = project / "src/penguin_sightings/features.py"
    docstring = features.read_text().split('"""')[1]
    features.write_text(f'"""{docstring}"""\n{DERIVE}')

    run(["make", "pipeline"], project)
    test_split = pd.read_parquet(project / "data/processed/test.parquet")
    assert {"bill_ratio", "observed_month"} <= set(test_split.columns)
    lineage = json.loads((project / "models/candidate/lineage.json").read_text())
    assert lineage["onnx"]["verified"] is True, lineage["onnx"]
    assert (project / "models/candidate/features.py").read_text() == features.read_text()
    assert lineage["metrics"]["accuracy"] > 0.9

    tests = run(["make", "test"], project).stdout
    assert " passed" in tests and "failed" not in tests
    # The exploration notebook and the modules `make module` exports see the derived columns.
    run(["make", "notebooks"], project)
    executed = (project / "reports/notebooks/01-exploration.ipynb").read_text()
    assert "bill_ratio" in executed and "observed_month" in executed
    run(["make", "module", "NB=notebooks/01-exploration.ipynb", "NAME=summary"], project)
    exported = run(["uv", "run", "--frozen", "pytest", "tests/test_summary.py"], project)
    assert " passed" in exported.stdout and "failed" not in exported.stdout

    raw = pd.read_csv(data)
    scored_file = tmp_path / "scored.csv"
    score(project, data, scored_file, "--model", "models/candidate")
    scored = pd.read_csv(scored_file)
    assert (scored["prediction"] == scored["species"]).mean() > 0.9

    with running_api(project, "--model", "models/candidate") as url:
        assert get(f"{url}/metadata")["engine"] == "onnxruntime"
        schema = get(f"{url}/openapi.json")["components"]["schemas"]["Record"]
        assert "observed_on" in schema["required"] and "bill_depth_mm" in schema["required"]
        assert not set(DERIVED) & set(schema["properties"])
        inputs = raw[list(schema["properties"])].astype(object)
        rows = inputs.where(inputs.notna(), None).to_dict("records")
        # One record at a time, and every row in one request: the predictions `score` made.
        for row, expected in zip(rows[:10], scored["prediction"], strict=False):
            status, body = post(f"{url}/predict", row)
            assert status == 200 and body["predictions"][0]["prediction"] == expected, body
        status, body = post(f"{url}/predict", rows)
        assert status == 200, body
        assert [p["prediction"] for p in body["predictions"]] == scored["prediction"].tolist()
        # Raw inputs within their rules whose ratio is beyond its rule: refused, by name.
        longest, shallowest = bounds["bill_length_mm"]["max"], bounds["bill_depth_mm"]["min"]
        assert longest / shallowest > 4.0
        extreme = rows[0] | {"bill_length_mm": longest, "bill_depth_mm": shallowest}
        status, body = post(f"{url}/predict", extreme)
        assert status == 422, body
        assert "'bill_ratio' fails rule less_than_or_equal_to(4)" in body["detail"]

    run(["uv", "sync", "--frozen", "--group", "spark"], project)
    spark_score(project, data, tmp_path / "spark", "--model", "models/candidate")
    spark = pd.read_parquet(tmp_path / "spark")
    score(project, data, tmp_path / "pandas.parquet", "--model", "models/candidate")
    pandas = pd.read_parquet(tmp_path / "pandas.parquet")
    assert_same_scores(spark, pandas)
    assert spark["sex"].isna().sum() == pandas["sex"].isna().sum() > 0

    # Drift is measured on the derived features too: traffic of Gentoo alone moves the ratio.
    log, out = tmp_path / "gentoo.jsonl", tmp_path / "monitoring"
    gentoo = raw[raw["species"] == "Gentoo"].astype(object)
    serve_and_send(project, log, gentoo.where(gentoo.notna(), None))
    monitor(project, log, out)
    summary = json.loads((out / "drift.json").read_text())
    assert {"bill_ratio", "observed_month"} <= set(summary["columns"])
    assert summary["columns"]["bill_ratio"]["drifted"] is True
    logged = [json.loads(line)["inputs"] for line in log.read_text().splitlines()]
    assert all("observed_on" not in inputs for inputs in logged)
    assert 3 < pd.Series([inputs["bill_ratio"] for inputs in logged]).median() < 3.4
