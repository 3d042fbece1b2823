"""Step 4: score the held-out split; write metrics and plots for `dvc metrics/plots`.

The metrics follow the task: classification (any number of classes) or regression.
`HIGHER_IS_BETTER` says each metric's direction, which the promotion gate reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import structlog
from sklearn import metrics

from ..data.load import data_spec
from ..data.spec import DataSpec
from .features import model_input

if TYPE_CHECKING:
    from dvclive import Live
    from omegaconf import DictConfig

log = structlog.get_logger(__name__)

HIGHER_IS_BETTER = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
    "r2": True,
}


def predicted_labels(proba: np.ndarray, classes: list, threshold: float) -> np.ndarray:
    """Binary: the second class when its probability reaches the threshold; else the likeliest."""
    labels = np.asarray(classes)
    if len(classes) == 2:
        return labels[(proba[:, 1] >= threshold).astype(int)]
    return labels[proba.argmax(axis=1)]


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, classes: list, threshold: float
) -> dict[str, float]:
    predicted = predicted_labels(proba, classes, threshold)
    y_true = np.asarray(y_true)
    # ONNX Runtime's float32 probabilities sum to 1 within ~1e-7; log_loss wants them exact.
    proba = proba / proba.sum(axis=1, keepdims=True)
    averaged = {"average": "macro", "labels": classes, "zero_division": 0}
    scores = {
        "accuracy": metrics.accuracy_score(y_true, predicted),
        "precision": metrics.precision_score(y_true, predicted, **averaged),
        "recall": metrics.recall_score(y_true, predicted, **averaged),
        "f1": metrics.f1_score(y_true, predicted, **averaged),
        "log_loss": metrics.log_loss(y_true, np.clip(proba, 1e-15, 1), labels=classes),
    }
    if len(set(y_true.tolist())) == len(classes):  # ROC AUC needs every class present
        if len(classes) == 2:
            positive = (y_true == classes[1]).astype(int)
            scores["roc_auc"] = metrics.roc_auc_score(positive, proba[:, 1])
        else:
            scores["roc_auc"] = metrics.roc_auc_score(
                y_true, proba, multi_class="ovr", labels=classes
            )
    return {name: float(value) for name, value in scores.items()}


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, predicted))),
        "mae": float(metrics.mean_absolute_error(y_true, predicted)),
        "r2": float(metrics.r2_score(y_true, predicted)),
    }


def model_outputs(model, frame: pd.DataFrame, spec: DataSpec) -> np.ndarray:
    """The fitted pipeline's probabilities (classification) or values (regression)."""
    x = model_input(frame, spec)
    return model.predict_proba(x) if spec.is_classification else model.predict(x)


def task_metrics(
    spec: DataSpec, y_true: np.ndarray, outputs: np.ndarray, classes: list, threshold: float
) -> dict[str, float]:
    if spec.is_classification:
        return classification_metrics(y_true, outputs, classes, threshold)
    return regression_metrics(y_true, outputs)


def _log_plots(live: Live, spec: DataSpec, y_true, outputs, classes, threshold) -> None:
    if spec.is_classification:
        predicted = predicted_labels(outputs, classes, threshold)
        live.log_sklearn_plot(
            "confusion_matrix",
            [str(v) for v in y_true],
            [str(v) for v in predicted],
            name="confusion_matrix.json",
        )
        if len(classes) == 2:
            positive = (np.asarray(y_true) == classes[1]).astype(int)
            live.log_sklearn_plot("roc", positive, outputs[:, 1], name="roc.json")
        return
    points = pd.DataFrame(
        {"actual": y_true, "predicted": outputs, "residual": np.asarray(y_true) - outputs}
    )
    live.log_plot("predicted_vs_actual", points, x="actual", y="predicted", template="scatter")
    live.log_plot("residuals", points, x="predicted", y="residual", template="scatter")


def run(cfg: DictConfig) -> dict[str, float]:
    # Imported here: the serving image has neither; the predictor needs only the functions above.
    import joblib
    from dvclive import Live

    spec = data_spec(cfg)
    model = joblib.load(cfg.artifacts.model)
    test = pd.read_parquet(cfg.data.test_path)
    y_true = test[spec.target.name].to_numpy()
    outputs = model_outputs(model, test, spec)
    classes = model.classes_.tolist() if spec.is_classification else []
    threshold = float(cfg.evaluate.threshold)
    scores = task_metrics(spec, y_true, outputs, classes, threshold)
    # DVCLive writes metrics.json and the plot data in the formats DVC reads;
    # dvc.yaml declares them, so DVCLive must not edit it.
    with Live(dir=cfg.artifacts.evaluation, dvcyaml=None, save_dvc_exp=False, report=None) as live:
        for name, value in scores.items():
            live.log_metric(name, value, plot=False)
        _log_plots(live, spec, y_true, outputs, classes, threshold)
    log.info("model evaluated", **scores)
    return scores
