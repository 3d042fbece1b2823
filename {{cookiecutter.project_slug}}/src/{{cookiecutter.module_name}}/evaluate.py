"""Step 4: score the held-out split; write metrics and plots for `dvc metrics/plots`."""

import joblib
import numpy as np
import pandas as pd
import structlog
from dvclive import Live
from omegaconf import DictConfig
from sklearn import metrics

from .features import feature_matrix
from .schema import TARGET

log = structlog.get_logger(__name__)


def compute_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (proba >= threshold).astype(int)
    return {
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "precision": float(metrics.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, predicted, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(metrics.roc_auc_score(y_true, proba)),
    }


def run(cfg: DictConfig) -> dict[str, float]:
    model = joblib.load(cfg.artifacts.model)
    test = pd.read_parquet(cfg.data.test_path)
    y_true = test[TARGET].to_numpy()
    proba = model.predict_proba(feature_matrix(test))[:, 1]
    scores = compute_metrics(y_true, proba, cfg.evaluate.threshold)
    # DVCLive writes metrics.json and the plot data in the formats DVC reads;
    # dvc.yaml declares them, so DVCLive must not edit it.
    with Live(dir=cfg.artifacts.evaluation, dvcyaml=None, save_dvc_exp=False, report=None) as live:
        for name, value in scores.items():
            live.log_metric(name, value, plot=False)
        live.log_sklearn_plot("roc", y_true, proba, name="roc.json")
        predicted = (proba >= cfg.evaluate.threshold).astype(int)
        live.log_sklearn_plot("confusion_matrix", y_true, predicted, name="confusion_matrix.json")
    log.info("model evaluated", **scores)
    return scores
