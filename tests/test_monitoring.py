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
