"""`monitor`: read the prediction log, compare it with the reference, write the reports.

The I/O edge of monitoring: the pure parts are `log_reader.event_row` and `drift.summarise`.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import structlog
from omegaconf import DictConfig

from ..artifacts import atomic_path
from ..config import as_dict
from ..data.load import read_table
from ..release.package import ModelPackage, load_package
from ..release.predictor import Predictor
from ..release.registry import resolve_package_path
from .drift import PREDICTION, drift_frames, measure_drift
from .log_reader import parse_since, read_prediction_log
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


def monitor(
    cfg: DictConfig,
    log_path: Path | str | None = None,
    reference_path: Path | str | None = None,
    out_dir: Path | str | None = None,
    since: str | None = None,
    model: Path | str | None = None,
    labels_path: Path | str | None = None,
) -> dict:
    """Judge drift over the logged predictions since `since`, and with `labels_path` the
    model's metrics over them; write and return the summary."""
    settings = as_dict(cfg.monitoring)
    out = Path(out_dir or settings["out"])
    now = datetime.datetime.now(datetime.UTC)
    package = load_package(resolve_package_path(model))
    spec = package.spec
    start = parse_since(since, now)
    logged = read_prediction_log(log_path or settings["log"], start)
    rows = logged.rows
    summary: dict = {
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
        "min_rows": settings["min_rows"],
        # Features not judged for drift because they are personal data.
        "pii_left_out": sorted(column.name for column in spec.features if column.pii),
    }
    if labels_path:
        allowances = as_dict(cfg.promotion.allowance[spec.task])
        summary["performance"] = performance(
            rows,
            read_table(labels_path),
            spec,
            package.classes,
            package.threshold,
            package.lineage["metrics"],
            allowances,
        ) | {"labels": str(labels_path)}
    if len(rows) < settings["min_rows"]:
        summary |= {
            "status": "too_few_rows",
            "dataset_drift": False,
            "message": (
                f"{len(rows)} predictions in the window, fewer than monitoring.min_rows "
                f"({settings['min_rows']}): too few to judge drift, which is not drift."
            ),
        }
        write_report(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        return summary
    if reference_path:
        reference, source = read_table(reference_path), {"path": str(reference_path)}
    else:
        reference, source = training_reference(cfg.data.train_path, package)
    summary["reference"] |= source
    # The reference's predictions come from the same model, so that the distribution of
    # predicted labels or values is compared like with like.
    reference[PREDICTION] = Predictor(package).predict_frame(reference)[PREDICTION].to_numpy()
    found, snapshot = measure_drift(
        drift_frames(reference, spec), drift_frames(rows, spec), spec, settings
    )
    summary["reference"]["rows"] = len(reference)
    summary |= {"status": "drift" if found["dataset_drift"] else "no_drift", **found}
    write_report(out / REPORT_FILE, snapshot.get_html_str(as_iframe=False))
    write_report(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    log.info("monitored", rows=len(rows), dataset_drift=found["dataset_drift"], out=str(out))
    return summary
