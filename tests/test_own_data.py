"""A user's own data in a baked project, with no file edited by hand: `adopt-data`, then the
pipeline, the project's tests, the API, batch scoring and promotion.

The data sets are made here by seeded generators (no download): a three-class target with
text categories and missing values, a regression target in a Parquet file, and a wide, small
customer table with rare classes and personal columns of its own.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import bake, run, running_api

pytestmark = pytest.mark.slow


def penguins(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    """Three species told apart by bill, mass and island; sex and bill have gaps."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows)
    island = np.where(species == "Gentoo", "Biscoe", rng.choice(["Dream", "Torgersen"], rows))
    bill = np.select([species == "Adelie", species == "Chinstrap"], [38.8, 48.8], 47.5)
    mass = np.select([species == "Gentoo"], [5076.0], 3700.0)
    frame = pd.DataFrame(
        {
            "penguin_id": np.arange(1, rows + 1),
            "island": island,
            "bill_length_mm": (bill + rng.normal(0, 2.5, rows)).round(1),
            "body_mass_g": (mass + rng.normal(0, 400, rows)).round(0),
            "sex": rng.choice(["female", "male"], rows).astype(object),
            "species": species,
        }
    )
    frame.loc[rng.random(rows) < 0.08, "sex"] = None
    frame.loc[rng.random(rows) < 0.05, "bill_length_mm"] = np.nan
    return frame


def houses(rows: int = 500, seed: int = 5) -> pd.DataFrame:
    """Sale prices from area, rooms (with gaps), a district and a condition (with gaps)."""
    rng = np.random.default_rng(seed)
    district = rng.choice(["north", "centre", "south", "harbour"], rows)
    condition = rng.choice(["poor", "fair", "good"], rows).astype(object)
    area = rng.uniform(35, 220, rows).round(1)
    rooms = np.clip((area / 30 + rng.normal(0, 0.7, rows)).round(), 1, None)
    premium = pd.Series(district).map({"north": 0, "centre": 900, "south": 200, "harbour": 600})
    price = 1200 * area + premium.to_numpy() * area / 10 + rng.normal(0, 9000, rows)
    frame = pd.DataFrame(
        {
            "listing": [f"L-{i:05d}" for i in range(rows)],
            "area_m2": area,
            "rooms": rooms,
            "district": district,
            "condition": condition,
            "price": price.round(0),
        }
    )
    frame.loc[rng.random(rows) < 0.06, "rooms"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "condition"] = None
    return frame


def customers(rows: int = 300, seed: int = 11) -> pd.DataFrame:
    """A wide, small customer table: a five-class target of which two classes hold 15 rows
    each; a name, an e-mail, a date as text and a free-text note; three categories (one with
    gaps) and 110 measurements (four with gaps), the first dozen telling the classes apart."""
    rng = np.random.default_rng(seed)
    sizes = {"bronze": 110, "silver": 90, "gold": 70, "platinum": 15, "diamond": 15}
    segment = rng.permutation(np.repeat(list(sizes), list(sizes.values())))[:rows]
    level = pd.Series(segment).map({name: n for n, name in enumerate(sizes)}).to_numpy()
    first = rng.choice(["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances"], rows)
    last = rng.choice(["Lovelace", "Turing", "Hopper", "Liskov", "Knuth", "Allen"], rows)
    names = [f"{a} {b}" for a, b in zip(first, last, strict=True)]
    frame = pd.DataFrame(
        {
            "Name": names,
            "email": [f"{n.lower().replace(' ', '.')}{i}@example.com" for i, n in enumerate(names)],
            "signup_date": pd.date_range("2021-01-01", periods=rows).strftime("%Y-%m-%d"),
            "note": [f"called about invoice {n}" for n in rng.integers(1000, 99999, rows)],
            "plan": rng.choice(["basic", "plus", "pro"], rows),
            "region": rng.choice(["north", "south", "east", "west"], rows).astype(object),
            "channel": rng.choice(["web", "store", "phone"], rows),
        }
    )
    measures = {
        f"m{i:03d}": rng.normal(0.6 * level * (i < 12), 1.0, rows).round(3) for i in range(110)
    }
    frame = pd.concat([frame, pd.DataFrame(measures)], axis=1)
    for column in ("m000", "m005", "m050", "m099"):
        frame.loc[rng.random(rows) < 0.07, column] = np.nan
    frame.loc[rng.random(rows) < 0.05, "region"] = None
    frame["segment"] = segment
    return frame


