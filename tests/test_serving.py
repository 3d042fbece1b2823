"""The deploy path of a baked project, for real: its pipeline's package, the API over HTTP
(uvicorn on 127.0.0.1, fuzzed by schemathesis), refusal of bad models, and batch scoring."""

from __future__ import annotations

import collections
import csv
import hashlib
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ENV, free_port, run, running_api, serve_command

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
FUZZ_CASES = 1000


# Two keys at once, as during a rotation; written here, not read from the project.
KEYS = ("first-key-0123456789abcdef", "second-key-fedcba9876543210")
AUTH = {"Authorization": f"Bearer {KEYS[0]}"}


def http(method: str, url: str, body=None, headers=AUTH) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def api(default_project, tmp_path_factory):
    """The project's API started by its own CLI with two API keys, the prediction log in a
    scratch dir; yields its URL, the log and the server's own output."""
    scratch = tmp_path_factory.mktemp("serve")
    log, output = scratch / "predictions.jsonl", scratch / "server.log"
    env = ENV | {"PREDICTION_LOG": str(log), "API_KEYS": ",".join(KEYS), "LOG_FORMAT": "json"}
    args = ["--model", "models/candidate", "--workers", "2"]
    with running_api(default_project, *args, env=env, output_path=output) as url:
        yield url, log, output


def test_pipeline_packages_the_model_with_its_lineage(default_project):
    package = default_project / "models/candidate"
    lineage = json.loads((package / "lineage.json").read_text())
    model_sha = hashlib.sha256((package / "model.joblib").read_bytes()).hexdigest()
    assert lineage["checksum"] == model_sha
    pointer = yaml.safe_load((default_project / "data/raw/breast_cancer.csv.dvc").read_text())
    assert lineage["data"]["md5"] == pointer["outs"][0]["md5"]
    head = run(["git", "rev-parse", "--short=12", "HEAD"], default_project).stdout.strip()
    assert lineage["git_sha"] == head
    metrics = json.loads((default_project / "reports/evaluation/metrics.json").read_text())
    assert lineage["metrics"] == metrics
    params = yaml.safe_load((default_project / "params.yaml").read_text())
    assert lineage["params"] == params
    assert {"python", "scikit-learn", "pandas", "numpy"} <= set(lineage["libraries"])


def test_api_serves_the_package_over_http(api, default_project):
    url, log, _ = api
    lineage = json.loads((default_project / "models/candidate/lineage.json").read_text())
    version = lineage["checksum"][:12]
    assert http("GET", f"{url}/health") == (200, {"status": "ok", "model_version": version})
    status, metadata = http("GET", f"{url}/metadata")
    assert status == 200 and metadata["checksum"] == lineage["checksum"]
    assert metadata["metrics"] == lineage["metrics"]

    schema = http("GET", f"{url}/openapi.json")[1]
    example = schema["components"]["schemas"]["Record"]["examples"][0]
    status, one = http("POST", f"{url}/predict", example)
    assert status == 200 and len(one["predictions"]) == 1
    status, many = http("POST", f"{url}/predict", [example] * 3)
    assert status == 200 and many["predictions"] == one["predictions"] * 3
    status, error = http("POST", f"{url}/predict", example | {"mean_radius": 1e6})
    assert status == 422
    rules = [(e["loc"][-1], e["type"]) for e in error["detail"]]
    assert rules == [("mean_radius", "less_than_equal")]

    events = [json.loads(line) for line in log.read_text().splitlines()]
    mine = [e for e in events if e["request_id"] in (one["request_id"], many["request_id"])]
    assert len(mine) == 4
    assert all(e["inputs"] == example and e["model_version"] == one["model_version"] for e in mine)


