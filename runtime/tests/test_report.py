"""The business report: its facts from the registry, the log and the drift summary."""

import datetime
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, dvc_add, records
from fastapi.testclient import TestClient

from groundwork.monitoring.monitor import monitor
from groundwork.monitoring.report import (
    VersionRow,
    business_report,
    drift_section,
    metrics_figure,
    page,
    production_section,
    promotion_event,
    traffic,
    version_rows,
)
from groundwork.release import registry
from groundwork.release.package import LINEAGE_CHECKSUM, LINEAGE_FILE, write_lineage
from groundwork.serving.api import create_app
from groundwork.settings import MonitoringSettings

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)


def event(kind: str, version: str, minutes: int, author: str = "Grace Hopper") -> dict:
    moment = NOW + datetime.timedelta(minutes=minutes)
    return {"event": kind, "version": version, "timestamp": moment, "author": author,
            "author_email": "grace@example.com", "message": f"{kind} {version}"}  # fmt: skip


# GTO lists events newest first: v0.0.1 promoted, v0.0.2 promoted, then rolled back to v0.0.1,
# and v0.0.3 registered (by hand, with GTO) but never promoted.
EVENTS = [
    event("registration", "v0.0.3", 50),
    event("assignment", "v0.0.1", 40, author="Rita Reviewer"),
    event("unassignment", "v0.0.2", 39),
    event("assignment", "v0.0.2", 30),
    event("registration", "v0.0.2", 29),
    event("assignment", "v0.0.1", 10),
    event("registration", "v0.0.1", 9),
]


def test_each_version_has_its_status_and_metrics_highest_first():
    lineages = {"v0.0.1": {"metrics": {"f1": 0.9}}, "v0.0.2": {"metrics": {"f1": 0.8}}}
    rows = version_rows(EVENTS, lineages | {"v0.0.3": None}, production="v0.0.1")
    assert [(r.version, r.status, r.metrics) for r in rows] == [
        ("v0.0.3", "registered, never promoted", {}),
        ("v0.0.2", "earlier production model", {"f1": 0.8}),
        ("v0.0.1", "in production", {"f1": 0.9}),
    ]
    assert rows[2].registered_at == NOW + datetime.timedelta(minutes=9)


def test_the_promotion_shown_is_the_newest_that_put_the_version_in_production():
    found = promotion_event(EVENTS, "v0.0.1")
    assert found["author"] == "Rita Reviewer"  # the rollback, not the first promotion
    assert promotion_event(EVENTS, "v0.0.3") is None


