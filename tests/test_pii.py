"""Personal data in a baked project, end to end: `adopt-data` flags it, the pipeline runs,
the API is served over HTTP with PII_HASH_KEY set and sent requests carrying it, `monitor`
and `report` run; then no raw value is anywhere in the log, report or package folders,
and the log's hashes are the HMAC of the values sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ENV, bake, run, running_api

pytestmark = pytest.mark.slow

KEY = "rotate-me-0123456789"
PII = ("email", "phone", "customer_name")
FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Greta", "Hugo"]
LAST = ["Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka", "Urban"]


def customers(rows: int = 400, seed: int = 11) -> pd.DataFrame:
    """Churn from tenure, charges and plan; an e-mail, a phone and a name beside them. The
    names take at most 64 values, so that without the pii rule they would be a category."""
    rng = np.random.default_rng(seed)
    first, last = rng.choice(FIRST, rows), rng.choice(LAST, rows)
    tenure = rng.uniform(1, 72, rows).round(0)
    charges = rng.uniform(20, 120, rows).round(2)
    plan = rng.choice(["basic", "plus", "premium"], rows)
    score = 2.5 - tenure / 15 + charges / 40 - (plan == "premium") * 1.5
    churned = np.where(score + rng.normal(0, 0.6, rows) > 0, "yes", "no")
    names = list(zip(first, last, strict=True))
    return pd.DataFrame(
        {
            "customer_id": np.arange(5001, 5001 + rows),
            "email": [f"{f}.{s}{n}@example.com".lower() for n, (f, s) in enumerate(names)],
            "phone": [f"+44 7700 9{n:05d}" for n in range(rows)],
            "customer_name": [f"{f} {s}" for f, s in names],
            "tenure_months": tenure,
            "monthly_charges": charges,
            "plan": plan,
            "churned": churned,
        }
    )


def post(url: str, body) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{url}/predict", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def files_holding(folders: list[Path], values: list[str]) -> dict[str, list[str]]:
    """Each raw value found, with the files (every file, recursively) that hold it."""
    found: dict[str, list[str]] = {}
    for folder in folders:
        for path in (p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            for value in values:
                if value.encode() in data:
                    found.setdefault(value, []).append(str(path))
    return found


def test_personal_data_is_flagged_and_never_written_raw(cookies, tmp_path):
    project = bake(cookies, project_name="Customer Churn")
    data = tmp_path / "customers.csv"
    frame = customers()
    frame.to_csv(data, index=False)

    adopted = run(["make", "adopt-data", f"DATA={data}", "TARGET=churned"], project).stdout
    config = yaml.safe_load((project / "conf/data/customers.yaml").read_text())
    for name in PII:
        assert config["columns"][name] == {"role": "identifier", "pii": True}, adopted
    assert "pii: 100% of values look like e-mail addresses; not a feature" in adopted
    assert "pii: 100% of values look like phone numbers; not a feature" in adopted
    # A name alone is not enough: its values confirm it.
    assert (
        "the name 'customer_name' suggests a person's name, and 16 of its 64 distinct values "
        "are each held by fewer than 5 rows, so they can single out a person; not a feature"
    ) in adopted
    features = [n for n, r in config["columns"].items() if r["role"] in ("numeric", "categorical")]
    assert features == ["tenure_months", "monthly_charges", "plan"]

    run(["make", "pipeline"], project)
    run(["make", "commit-run"], project)
    run(["make", "promote"], project)

    sent = frame.head(150)
    records = sent.drop(columns="churned").to_dict("records")
    with running_api(project, env=ENV | {"PII_HASH_KEY": KEY}) as url:
        for start in range(0, len(records), 30):
            status, body = post(url, records[start : start + 30])
            assert status == 200, body
        # Refused requests: the pii values in them come back masked.
        status, body = post(url, records[0] | {"plan": "gold"})
        assert status == 422 and records[0]["email"] not in body, body
        status, body = post(url, {k: v for k, v in records[1].items() if k != "plan"})
        assert status == 422 and '"email":"***"' in body.replace(" ", ""), body
        assert records[1]["phone"] not in body and records[1]["customer_name"] not in body

    run(["make", "monitor"], project)
    run(["make", "report"], project)
    assert (project / "reports/monitoring/drift.html").is_file()
    assert (project / "reports/business/index.html").is_file()

    raw = sorted({str(value) for name in PII for value in sent[name]})
    folders = [project / "logs", project / "reports", project / "models"]
    assert files_holding(folders, raw) == {}
    assert set(files_holding([project / "data/raw"], raw)) == set(raw)  # the search finds them

    logged = [json.loads(line) for line in (project / "logs/predictions.jsonl").open()]
    assert len(logged) == len(records)
    key = KEY.encode()
    for event, record in zip(logged, records, strict=True):
        assert event["ids"] == {
            "customer_id": record["customer_id"],
            **{
                name: hmac.new(key, record[name].encode(), hashlib.sha256).hexdigest()
                for name in PII
            },
        }
        assert set(event["inputs"]) == set(features)
    summary = json.loads((project / "reports/monitoring/drift.json").read_text())
    assert set(summary["columns"]) == set(features) and summary["rows"] == len(records)