def scrape(url: str) -> dict[tuple, float]:
    """GET /metrics over HTTP, parsed by Prometheus' own text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_add_up_every_workers_requests(default_project, tmp_path):
    """Two uvicorn workers answer; every scrape, whichever worker answers it, counts the
    requests of both (prometheus-client's multiprocess mode, set up by `serve`)."""
    env = ENV | {"PREDICTION_LOG": str(tmp_path / "predictions.jsonl")}
    args = ["--model", "models/candidate", "--workers", "2"]
    with running_api(default_project, *args, env=env) as url:
        schema = http("GET", f"{url}/openapi.json")[1]
        example = schema["components"]["schemas"]["Record"]["examples"][0]
        version = http("GET", f"{url}/health")[1]["model_version"]
        for _ in range(30):
            assert http("POST", f"{url}/predict", example)[0] == 200
        for _ in range(5):
            assert http("POST", f"{url}/predict", [example] * 3)[0] == 200
        for _ in range(4):
            assert http("POST", f"{url}/predict", example | {"mean_radius": 1e6})[0] == 422
        label = ("model_version", version)
        for _ in range(10):
            found = scrape(url)
            assert found[("predict_requests_total", (label, ("status", "200")))] == 35
            assert found[("predict_requests_total", (label, ("status", "422")))] == 4
            assert found[("predict_latency_seconds_count", (label,))] == 39
            predicted = sum(value for (name, _), value in found.items()
                            if name == "predictions_total")  # fmt: skip
            assert predicted == 45
            assert found[("model_info", (label,))] == 1


def test_api_keys_are_needed_over_http_and_never_logged(api):
    url, log, output = api
    example = http("GET", f"{url}/openapi.json")[1]["components"]["schemas"]["Record"]
    record = example["examples"][0]
    assert http("GET", f"{url}/health", headers={})[0] == 200
    for headers in ({}, {"Authorization": "Bearer wrong-key-0000000000000"}):
        assert http("POST", f"{url}/predict", record, headers=headers)[0] == 401
        assert http("GET", f"{url}/metadata", headers=headers)[0] == 401
    for headers in ({"Authorization": f"Bearer {KEYS[0]}"}, {"X-API-Key": KEYS[1]}):
        status, answer = http("POST", f"{url}/predict", record, headers=headers)
        assert status == 200 and len(answer["predictions"]) == 1
    server_output = output.read_text()
    assert '"API keys required"' in server_output and '"keys": 2' in server_output
    for line in log.read_text().splitlines() + server_output.splitlines():
        assert KEYS[0] not in line and KEYS[1] not in line and "wrong-key" not in line


def test_schemathesis_finds_no_server_error(api, tmp_path):
    url, _, _ = api
    report = tmp_path / "events.ndjson"
    done = subprocess.run(
        [
            str(SCHEMATHESIS), "run", f"{url}/openapi.json", "--header", f"X-API-Key: {KEYS[1]}",
            "--checks", "not_a_server_error,status_code_conformance,"
            "content_type_conformance,response_schema_conformance",
            "--max-examples", str(FUZZ_CASES), "--seed", "0", "--no-color",
            "--report", "ndjson", "--report-ndjson-path", str(report),
        ],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    statuses = collections.Counter()
    for line in report.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if event and event["recorder"]["label"] == "POST /predict":
            for interaction in event["recorder"]["interactions"].values():
                statuses[interaction["response"]["status_code"]] += 1
    assert sum(statuses.values()) >= FUZZ_CASES, statuses
    assert statuses[200] > 0 and statuses[422] > 0, statuses
    assert not [code for code in statuses if code >= 500], statuses


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_serve_refuses_a_bad_model_with_a_clear_message(default_project, tmp_path, damage):
    package = Path(shutil.copytree(default_project / "models/candidate", tmp_path / "package"))
    if damage == "corrupt":
        (package / "model.joblib").write_bytes(b"\x80\x04 not a model")
        expected = "does not match the checksum"
    else:
        shutil.rmtree(package)
        expected = "not found"
    command = serve_command(default_project, "--model", str(package), "--port", str(free_port()))
    done = run(command, default_project, check=False, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stderr and "make pipeline" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_score_streams_a_file_and_reports_bad_rows(default_project, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    shutil.copyfile(default_project / "data/raw/breast_cancer.csv", source)
    rows = list(csv.DictReader(source.open()))
    cli = ["uv", "run", "--frozen", default_project.name, "score", "--model", "models/candidate"]
    run([*cli, str(source), str(target), "--chunk-size", "50"], default_project)
    scored = list(csv.DictReader(target.open()))
    assert len(scored) == len(rows) == 569
    assert list(scored[0]) == [*rows[0], "prediction", "probability_0", "probability_1"]
    assert all(0 <= float(row["probability_1"]) <= 1 for row in scored)
    # Accuracy on held-out rows only: the test split, which training never saw.
    held_out = default_project / "data/processed/test.parquet"
    run([*cli, str(held_out), str(tmp_path / "held_out.parquet")], default_project)
    test_rows = pd.read_parquet(tmp_path / "held_out.parquet")
    assert len(test_rows) == len(pd.read_parquet(held_out)) > 100
    assert (test_rows["prediction"] == test_rows["malignant"]).mean() > 0.9

    before = target.read_bytes()
    rows[120]["mean_area"] = "-5.0"
    with source.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    done = run([*cli, str(source), str(target), "--chunk-size", "50"], default_project, check=False)
    assert done.returncode == 1
    assert "'mean_area'" in done.stderr and "rows 121 " in done.stderr
    assert "Traceback" not in done.stderr
    assert target.read_bytes() == before
