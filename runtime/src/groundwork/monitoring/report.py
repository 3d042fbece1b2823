"""`report`: one page for business readers about the model in production.

The page says which version serves, who promoted it and when, its headline metrics
beside earlier versions' (from the registry's history), the prediction volume and
latency over time (from the prediction log), and the latest drift verdict. It is one
self-contained HTML file, its charts embedded PNG images, so that it opens offline, as an
e-mail attachment or a CI artifact.

The page is written with f-strings and `html.escape` rather than a template engine: it
has four fixed sections, and this source is itself rendered by Jinja when the project is
generated, so a Jinja template here would need escaping throughout.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import structlog

from .. import COMMAND, remote
from ..artifacts import atomic_path
from ..errors import UserFacingError
from ..model.evaluate import HIGHER_IS_BETTER, canvas_figure
from ..release import registry
from ..release.package import LINEAGE_FILE
from .log_reader import parse_since, read_prediction_log
from .monitor import REPORT_FILE as DRIFT_PAGE
from .monitor import SUMMARY_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..settings import MonitoringSettings

log = structlog.get_logger(__name__)
REPORT_FILE = "index.html"


@dataclass(frozen=True)
class VersionRow:
    """One registered version, as the page's table shows it."""

    version: str
    registered_at: datetime.datetime | None
    status: str  # "in production", "earlier production model" or "registered, never promoted"
    metrics: dict[str, float]  # empty when the package's lineage is not at hand


# --- pure: the registry, the log and the drift summary as the page's facts -----------------


def version_rows(events: list[dict], lineages: dict[str, dict | None], production: str | None):
    """Every registered version, highest first, with its status and packaged test metrics."""
    registered = {e["version"]: e["timestamp"] for e in events if e["event"] == "registration"}
    assigned = {e["version"] for e in events if e["event"] == "assignment"}
    rows = []
    for version in sorted(registered, key=registry.semver, reverse=True):
        if version == production:
            status = "in production"
        elif version in assigned:
            status = "earlier production model"
        else:
            status = "registered, never promoted"
        lineage = lineages.get(version) or {}
        rows.append(VersionRow(version, registered[version], status, lineage.get("metrics", {})))
    return rows


def promotion_event(events: list[dict], version: str) -> dict | None:
    """The newest event that put `version` in production: a promotion or a rollback to it."""
    return next((e for e in events if e["event"] == "assignment" and e["version"] == version), None)