def logged(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    """Log rows of (minutes after NOW, request id, the request's latency)."""
    return pd.DataFrame(
        {
            "timestamp": [NOW + datetime.timedelta(minutes=m) for m, _, _ in rows],
            "request_id": [request for _, request, _ in rows],
            "latency_ms": [latency for _, _, latency in rows],
        }
    )


def test_traffic_counts_predictions_and_requests_and_latency_once_per_request():
    # Hour 12: request a with three records (10 ms), request b (30 ms); hour 14: c (5 ms).
    rows = logged([(1, "a", 10.0), (1, "a", 10.0), (1, "a", 10.0), (20, "b", 30.0),
                   (130, "c", 5.0)])  # fmt: skip
    table, period = traffic(rows)
    assert period == "hour"
    assert table["predictions"].tolist() == [4, 0, 1]
    assert table["requests"].tolist() == [2, 0, 1]
    assert table["latency_p50_ms"].iloc[0] == 20.0  # of 10 and 30, not of 10, 10, 10, 30
    assert table["latency_p95_ms"].iloc[2] == 5.0


def test_traffic_over_weeks_is_counted_per_day():
    days = 60 * 24
    table, period = traffic(logged([(0, "a", 1.0), (10 * days, "b", 1.0)]))
    assert period == "day" and len(table) == 11 and table["predictions"].sum() == 2


def test_the_drift_verdict_says_drift_no_drift_or_too_few():
    columns = {"x": {"drifted": True}, "y": {"drifted": False}}
    found = {"status": "drift", "dataset_drift": True, "rows": 500, "columns": columns,
             "prediction": {"drifted": False}, "window": {}}  # fmt: skip
    said = drift_section(found, "drift.json", "../monitoring/drift.html")
    assert "has drifted" in said and "1 of 2: x" in said
    assert 'href="../monitoring/drift.html"' in said
    calm = drift_section(found | {"status": "no_drift", "dataset_drift": False}, "d", "p")
    assert "No drift" in calm
    few = drift_section({"status": "too_few_rows", "rows": 3}, "d", "p")
    assert "Too few predictions" in few and "href" not in few
    assert "No drift report yet" in drift_section(None, "reports/monitoring/drift.json", "p")


def test_the_page_loads_nothing_from_elsewhere_and_escapes_what_it_shows():
    rows = [VersionRow("v0.0.2", NOW, "in production", {"f1": 0.91, "recall": 0.88}),
            VersionRow("v0.0.1", NOW, "earlier production model", {"f1": 0.9})]  # fmt: skip
    figure = metrics_figure(rows, ["f1", "recall", "roc_auc"])
    assert [axes.get_title() for axes in figure.axes] == [
        "f1 (higher is better)",
        "recall (higher is better)",
    ]
    text = page("a <report>", NOW, {"Section": "<p>body</p>"})
    assert "<title>a &lt;report&gt;</title>" in text and "<h2>Section</h2>" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert metrics_figure([VersionRow("v0.0.1", NOW, "in production", {})], ["f1"]) is None


def test_the_production_model_s_cpu_per_million_predictions_is_shown_where_measured():
    lineage = {"git_sha": "abc", "data": {"path": "data/raw/x.csv", "md5": "d41d"}}
    measured = production_section("v0.0.2", None, lineage | {"cost": {"cpu_s_per_million": 12.07}})
    assert "<th>CPU per million predictions</th><td>12.1 CPU-seconds" in measured
    # A package made before its cost was measured: the fact is left out, not shown as 0.
    assert "CPU per million" not in production_section("v0.0.1", None, lineage)


def test_drifted_predictions_alone_are_drift_on_the_page():
    found = {"status": "drift", "dataset_drift": False, "rows": 500, "window": {},
             "columns": {"x": {"drifted": False}}, "prediction": {"drifted": True},
             "drift_reasons": ["prediction"]}  # fmt: skip
    said = drift_section(found, "drift.json", "../monitoring/drift.html")
    assert "has drifted" in said and "<th>drift found in</th><td>prediction</td>" in said


# --- the whole page, from a real registry, the API's log and the monitor's summary ---------


def store(package: Path, version: str, metrics_shift: float = 0.0) -> Path:
    """Copy a package into the registry as `promote` does: its lineage names the version
    (sealed again); `metrics_shift` is added to every packaged metric."""
    target = registry.package_dir(version)
    shutil.copytree(package, target)
    lineage = json.loads((package / LINEAGE_FILE).read_text())
    lineage.pop(LINEAGE_CHECKSUM)
    metrics = {name: value + metrics_shift for name, value in lineage["metrics"].items()}
    write_lineage(target / LINEAGE_FILE, lineage | {"version": version, "metrics": metrics})
    return target


def gto_event(action: str, version: str, message: str) -> None:
    """A GTO registration or promotion, one second after the last event as `promote` waits."""
    import gto.api

    registry._after_last_event()
    if action == "register":
        gto.api.register(".", registry.ARTIFACT, "HEAD", version=version, message=message)
    else:
        gto.api.assign(".", registry.ARTIFACT, registry.STAGE, version=version, message=message)


def wrong(prediction, spec):
    """A label that contradicts `prediction`: another class, or far from the value."""
    if spec.is_classification:
        return next(c for c in spec.target.classes if c != prediction)
    return prediction + 1000.0


@pytest.fixture
def registered(workdir, model_package, commit, monkeypatch):
    """A project whose registry has v0.0.1 (promoted, then replaced), v0.0.2 (in production)
    and v0.0.3 (registered, never promoted, its package only on a DVC remote that is gone)."""
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "Grace Hopper")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "grace@example.com")
    for name in (".gto", "artifacts.yaml"):
        shutil.copy(ROOT / name, workdir / name)
    (workdir / ".gitignore").write_text("/conf\n/logs/\n/reports/\n")
    for version, shift, why in (("v0.0.1", -0.01, "first model"), ("v0.0.2", 0, "better recall")):
        store(model_package, version, metrics_shift=shift)
        commit(workdir, f"Register model {version}")
        gto_event("register", version, f"Register {version}")
        gto_event("assign", version, f"Promote {version}: {why}")
    store(model_package, "v0.0.3")
    dvc_add(workdir, "models/registry/v0.0.3")
    remote = ["dvc", "remote", "add", "--default", "storage", str(workdir.parent / "gone")]
    subprocess.run(remote, cwd=workdir, check=True, capture_output=True)
    shutil.rmtree(workdir / "models/registry/v0.0.3")
    shutil.rmtree(workdir / ".dvc/cache")
    commit(workdir, "Register model v0.0.3")
    gto_event("register", "v0.0.3", "Register v0.0.3")
    return workdir


