"""Monitoring a baked project for real: predictions sent over HTTP to uvicorn, then
`monitor` on the log they left, its summary, its exit codes and its page in Chromium."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ENV, missing_tool, run, running_api
from test_offline_pages import CHROMIUM, evaluate_offline

pytestmark = pytest.mark.slow

DRIFT_EXIT = 3
# What the page shows, and every resource it would load from elsewhere (links excluded:
# a link to a web site is not something the page needs to render).
INSPECT = """(async () => {
  await new Promise((done) => setTimeout(done, 1500));  // the report renders after load
  const loads = [...document.querySelectorAll("script[src], link[href], img[src], iframe[src]")]
    .filter((element) => element.tagName !== "LINK" || element.rel !== "canonical")
    .map((element) => element.getAttribute("src") || element.getAttribute("href"));
  const styles = [...document.querySelectorAll("style")].map((style) => style.textContent);
  return {
    remote: loads.filter((url) => /^(https?:)?\\/\\//i.test(url)),
    remote_css: styles.filter((css) => /(@import|url\\()\\s*["']?(https?:)?\\/\\//i.test(css)),
    headings: [...document.querySelectorAll("h1, h2, h3, h4, h5")].map((h) => h.textContent),
    plots: document.querySelectorAll(".js-plotly-plot").length,
  };
})()"""


def send(url: str, rows: list[dict]) -> None:
    for start in range(0, len(rows), 10):
        body = json.dumps(rows[start : start + 10]).encode()
        request = urllib.request.Request(
            f"{url}/predict", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200


def serve_and_send(project: Path, log: Path, rows: pd.DataFrame) -> None:
    """The candidate behind uvicorn; `rows` sent as a client would, 10 records a request."""
    env = ENV | {"PREDICTION_LOG": str(log)}
    with running_api(project, "--model", "models/candidate", env=env) as url:
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as response:
            fields = list(json.load(response)["components"]["schemas"]["Record"]["properties"])
        send(url, rows[fields].to_dict("records"))


def monitor(project: Path, log: Path, out: Path, *extra: str, check: bool = True):
    args = ["--log", str(log), "--out", str(out), "--model", "models/candidate", *extra]
    slug = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    command = ["uv", "run", "--frozen", slug["project_slug"], "monitor", *args]
    return run(command, project, check=check)


def test_monitor_tells_production_traffic_from_a_shifted_population(default_project, tmp_path):
    project = default_project
    drift_share = yaml.safe_load((project / "params.yaml").read_text())["monitoring"]
    drift_share = drift_share["drift_share"]

    # Production traffic like the training data: the test split, each record once.
    usual_log, usual = tmp_path / "usual.jsonl", tmp_path / "usual"
    serve_and_send(project, usual_log, pd.read_parquet(project / "data/processed/test.parquet"))
    # Two lines a crash or another writer left: cut off, and not JSON at all.
    with usual_log.open("a") as log:
        log.write('{"event": "prediction", "timestamp": "2026-12-0\n')
        log.write("\x00\x00 not json\n")
    done = monitor(project, usual_log, usual, "--fail-on-drift")
    summary = json.loads((usual / "drift.json").read_text())
    assert summary["rows"] == len(pd.read_parquet(project / "data/processed/test.parquet"))
    assert summary["malformed_lines"] == 2 and "2 malformed log lines skipped" in done.stdout
    assert summary["dataset_drift"] is False and summary["status"] == "no_drift"
    config = yaml.safe_load((project / "conf/data/breast_cancer.yaml").read_text())
    features = {name for name, rules in config["columns"].items()
                if rules["role"] in ("numeric", "categorical")}  # fmt: skip
    assert set(summary["columns"]) == features
    for column in summary["columns"].values():
        assert {"test", "score", "threshold", "drifted"} <= set(column)
    assert summary["prediction"]["drifted"] is False
    assert summary["model_versions"] == [summary["reference"]["model_version"]]

    # A shifted population: only the largest tumours (a referral centre, say), in range.
    raw = pd.read_csv(project / "data/raw/breast_cancer.csv")
    shifted = raw[raw["mean_radius"] >= raw["mean_radius"].quantile(0.6)]
    shifted_log, drifted = tmp_path / "shifted.jsonl", tmp_path / "drifted"
    serve_and_send(project, shifted_log, shifted)
    refused = monitor(project, shifted_log, drifted, "--fail-on-drift", check=False)
    summary = json.loads((drifted / "drift.json").read_text())
    assert summary["columns"]["mean_radius"]["drifted"] is True
    assert summary["dataset_drift"] is (summary["drifted_share"] >= drift_share)
    assert summary["dataset_drift"] is True, summary
    assert refused.returncode == DRIFT_EXIT, refused.stderr
    assert "data set drift: yes" in refused.stdout
    # Without --fail-on-drift, drift is a finding, not a failure.
    assert monitor(project, shifted_log, drifted).returncode == 0

    # Too few predictions to judge: said plainly, and not drift.
    few_log, few = tmp_path / "few.jsonl", tmp_path / "few"
    few_log.write_text("".join(shifted_log.read_text().splitlines(keepends=True)[:20]))
    said = monitor(project, few_log, few, "--fail-on-drift")
    assert "too few to judge drift" in said.stdout
    assert json.loads((few / "drift.json").read_text())["status"] == "too_few_rows"

    # The page opens offline, with its headings and plots.
    if CHROMIUM is None:
        missing_tool("chromium is not installed")
    shown = evaluate_offline(drifted / "drift.html", INSPECT)
    assert shown["remote"] == [] and shown["remote_css"] == [], shown
    assert all(url.startswith(("file:", "data:", "blob:")) for url in shown["requests"]), shown
    assert any("Drift" in heading for heading in shown["headings"]), shown["headings"]
    assert shown["plots"] >= 1


def post(url: str, rows: list[dict], request_id: str) -> dict:
    """One /predict request that sets its own X-Request-ID, as a client's tracing does."""
    body = json.dumps(rows).encode()
    headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
    request = urllib.request.Request(f"{url}/predict", body, headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_a_reused_request_id_is_two_requests_labelled_and_counted_apart(default_project, tmp_path):
    project = default_project
    slug = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    command = ["uv", "run", "--frozen", slug["project_slug"]]
    test = pd.read_parquet(project / "data/processed/test.parquet")
    log, out = tmp_path / "predictions.jsonl", tmp_path / "out"
    # A client reuses its id "order-7" for two requests of three records; "order-8" is once.
    env = ENV | {"PREDICTION_LOG": str(log)}
    with running_api(project, "--model", "models/candidate", env=env) as url:
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as response:
            fields = list(json.load(response)["components"]["schemas"]["Record"]["properties"])
        rows = test[fields].head(7).to_dict("records")
        answers = [post(url, rows[:3], "order-7"), post(url, rows[3:6], "order-7"),
                   post(url, rows[6:], "order-8")]  # fmt: skip
    ids = [answer["request_id"] for answer in answers]
    assert len(set(ids)) == 3, ids  # each request is its own, whatever id the client sent

    # Labels keyed by the server's ids, and by a client id used once, join to every record.
    target = yaml.safe_load((project / "params.yaml").read_text())["data"]["target"]["name"]
    keys = [(ids[0], n) for n in range(3)] + [(ids[1], n) for n in range(3)] + [("order-8", 0)]
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": [k for k, _ in keys], "record": [n for _, n in keys],
                  target: test[target].head(7).tolist()}).to_csv(labels, index=False)  # fmt: skip
    # No --model: the log names the candidate's version, and its package is at hand.
    done = run([*command, "monitor", "--log", str(log), "--labels", str(labels), "--out", str(out)],
               project)  # fmt: skip
    summary = json.loads((out / "drift.json").read_text())
    assert summary["performance"]["labelled"] == 7, done.stdout
    assert summary["performance"]["unmatched_labels"] == 0

    # Labels keyed by the reused client id cannot tell its two requests apart: refused.
    pd.DataFrame({"request_id": ["order-7"], "record": [0], target: test[target].head(1)}).to_csv(
        labels, index=False
    )
    refused = run([*command, "monitor", "--log", str(log), "--labels", str(labels), "--out",
                   str(out)], project, check=False)  # fmt: skip
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "order-7" in refused.stderr and ids[0] in refused.stderr, refused.stderr

    # The business report counts three requests.
    run([*command, "report", "--log", str(log), "--out", str(tmp_path / "business")], project)
    page = (tmp_path / "business/index.html").read_text()
    assert "7 predictions in 3 requests" in page