def traffic(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Predictions, requests and request latency (p50, p95 in ms) per period; the period.

    A request of several records logs one line per record with the request's latency, so
    latency is counted once per request.
    """
    span = rows["timestamp"].max() - rows["timestamp"].min()
    period = "h" if span <= pd.Timedelta(days=2) else "D" if span <= pd.Timedelta(days=120) else "W"
    indexed = rows.set_index("timestamp")
    requests = indexed[~indexed["request_id"].duplicated()]["latency_ms"].astype("float64")
    table = pd.DataFrame(
        {
            "predictions": indexed["request_id"].resample(period).size(),
            "requests": requests.resample(period).size(),
            "latency_p50_ms": requests.resample(period).quantile(0.5),
            "latency_p95_ms": requests.resample(period).quantile(0.95),
        }
    )
    return table, {"h": "hour", "D": "day", "W": "week"}[period]


# --- pure: charts and the page -----------------------------------------------------------


def png_data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def metrics_figure(rows: list[VersionRow], names: list[str]) -> Figure | None:
    """One panel per headline metric: its value for each version, oldest on the left."""
    shown = [row for row in reversed(rows) if row.metrics]
    names = [name for name in names if any(name in row.metrics for row in shown)]
    if not shown or not names:
        return None
    figure = canvas_figure(size=(3.2 * len(names) + 0.6, 3.4))
    for index, name in enumerate(names, start=1):
        axes = figure.add_subplot(1, len(names), index)
        versions = [row.version for row in shown if name in row.metrics]
        values = [row.metrics[name] for row in shown if name in row.metrics]
        colours = ["tab:green" if row.status == "in production" else "tab:gray"
                   for row in shown if name in row.metrics]  # fmt: skip
        bars = axes.bar(versions, values, color=colours)
        axes.bar_label(bars, fmt="%.3f")
        axes.margins(y=0.15)  # room for the labels
        better = "higher" if HIGHER_IS_BETTER.get(name, True) else "lower"
        axes.set(title=f"{name} ({better} is better)")
        axes.tick_params(axis="x", labelrotation=45 if len(versions) > 4 else 0)
    return figure


def traffic_figure(table: pd.DataFrame, period: str) -> Figure:
    """Predictions per period above, request latency (p50, p95) below."""
    figure = canvas_figure(size=(8.0, 5.2))
    volume, latency = figure.subplots(2, 1, sharex=True)
    width = pd.Timedelta({"hour": "1h", "day": "1D", "week": "7D"}[period]) * 0.8
    volume.bar(table.index, table["predictions"], width=width, align="edge")
    volume.set(title=f"Predictions per {period}", ylabel="predictions")
    latency.plot(table.index, table["latency_p50_ms"], marker="o", label="median")
    latency.plot(table.index, table["latency_p95_ms"], marker="o", label="95th percentile")
    latency.set(title=f"Request latency per {period}", ylabel="milliseconds")
    latency.legend(loc="best")
    figure.autofmt_xdate()
    return figure


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, datetime.datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(rows: list[list]) -> str:
    body = "".join(f"<tr><th>{html.escape(name)}</th><td>{_cell(value)}</td></tr>"
                   for name, value in rows)  # fmt: skip
    return f"<table><tbody>{body}</tbody></table>"


def _image(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 62rem;
       padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } .muted { color: #59636e; }
table { border-collapse: collapse; margin: 0.8rem 0; }
th, td { border: 1px solid #d1d9e0; padding: 0.3rem 0.7rem; text-align: left; }
th { background: #f6f8fa; } img { max-width: 100%; }
.verdict { font-size: 1.15rem; font-weight: 600; }
.ok { color: #1a7f37; } .alert { color: #cf222e; } .unknown { color: #9a6700; }
"""


def production_section(version: str | None, event: dict | None, lineage: dict | None) -> str:
    if version is None:
        return (
            '<p class="verdict unknown">No model is in production yet.</p>'
            f"<p>Promote one with <code>make promote</code> (<code>uv run {COMMAND} "
            "promote</code>).</p>"
        )
    parts = [f'<p class="verdict">Version {html.escape(version)} serves predictions.</p>']
    if event:
        who = html.escape(f"{event['author']} <{event['author_email']}>")
        message = html.escape(f": {event['message']}") if event.get("message") else ""
        parts.append(f"<p>Put in production on {_cell(event['timestamp'])} by {who}{message}.</p>")
    if lineage:
        data = lineage.get("data", {})
        facts = [
            ["trained from commit", lineage.get("source_commit") or lineage.get("git_sha", "")],
            ["data", f"{data.get('path', '')} (md5 {data.get('md5', '')})"],
            ["packaged", lineage.get("created_at", "")],
        ]
        cost = lineage.get("cost") or {}  # measured when packaged; older packages lack it
        if "cpu_s_per_million" in cost:
            cpu = f"{cost['cpu_s_per_million']:.3g} CPU-seconds (batch scoring, as packaged)"
            facts.append(["CPU per million predictions", cpu])
        parts.append(_facts(facts))
    return "".join(parts)


def versions_section(rows: list[VersionRow], names: list[str], chart: str | None) -> str:
    if not rows:
        return "<p>No version is registered yet.</p>"
    production = next((row for row in rows if row.status == "in production"), None)
    header = ["version", "registered", "status", *names]
    body = []
    for row in rows:
        cells = []
        for name in names:
            value = row.metrics.get(name)
            if value is None:
                cells.append("not at hand")
                continue
            base = production.metrics.get(name) if production and row is not production else None
            cells.append(f"{value:.4f}" + (f" ({value - base:+.4f})" if base is not None else ""))
        body.append([row.version, row.registered_at or "", row.status, *cells])
    note = (
        "<p class='muted'>Each version's metrics are those of its own test split when it "
        "was packaged; in brackets, the difference from the production version. "
        '"not at hand": the package is neither here nor on the DVC remote.</p>'
    )
    return _table(header, body) + note + (_image(chart, "metrics by version") if chart else "")


def traffic_section(table: pd.DataFrame | None, period: str, chart: str | None, note: str) -> str:
    if table is None:
        return f"<p>{html.escape(note)}</p>"
    rows = [
        [
            moment,
            int(row.predictions),
            int(row.requests),
            "" if pd.isna(row.latency_p50_ms) else float(row.latency_p50_ms),
            "" if pd.isna(row.latency_p95_ms) else float(row.latency_p95_ms),
        ]
        for moment, (_, row) in zip(
            pd.DatetimeIndex(table.index).to_pydatetime(), table.iterrows(), strict=True
        )
        if row.predictions
    ]
    header = [period, "predictions", "requests", "median latency (ms)", "p95 latency (ms)"]
    return (
        f"<p>{html.escape(note)}</p>"
        + (_image(chart, "predictions and latency over time") if chart else "")
        + _table(header, rows[-24:])
    )


def drift_section(summary: dict | None, where: str, page_link: str) -> str:
    if summary is None:
        return (
            '<p class="verdict unknown">No drift report yet.</p>'
            f"<p>Run <code>make monitor</code>; it writes {html.escape(where)}.</p>"
        )
    status = summary.get("status")
    if status == "too_few_rows":
        verdict = '<p class="verdict unknown">Too few predictions to judge drift.</p>'
    elif status == "drift":
        verdict = (
            '<p class="verdict alert">Production data has drifted away from the training data.</p>'
        )
    else:
        verdict = (
            '<p class="verdict ok">No drift: production data looks like the training data.</p>'
        )
    columns = summary.get("columns", {})
    drifted = [name for name, column in columns.items() if column.get("drifted")]
    window = summary.get("window", {})
    facts = [
        ["judged on", summary.get("created_at", "")],
        ["predictions compared", summary.get("rows", 0)],
        ["window", f"{window.get('first') or '?'} to {window.get('last') or '?'}"],
        ["drifted inputs", f"{len(drifted)} of {len(columns)}: {', '.join(drifted) or 'none'}"],
    ]
    if "prediction" in summary:
        facts.append(["predictions drifted", "yes" if summary["prediction"]["drifted"] else "no"])
    if summary.get("drift_reasons"):
        facts.append(["drift found in", ", ".join(summary["drift_reasons"])])
    if "performance" in summary:
        dropped = summary["performance"]["performance_drop"]
        facts.append(["metrics on labelled predictions", "dropped" if dropped else "held"])
    link = f'<a href="{html.escape(page_link)}">the drift report</a>'
    details = f"<p>Details, column by column: {link}.</p>" if status != "too_few_rows" else ""
    return verdict + _facts(facts) + details


def page(title: str, created: datetime.datetime, sections: dict[str, str]) -> str:
    body = "".join(f"<section><h2>{html.escape(name)}</h2>{text}</section>"
                   for name, text in sections.items())  # fmt: skip
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="muted">Written {_cell(created)} by <code>{COMMAND} report</code>.</p>'
        f"{body}</body></html>\n"
    )