def post(url: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def state(project: Path) -> tuple[str, dict[str, bytes]]:
    """What a refusal must not change: git's view (untracked files included) and the bytes
    of everything adoption writes to: data/raw, conf/ and params.yaml."""
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout
    written = [*(project / "data/raw").iterdir(), *(project / "conf").rglob("*.yaml")]
    files = {
        str(p.relative_to(project)): p.read_bytes()
        for p in [*written, project / "params.yaml"]
        if p.is_file()
    }
    return status, files


def adopt(project: Path, data: Path, target: str, *extra: str) -> subprocess.CompletedProcess:
    return run(["make", "adopt-data", f"DATA={data}", f"TARGET={target}", *extra], project)


def test_a_multiclass_file_with_text_and_gaps_runs_every_stage(cookies, tmp_path):
    project = bake(cookies, project_name="Penguin Species")
    data = tmp_path / "penguins.csv"
    penguins().to_csv(data)  # with pandas' row numbers, as `to_csv` writes by default

    adopted = adopt(project, data, "species", "ID=penguin_id").stdout
    assert "target 'species': classification (3 classes)" in adopted
    assert "identifier: 400 distinct consecutive integers (0 to 399), a row number" in adopted
    assert "island" in adopted and "categorical: 3 values" in adopted
    config = (project / "conf/data/penguins.yaml").read_text()
    assert "role: categorical" in config and "nullable: true" in config
    # What adoption wrote, staged as the user commits it, passes every hook.
    run(["git", "add", "conf", "params.yaml", "data"], project)
    run(["make", "lint"], project)

    run(["make", "pipeline"], project)
    metrics = json.loads((project / "reports/evaluation/metrics.json").read_text())
    assert metrics["accuracy"] > 0.8 and "roc_auc" in metrics and "log_loss" in metrics
    assert (project / "reports/evaluation/plots/sklearn/confusion_matrix.json").exists()
    lineage = json.loads((project / "models/candidate/lineage.json").read_text())
    assert lineage["onnx"]["verified"] is True

    # The project's tests on adopted multiclass data with text and gaps run in
    # test_a_wide_small_table_with_rare_classes_and_its_own_pii_passes_the_project_tests.

    record = {
        "island": "Dream", "bill_length_mm": None, "body_mass_g": 3650.0, "sex": "female",
    }  # fmt: skip
    with running_api(project, "--model", "models/candidate") as url:
        assert get(f"{url}/metadata")["engine"] == "onnxruntime"
        status, body = post(f"{url}/predict", record)
        assert status == 200, body
        [prediction] = body["predictions"]
        assert prediction["prediction"] in ("Adelie", "Chinstrap", "Gentoo")
        assert set(prediction["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}
        status, error = post(f"{url}/predict", record | {"island": "Atlantis"})
        assert status == 422
        [detail] = error["detail"]
        assert detail["loc"][-1] == "island" and "'Biscoe'" in detail["msg"]

    scored = tmp_path / "scored.csv"
    cli = ["uv", "run", "--frozen", project.name, "score", "--model", "models/candidate"]
    run([*cli, str(data), str(scored)], project)
    out = pd.read_csv(scored)
    assert len(out) == 400 and out["penguin_id"].tolist() == list(range(1, 401))
    assert (out["prediction"] == out["species"]).mean() > 0.8
    assert {"probability_Adelie", "probability_Chinstrap", "probability_Gentoo"} <= set(out)

    run(["make", "commit-run"], project)
    promoted = run(["make", "promote"], project).stdout
    assert "promoted v0.0.1 to production" in promoted

    # ONNX that disagrees with scikit-learn (a tolerance of zero makes float32 rounding a
    # disagreement): the package ships without it, says why, and scikit-learn serves it.
    run(["uv", "run", "--frozen", project.name, "params", "package.onnx_tolerance=0"], project)
    repro = run(["uv", "run", "--frozen", "dvc", "repro"], project)
    assert "scikit-learn will serve the model" in repro.stdout + repro.stderr
    assert "beyond the tolerance 0" in repro.stdout + repro.stderr
    assert not (project / "models/candidate/model.onnx").exists()
    with running_api(project, "--model", "models/candidate") as url:
        assert get(f"{url}/metadata")["engine"] == "scikit-learn"
        status, body = post(f"{url}/predict", record)
        assert status == 200 and body["predictions"][0]["prediction"] == prediction["prediction"]


def test_a_regression_file_in_parquet_runs_every_stage(cookies, tmp_path):
    project = bake(cookies, project_name="House Prices", task="regression")
    data = tmp_path / "houses.parquet"
    houses().to_parquet(data, index=False)

    adopted = adopt(project, data, "price").stdout
    assert "target 'price': regression" in adopted
    assert "listing" in adopted and "identifier: every value distinct" in adopted

    run(["make", "pipeline"], project)
    metrics = json.loads((project / "reports/evaluation/metrics.json").read_text())
    assert metrics["r2"] > 0.8 and {"rmse", "mae"} <= set(metrics)
    plots = project / "reports/evaluation/plots/custom"
    assert (plots / "predicted_vs_actual.json").exists() and (plots / "residuals.json").exists()

    tests = run(["make", "test"], project).stdout
    assert " passed" in tests and "failed" not in tests

    record = {"area_m2": 80.0, "rooms": None, "district": "harbour", "condition": None}
    with running_api(project, "--model", "models/candidate") as url:
        status, body = post(f"{url}/predict", record)
        assert status == 200, body
        assert 50_000 < body["predictions"][0]["prediction"] < 200_000

    scored = tmp_path / "scored.parquet"
    cli = ["uv", "run", "--frozen", project.name, "score", "--model", "models/candidate"]
    run([*cli, str(data), str(scored)], project)
    out = pd.read_parquet(scored)
    assert len(out) == 500 and list(out.columns) == [*houses().columns, "prediction"]

    run(["make", "commit-run"], project)
    assert "promoted v0.0.1 to production" in run(["make", "promote"], project).stdout


def test_a_wide_small_table_with_rare_classes_and_its_own_pii_passes_the_project_tests(
    cookies, tmp_path
):
    """The shapes real tables have, together in one table (one bake: CI time is a budget):
    118 columns, 300 rows, two classes of 15 rows, a name and an e-mail, gaps, and pandas'
    row numbers. Adopted with no edit, the pipeline runs and so does every project test."""
    project = bake(cookies, project_name="Customer Segments")
    data = tmp_path / "customers.csv"
    customers().to_csv(data)  # pandas writes the row numbers as a first, unnamed column

    adopted = adopt(project, data, "segment").stdout
    assert "target 'segment': classification (5 classes)" in adopted
    columns = yaml.safe_load((project / "conf/data/customers.yaml").read_text())["columns"]
    assert columns["Name"]["pii"] is True and columns["email"]["pii"] is True
    assert columns["Unnamed: 0"]["role"] == "identifier"  # a row number, not a feature
    assert sum(rules["role"] == "numeric" for rules in columns.values()) == 110

    run(["make", "pipeline"], project)
    metrics = json.loads((project / "reports/evaluation/metrics.json").read_text())
    assert metrics["accuracy"] > metrics["baseline"]["accuracy"]
    tests = run(["make", "test"], project).stdout
    assert " passed" in tests and "failed" not in tests


def test_adoption_refusals_are_clear_and_change_nothing(cookies, tmp_path):
    project = bake(cookies, project_name="Refusal Check", task="regression")
    run(["make", "pipeline"], project)
    good = houses(rows=60)
    files = {
        "no-target.csv": good.drop(columns="price"),
        "one-value.csv": good.assign(price=1.0),
        "text-target.csv": good.assign(price=good["district"]),
        "many-classes.csv": good,
    }
    for name, frame in files.items():
        frame.to_csv(tmp_path / name, index=False)
    (tmp_path / "broken.csv").write_bytes(b"\xff\xfe\x00\x01 not text")
    tracked = project / "data/raw/diabetes.csv"
    cases = [
        ("no-target.csv", [], "target column 'price' is not in the file"),
        ("one-value.csv", [], "has a single value"),
        ("text-target.csv", [], "is not numeric"),
        ("many-classes.csv", ["TASK=classification"], "more than 50 classes"),
        ("broken.csv", [], "not a readable CSV file"),
        (str(tracked), ["NAME=second_copy"], "already tracked as data/raw/diabetes.csv"),
    ]
    before = state(project)
    for source, extra, message in cases:
        path = source if source.startswith("/") else tmp_path / source
        target = "progression" if source == str(tracked) else "price"
        done = run(
            ["make", "adopt-data", f"DATA={path}", f"TARGET={target}", *extra],
            project,
            check=False,
        )
        assert done.returncode != 0, source
        assert message in done.stderr, (source, done.stderr)
        assert "Traceback" not in done.stderr, source
        assert state(project) == before, source
