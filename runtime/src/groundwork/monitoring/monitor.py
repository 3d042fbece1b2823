"""`monitor`: read the prediction log, compare it with the reference, write the reports.

The I/O edge of monitoring: the pure parts are `log_reader.event_row` and `drift.summarise`.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pandas as pd
import structlog

from ..artifacts import atomic_path
from ..data.load import read_table
from ..errors import UserFacingError
from ..release.package import LINEAGE_FILE, ModelPackage, load_package
from ..release.predictor import Predictor
from ..release.registry import package_dir, production_path, resolve_package_path
from ..settings import MonitoringSettings
from .drift import PREDICTION, drift_frames, drift_reasons, key_columns, measure_drift
from .log_reader import LoggedPredictions, parse_since, read_prediction_log
from .performance import performance

log = structlog.get_logger(__name__)
SUMMARY_FILE = "drift.json"
REPORT_FILE = "drift.html"


def write_report(path: Path, text: str) -> None:
    """Replace `path` only once the new text is whole: a failed run keeps the last report."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def training_reference(train_path: str, package: ModelPackage) -> tuple[pd.DataFrame, dict]:
    """The train split the model was trained on, and where it came from.

    A registered package records `source_commit`, the commit that holds its run; DVC reads
    that commit's train split from the cache or the remote. A candidate, or a split DVC
    cannot reach, falls back to the workspace's train split, and the summary says so.
    """
    commit = package.lineage.get("source_commit")
    if commit:
        try:
            import dvc.api
            from dvc.exceptions import DvcException

            try:
                with dvc.api.open(train_path, rev=commit, mode="rb") as split:
                    return pd.read_parquet(split), {"path": train_path, "commit": commit}
            except (DvcException, OSError) as exc:
                log.warning("reference: the workspace train split", commit=commit, error=str(exc))
        except ImportError:  # DVC is in the `pipeline` group
            pass
    return read_table(train_path), {"path": train_path, "commit": None}


def lineage_version(path: Path) -> str | None:
    """The version of the package at `path` as its lineage names it, or None when there is
    no package: cheap, without loading the model."""
    try:
        lineage = json.loads((path / LINEAGE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return lineage.get("version") or lineage.get("checksum", "")[:12] or None


def monitored_package(
    candidate: Path, model: Path | str | None, rows: pd.DataFrame
) -> ModelPackage:
    """--model or $MODEL_PATH; else the package that served the whole window, when it is
    at hand (the candidate's, or a registered version's); else production's."""
    if model or os.environ.get("MODEL_PATH"):
        return load_package(resolve_package_path(model))
    served = sorted(rows["model_version"].unique()) if len(rows) else []
    if len(served) == 1:
        for path in (candidate, package_dir(served[0])):
            if lineage_version(path) == served[0]:
                return load_package(path)
    try:
        path = production_path()
    except UserFacingError as exc:
        if not served:
            raise
        raise UserFacingError(
            f"{exc} The log was served by {', '.join(served)}, not a package here (the "
            "candidate's or the registry's): name the package to judge it with, --model PATH."
        ) from None
    return load_package(path)


def monitor(
    settings: MonitoringSettings,
    log_path: Path | str | None = None,
    reference_path: Path | str | None = None,
    out_dir: Path | str | None = None,
    since: str | None = None,
    model: Path | str | None = None,
    labels_path: Path | str | None = None,
) -> dict:
    """Judge drift over the logged predictions since `since`, and with `labels_path` the
    model's metrics over them; write and return the summary."""
    out = Path(out_dir or settings.out)
    now = datetime.datetime.now(datetime.UTC)
    start = parse_since(since, now)
    logged = read_prediction_log(log_path or settings.log, start)
    package = monitored_package(settings.candidate, model, logged.rows)
    keys = key_columns(package.spec, settings.key_columns)
    summary = window_summary(logged, start, now, package, settings.min_rows)
    if labels_path:
        allowances = settings.allowance[package.spec.task]
        summary["performance"] = labelled_performance(logged.rows, labels_path, package, allowances)
    if len(logged.rows) < settings.min_rows:
        summary |= too_few_rows(len(logged.rows), logged.malformed, settings.min_rows)
        write_report(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        return summary
    if reference_path:
        reference, source = read_table(reference_path), {"path": str(reference_path)}
    else:
        reference, source = training_reference(str(settings.train_path), package)
    summary["reference"] |= source | {"rows": len(reference)}
    found, snapshot = judge_drift(reference, logged.rows, package, settings.drift_rules)
    reasons = drift_reasons(found, keys)
    summary |= {"status": "drift" if reasons else "no_drift", "drift_reasons": reasons, **found}
    write_report(out / REPORT_FILE, snapshot.get_html_str(as_iframe=False))
    write_report(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    log.info("monitored", rows=len(logged.rows), drift_reasons=reasons, out=str(out))
    return summary


def window_summary(
    logged: LoggedPredictions, start, now, package: ModelPackage, min_rows: int
) -> dict:
    """What the summary says of the window, whatever the verdict."""
    rows = logged.rows
    return {
        "created_at": now.isoformat(),
        "window": {
            "since": start.isoformat() if start else None,
            "first": rows["timestamp"].min().isoformat() if len(rows) else None,
            "last": rows["timestamp"].max().isoformat() if len(rows) else None,
        },
        "rows": len(rows),
        "malformed_lines": logged.malformed,
        "log_files": [str(path) for path in logged.files],
        "model_versions": sorted(rows["model_version"].unique().tolist()) if len(rows) else [],
        "reference": {"model_version": package.version},
        "min_rows": min_rows,
        # Features not judged for drift because they are personal data.
        "pii_left_out": sorted(column.name for column in package.spec.features if column.pii),
    }


def too_few_rows(rows: int, malformed: int, min_rows: int) -> dict:
    """The verdict of a window too small to judge, which is not drift."""
    skipped = f" {malformed} malformed log lines skipped." if malformed else ""
    return {
        "status": "too_few_rows",
        "dataset_drift": False,
        "drift_reasons": [],
        "message": (
            f"{rows} predictions in the window, fewer than monitoring.min_rows ({min_rows}): "
            f"too few to judge drift, which is not drift.{skipped}"
        ),
    }


def labelled_performance(
    rows: pd.DataFrame, labels_path, package: ModelPackage, allowances: dict
) -> dict:
    """The window's metrics on the labelled predictions, against the packaged ones, each
    allowed to drop by its promotion allowance."""
    spec = package.spec
    found = performance(
        rows,
        read_table(labels_path),
        spec,
        package.classes,
        package.threshold,
        package.lineage["metrics"],
        allowances,
    )
    return found | {"labels": str(labels_path)}


def judge_drift(reference: pd.DataFrame, rows: pd.DataFrame, package: ModelPackage, rules: dict):
    """Evidently's tests of the window against the reference: (summary, snapshot)."""
    # The reference's predictions come from the same model, so that the distribution of
    # predicted labels or values is compared like with like.
    reference[PREDICTION] = Predictor(package).predict_frame(reference)[PREDICTION].to_numpy()
    spec = package.spec
    return measure_drift(drift_frames(reference, spec), drift_frames(rows, spec), spec, rules)