# --- I/O: the registry, the packages, the log and the drift summary ------------------------


def lineages(versions: list[str]) -> dict[str, dict | None]:
    """Each version's lineage; packages not in the workspace are pulled from the DVC remote
    when it has them, and are None when it cannot be reached."""
    missing = [
        f"{registry.package_dir(v)}.dvc"
        for v in versions
        if not registry.package_dir(v).is_dir() and Path(f"{registry.package_dir(v)}.dvc").exists()
    ]
    if missing:
        try:
            remote.pull(missing)
        except remote.RemoteError as exc:
            log.warning("earlier packages not at hand", error=str(exc))
    found = {}
    for version in versions:
        path = registry.package_dir(version) / LINEAGE_FILE
        found[version] = json.loads(path.read_text()) if path.exists() else None
    return found


def traffic_part(log_file: Path, start: datetime.datetime | None) -> tuple[Any, str, Any, str]:
    """The window's traffic from the prediction log: (hourly table, period, chart, note);
    the note says why there is no table when there is none."""
    try:
        logged = read_prediction_log(log_file, start)
    except UserFacingError as exc:
        return None, "", None, f"No traffic to show: {exc}"
    predictions = logged.rows
    if predictions.empty:
        return None, "", None, f"No predictions in {log_file} in the window."
    table, period = traffic(predictions)
    versions_served = ", ".join(sorted(predictions["model_version"].unique()))
    note = (
        f"{len(predictions)} predictions in {predictions['request_id'].nunique()} "
        f"requests, {predictions['timestamp'].min():%Y-%m-%d %H:%M} to "
        f"{predictions['timestamp'].max():%Y-%m-%d %H:%M} UTC, served by "
        f"{versions_served} (from {log_file})."
    )
    return table, period, png_data_uri(traffic_figure(table, period)), note


def business_report(
    settings: MonitoringSettings,
    log_path: Path | str | None = None,
    out_dir: Path | str | None = None,
    since: str | None = None,
) -> Path:
    """Write the business report; return its path."""
    now = datetime.datetime.now(datetime.UTC)
    events = registry.history()
    production = registry.production_version()
    versions = sorted({e["version"] for e in events if e["event"] == "registration"},
                      key=registry.semver, reverse=True)  # fmt: skip
    found = lineages(versions)
    rows = version_rows(events, found, production)
    names = list(settings.allowance[settings.task])
    metrics_chart = metrics_figure(rows, names)
    log_file = Path(log_path or settings.log)
    table, period, traffic_chart, note = traffic_part(log_file, parse_since(since, now))
    drift_file = settings.out / SUMMARY_FILE
    drift = json.loads(drift_file.read_text()) if drift_file.exists() else None
    target = Path(out_dir or settings.business) / REPORT_FILE
    # Relative, so that the link holds wherever both folders are copied together.
    drift_page = os.path.relpath(drift_file.with_name(DRIFT_PAGE), target.parent)
    text = page(
        f"{COMMAND}: the model in production",
        now,
        {
            "Production model": production_section(
                production,
                promotion_event(events, production) if production else None,
                found.get(production) if production else None,
            ),
            "Metrics by version": versions_section(
                rows, names, png_data_uri(metrics_chart) if metrics_chart else None
            ),
            "Predictions and latency": traffic_section(table, period, traffic_chart, note),
            "Drift": drift_section(drift, str(drift_file), drift_page),
        },
    )
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("business report written", path=str(target), production=production)
    return target
