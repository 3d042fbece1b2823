"""Drift of production inputs and predictions from the training reference, by Evidently.

Evidently runs the statistical tests and draws the HTML report; everything it returns is
turned here into our own summary (`drift.json`), so a job that acts on the summary does
not depend on how Evidently's API names things, which moves between releases.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pandas as pd

from ..data.spec import Column, DataSpec
from ..errors import UserFacingError

PREDICTION = "prediction"


def monitored(spec: DataSpec) -> list[Column]:
    """The features drift is measured on: personal data (pii) is logged as hashes at most,
    and a report must not show its values, so it is left out."""
    return [column for column in spec.features if not column.pii]


def key_columns(spec: DataSpec, names: Collection[str]) -> list[str]:
    """The config's `monitoring.key_columns`, checked: each must be a monitored feature."""
    known = [column.name for column in monitored(spec)]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise UserFacingError(
            f"monitoring.key_columns in conf/config.yaml names {unknown}, which drift is not "
            f"measured on; choose from the features {known} (personal data is left out)."
        )
    return list(names)


def drift_reasons(found: Mapping[str, Any], keys: Collection[str]) -> list[str]:
    """Why production differs from the reference, from `summarise`'s result; none: it does
    not. The data set drifts when at least `drift_share` of the features drift; drifted
    predictions count alone, as the strongest sign; and so does a key column's drift."""
    reasons = ["data set"] if found["dataset_drift"] else []
    if found["prediction"]["drifted"]:
        reasons.append("prediction")
    columns = found["columns"]
    return reasons + [f"key column {name}" for name in keys if columns[name]["drifted"]]


def drift_frames(frame: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """The monitored features and the prediction, typed by the data config's roles."""
    columns: dict[str, pd.Series] = {}
    for column in monitored(spec):
        values = frame[column.name] if column.name in frame else pd.Series(index=frame.index)
        if column.role == "numeric":
            columns[column.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            # pandas keeps None in an object column; pandas-stubs types `other` without None.
            kept = values.astype("object").where(values.notna(), None)  # type: ignore[call-overload]
            columns[column.name] = kept
    prediction = frame[PREDICTION]
    columns[PREDICTION] = (
        prediction.astype(str) if spec.is_classification else prediction.astype("float64")
    )
    return pd.DataFrame(columns)


def measure_drift(
    reference: pd.DataFrame, current: pd.DataFrame, spec: DataSpec, settings: Mapping[str, Any]
) -> tuple[dict, Any]:
    """Compare `current` with `reference` (both from `drift_frames`); (summary, snapshot).

    `settings` is the config's `monitoring` section: `drift_share`, and per column
    (`columns: {name: {method, threshold}}`) the test and threshold that override
    Evidently's defaults for the column's type and size.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    numeric = [c.name for c in monitored(spec) if c.role == "numeric"]
    categorical = [c.name for c in monitored(spec) if c.role == "categorical"]
    (numeric if not spec.is_classification else categorical).append(PREDICTION)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    overrides = dict(settings.get("columns") or {})
    methods = {name: o["method"] for name, o in overrides.items() if o.get("method")}
    thresholds = {name: float(o["threshold"]) for name, o in overrides.items() if "threshold" in o}
    prediction = overrides.get(PREDICTION, {})
    report = Report(
        [
            DataDriftPreset(
                columns=[column.name for column in monitored(spec)],
                drift_share=float(settings["drift_share"]),
                per_column_method=methods or None,
                per_column_threshold=thresholds or None,
            ),
            ValueDrift(
                column=PREDICTION,
                method=prediction.get("method"),
                threshold=prediction.get("threshold"),
            ),
        ],
        include_tests=True,
    )
    snapshot = report.run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    return summarise(snapshot.dict(), spec), snapshot


def summarise(result: Mapping[str, Any], spec: DataSpec) -> dict:
    """Our summary of Evidently's result: per column the test, score, threshold, verdict."""
    drifted = {}
    dataset_drift = None
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        failed = str(getattr(test["status"], "value", test["status"])) == "FAIL"
        if params["type"].endswith("ValueDrift"):
            drifted[params["column"]] = failed
        elif params["type"].endswith("DriftedColumnsCount"):
            dataset_drift = failed
    columns, share = {}, None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {
                "test": config["method"],
                "score": float(metric["value"]),
                "threshold": float(config["threshold"]),
                "drifted": drifted[config["column"]],
            }
    return {
        "dataset_drift": bool(dataset_drift),
        "drifted_share": share,
        "columns": {c.name: columns[c.name] for c in monitored(spec) if c.name in columns},
        "prediction": columns[PREDICTION],
    }
