import numpy as np
import pytest
from conftest import ROOT

from {{ cookiecutter.module_name }}.config import compose_config
from {{ cookiecutter.module_name }}.evaluate import compute_metrics
from {{ cookiecutter.module_name }}.features import feature_matrix, split
from {{ cookiecutter.module_name }}.train import fit


@pytest.mark.parametrize("model", ["random_forest", "logistic_regression"])
def test_each_model_learns_the_sample(sample, model):
    cfg = compose_config([f"model={model}"], conf_dir=ROOT / "conf")
    train, test = split(sample, test_size=0.25, seed=0)
    fitted = fit(train, cfg.model)
    proba = fitted.predict_proba(feature_matrix(test))[:, 1]
    scores = compute_metrics(test["malignant"].to_numpy(), proba, threshold=0.5)
    assert scores["roc_auc"] > 0.9
    assert scores["accuracy"] > 0.85


def test_metrics_of_a_perfect_and_a_useless_model():
    truth = np.array([0, 0, 1, 1])
    perfect = compute_metrics(truth, np.array([0.1, 0.2, 0.8, 0.9]), threshold=0.5)
    assert perfect == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "roc_auc": 1.0}
    useless = compute_metrics(truth, np.array([0.9, 0.8, 0.2, 0.1]), threshold=0.5)
    assert useless["accuracy"] == 0.0 and useless["roc_auc"] == 0.0