def test_the_page_tells_the_production_story_from_registry_log_and_monitor(
    registered, cfg, sample, spec
):
    sent = records(sample, spec, 4)
    app = create_app(registry.package_dir("v0.0.2"), prediction_log=cfg.monitoring.log)
    with TestClient(app) as client:  # a request of three records, then one of one
        answers = [client.post("/predict", json=rows).json() for rows in (sent[:3], sent[3:])]
    # Labels that contradict every prediction: the model's metrics on them drop.
    labels = [{"request_id": answer["request_id"], "record": n,
               spec.target.name: wrong(output["prediction"], spec)}
              for answer in answers for n, output in enumerate(answer["predictions"])]  # fmt: skip
    pd.DataFrame(labels).to_csv("labels.csv", index=False)
    assert (
        monitor(MonitoringSettings.from_config(cfg), labels_path="labels.csv")["status"]
        == "too_few_rows"
    )

    path = business_report(MonitoringSettings.from_config(cfg))
    assert path.resolve() == registered / "reports/business/index.html"
    text = path.read_text(encoding="utf-8")
    assert "Version v0.0.2 serves predictions." in text
    assert "by Grace Hopper &lt;grace@example.com&gt;: Promote v0.0.2: better recall." in text
    assert "<th>data</th><td>sample (md5 unknown)</td>" in text
    # Every version with its status; the earlier one beside production, the third not at hand.
    rows = re.findall(r"<tr><td>(v0\.0\.\d)</td><td>[^<]+</td><td>([^<]+)</td>(.*?)</tr>", text)
    assert [(version, status) for version, status, _ in rows] == [
        ("v0.0.3", "registered, never promoted"),
        ("v0.0.2", "in production"),
        ("v0.0.1", "earlier production model"),
    ]
    names = list(cfg.promotion.allowance[cfg.data.task])
    assert rows[0][2] == "<td>not at hand</td>" * len(names)
    assert rows[1][2].count("(") == 0 and rows[2][2].count("(-0.0100)") == len(names)
    # Traffic as the API logged it: four predictions in two requests, in one hour.
    assert "4 predictions in 2 requests" in text and "served by v0.0.2" in text
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:00 UTC</td><td>4</td><td>2</td>", text)
    assert text.count('<img src="data:image/png;base64,') == 2  # the metrics and the traffic
    assert "Too few predictions to judge drift." in text
    assert "<th>predictions compared</th><td>4</td>" in text
    assert "<th>metrics on labelled predictions</th><td>dropped</td>" in text

    # A window after the last prediction, written elsewhere: no traffic, and no chart of it.
    later = business_report(
        MonitoringSettings.from_config(cfg), out_dir="later", since="2099-01-01T00:00:00"
    )
    text = later.read_text(encoding="utf-8")
    assert later.resolve() == registered / "later/index.html"
    assert "No predictions in logs/predictions.jsonl in the window." in text
    assert text.count("<img") == 1  # the metrics chart alone


def test_before_any_registration_the_page_says_how_to_promote(workdir, cfg, commit):
    for name in (".gto", "artifacts.yaml"):
        shutil.copy(ROOT / name, workdir / name)
    commit(workdir, "a project without a model yet")
    text = business_report(MonitoringSettings.from_config(cfg)).read_text(encoding="utf-8")
    assert "No model is in production yet." in text and "promote</code>" in text
    assert "No version is registered yet." in text
    assert "No traffic to show: no prediction log at logs/predictions.jsonl" in text
    assert "No drift report yet" in text and "it writes reports/monitoring/drift.json" in text
    assert "<img" not in text
