"""The model's metrics over the window, once the true labels have arrived.

Ground truth comes late, from wherever the outcome is recorded: a file of `request_id`
(the server's, or the client's X-Request-ID when it names one request), `record` (the
position in the request; 0 when it sent one record) and the target column.
Joined to the logged predictions, it gives the task's metrics over the window, which are
compared with the metrics the model was packaged with, under the promotion gate's
allowances: a drop the gate would refuse in a candidate is flagged here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data.spec import DataSpec
from ..errors import UserFacingError
from ..model.evaluate import task_metrics
from ..release.gate import check_gate
from .log_reader import PROBABILITY

KEYS = ["request_id", "record"]


def join_labels(logged: pd.DataFrame, labels: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """The logged predictions that have a label, with the label as `actual`."""
    target = spec.target.name
    missing = [name for name in ("request_id", target) if name not in labels.columns]
    if missing:
        raise UserFacingError(
            f"the labels file has no column {', '.join(map(repr, missing))}: it needs "
            f"'request_id', '{target}' and, for requests of several records, 'record'."
        )
    labels = labels.assign(record=labels.get("record", 0))
    labels = labels[[*KEYS, target]].rename(columns={target: "actual"})
    labels["request_id"] = labels["request_id"].astype(str)
    labels["record"] = labels["record"].astype("int64")
    labels = keyed_by_server(labels, logged)
    if twice := repeated(labels):
        raise UserFacingError(
            f"the labels file labels a record twice or more, in requests {twice}: keep one "
            "label per request_id and record."
        )
    if twice := repeated(logged.merge(labels[KEYS], on=KEYS)):
        raise UserFacingError(
            f"labels of requests {twice} match several logged predictions each: the client "
            "reused these ids in a log written before each request had its own id. Leave "
            "them out of the labels file, or the window (--since)."
        )
    return logged.merge(labels, on=KEYS, how="inner", validate="one_to_one")


def keyed_by_server(labels: pd.DataFrame, logged: pd.DataFrame) -> pd.DataFrame:
    """The labels keyed as the log is, by the server's request id. A label may give the
    client's X-Request-ID instead, as long as that id names one logged request."""
    if "client_request_id" not in logged:  # a log written before requests had their own id
        return labels
    unknown = set(labels["request_id"]) - set(logged["request_id"])
    pairs = logged[["client_request_id", "request_id"]].drop_duplicates()
    pairs = pairs[pairs["client_request_id"].isin(unknown)]
    servers = pairs.groupby("client_request_id")["request_id"].agg(list)
    shared = servers[servers.map(len) > 1]
    if len(shared):
        named = "; ".join(f"{key!r} by {', '.join(ids)}" for key, ids in shared.head(5).items())
        raise UserFacingError(
            f"labels name a client's X-Request-ID that several logged requests share, so "
            f"they cannot tell which request they are for ({len(shared)} such ids: {named}). "
            "Key those labels by the request_id of the /predict response, the server's, or "
            "have the client send a new X-Request-ID with every request."
        )
    by_server = labels["request_id"].map(servers.str[0])
    return labels.assign(request_id=by_server.fillna(labels["request_id"]))


def repeated(frame: pd.DataFrame) -> str:
    """The request ids whose (request_id, record) is in `frame` more than once, a few named."""
    ids = sorted(frame.loc[frame.duplicated(KEYS, keep=False), "request_id"].unique())
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def window_metrics(joined: pd.DataFrame, spec: DataSpec, classes: list, threshold: float):
    """The task's metrics of the logged predictions against their labels."""
    if not spec.is_classification:
        actual = pd.to_numeric(joined["actual"], errors="coerce").to_numpy()
        outputs: np.ndarray = joined["prediction"].astype("float64").to_numpy()
        return task_metrics(spec, actual, outputs, classes, threshold)
    by_text = {str(label): label for label in classes}
    unknown = sorted({str(v) for v in joined["actual"]} - set(by_text))
    if unknown:
        raise UserFacingError(
            f"the labels file has classes the model does not know: {unknown}; "
            f"the model's classes are {list(by_text)}."
        )
    actual = np.array([by_text[str(v)] for v in joined["actual"]])
    outputs = joined[[f"{PROBABILITY}{label}" for label in by_text]].to_numpy("float64")
    return task_metrics(spec, actual, outputs, classes, threshold)


def performance(
    logged: pd.DataFrame,
    labels: pd.DataFrame,
    spec: DataSpec,
    classes: list,
    threshold: float,
    packaged: Mapping[str, float],
    allowances: Mapping[str, object],
) -> dict:
    """The window's metrics against the packaged ones; `dropped` where the gate would refuse."""
    joined = join_labels(logged, labels, spec)
    summary: dict = {"labelled": len(joined), "unmatched_labels": len(labels) - len(joined)}
    if joined.empty:
        return summary | {"performance_drop": False, "metrics": {}, "checks": []}
    metrics = window_metrics(joined, spec, classes, threshold)
    # ROC AUC needs every class in the window: a metric the window lacks is not checked.
    checked = {name: value for name, value in allowances.items() if name in metrics}
    checks = check_gate(metrics, packaged, checked) if checked else []
    return summary | {
        "metrics": metrics,
        "unchecked": sorted(set(allowances) - set(checked)),
        "packaged": {check.metric: check.production for check in checks},
        "checks": [
            {
                "metric": check.metric,
                "window": check.candidate,
                "packaged": check.production,
                "allowance": check.allowance,
                "worse_by": check.worse_by,
                "dropped": not check.passed,
            }
            for check in checks
        ],
        "performance_drop": any(not check.passed for check in checks),
    }
