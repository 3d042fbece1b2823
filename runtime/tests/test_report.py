"""The business report: its facts from the registry, the log and the drift summary."""

import datetime
import re

import pandas as pd

from groundwork.monitoring.report import (
    VersionRow,
    drift_section,
    metrics_figure,
    page,
    production_section,
    promotion_event,
    traffic,
    version_rows,
)

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
