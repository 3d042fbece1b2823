"""Steps 3 and 4: every configured model learns the data; the metrics and plots follow
the task."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT
from omegaconf import OmegaConf

from groundwork.config import compose_config
from groundwork.errors import UserFacingError
from groundwork.model.evaluate import (
    HIGHER_IS_BETTER,
    baseline_metrics,
    classification_metrics,
    model_outputs,
    plot_figures,
    regression_metrics,
    save_images,
    task_metrics,
)
from groundwork.model.features import (
    split,
)
from groundwork.model.train import (
    build_model,
    fit,
)

MODELS = sorted(path.stem for path in (ROOT / "conf/model").glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS)
def test_each_model_beats_a_constant_on_rows_it_has_not_seen(sample, spec, model):
    """Fitted on the train split and scored on the test split only, every model must beat
    the best constant the train split suggests: it learned, not memorised."""
    cfg = compose_config([f"model={model}"], conf_dir=ROOT / "conf")
    train, test = split(sample, spec, cfg.data.test_size, cfg.seed)
    fitted = fit(train, spec, cfg.model)
    outputs = model_outputs(fitted, test, spec)
    truth = test[spec.target.name].to_numpy()
    classes = fitted.classes_.tolist() if spec.is_classification else []
    scores = task_metrics(spec, truth, outputs, classes, 0.5)
    assert set(scores) <= set(HIGHER_IS_BETTER)
    if spec.is_classification:
        majority = train[spec.target.name].mode()[0]
        assert scores["accuracy"] > np.mean(truth == majority)
    else:  # r2 > 0: closer than the test split's own mean, which the model never saw
        assert scores["r2"] > 0.0


def test_a_model_of_the_wrong_kind_is_refused(spec):
    other = "LinearRegression" if spec.is_classification else "LogisticRegression"
    model_cfg = OmegaConf.create({"_target_": f"sklearn.linear_model.{other}"})
    with pytest.raises(UserFacingError, match=f"the data config's task is {spec.task}"):
        build_model(spec, model_cfg)


def test_evaluate_says_which_metric_the_test_split_cannot_score(workdir, cfg, spec, fitted):
    """A test split without one of the model's classes: no ROC AUC, and a warning that
    names the class, not a silent gap in metrics.json."""
    import joblib
    import structlog

    from groundwork.model import evaluate

    if not spec.is_classification:
        pytest.skip("a regression split has no classes")
    model, train, test = fitted
    target, absent = spec.target.name, model.classes_.tolist()[-1]
    Path(cfg.artifacts.model).parent.mkdir(parents=True)
    joblib.dump(model, cfg.artifacts.model)
    Path(cfg.data.test_path).parent.mkdir(parents=True, exist_ok=True)
    train.to_parquet(cfg.data.train_path)
    test[test[target] != absent].to_parquet(cfg.data.test_path)
    with structlog.testing.capture_logs() as logs:
        scores = evaluate.run(cfg)
    assert "roc_auc" not in scores and "f1" in scores
    [warning] = [log for log in logs if log["log_level"] == "warning"]
    assert warning["event"] == f"roc_auc not computed on {cfg.data.test_path}"
    assert f"class(es) [{absent!r}] have no row in this split" in warning["reason"]


def test_binary_metrics_of_a_perfect_and_a_useless_model():
    truth = np.array([0, 0, 1, 1])
    perfect = classification_metrics(
        truth, np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9]]), [0, 1], 0.5
    )
    assert {k: v for k, v in perfect.items() if k != "log_loss"} == {
        "accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "roc_auc": 1.0
    }  # fmt: skip
    useless = classification_metrics(
        truth, np.array([[0.1, 0.9], [0.2, 0.8], [0.8, 0.2], [0.9, 0.1]]), [0, 1], 0.5
    )
    assert useless["accuracy"] == 0.0 and useless["roc_auc"] == 0.0
    assert useless["log_loss"] > perfect["log_loss"]


def test_multiclass_metrics_use_every_class():
    truth = np.array(["a", "b", "c", "c"])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]])
    scores = classification_metrics(truth, proba, ["a", "b", "c"], 0.5)
    assert scores["accuracy"] == 0.75
    assert 0 < scores["roc_auc"] <= 1 and scores["log_loss"] > 0
    assert scores["recall"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_regression_metrics():
    scores = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert scores["r2"] == pytest.approx(1 - 4 / 2)


def test_the_binary_baseline_predicts_the_train_split_s_majority_with_its_shares():
    """Trained on 0, 0, 0, 1: probability 0.25 of class 1, so always class 0."""
    spec = SimpleNamespace(is_classification=True)
    scores = baseline_metrics(spec, np.array([0, 0, 0, 1]), np.array([0, 1]), 0.5)
    assert scores == pytest.approx(
        {
            "accuracy": 0.5,
            "precision": 0.25,  # class 0: 1 of 2 right; class 1 never predicted: 0
            "recall": 0.5,  # class 0: 1; class 1: 0
            "f1": 1 / 3,  # class 0: 2 * 0.5 * 1 / 1.5; class 1: 0
            "log_loss": -(np.log(0.75) + np.log(0.25)) / 2,
            "roc_auc": 0.5,  # one score for every row ranks nothing
        }
    )


def test_the_multiclass_baseline_scores_a_third_of_the_macro_recall():
    spec = SimpleNamespace(is_classification=True)
    train = np.array(["a", "a", "b", "c"])
    scores = baseline_metrics(spec, train, np.array(["a", "b", "c"]), 0.5)
    assert scores["accuracy"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["roc_auc"] == pytest.approx(0.5)


def test_the_regression_baseline_is_the_train_split_s_mean():
    spec = SimpleNamespace(is_classification=False)
    scores = baseline_metrics(spec, np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0]), 0.5)
    # The mean, 2, misses by 1 and 3; the test split's own mean is 3 (squares 4 + 4).
    assert scores == pytest.approx({"mae": 2.0, "rmse": np.sqrt(5.0), "r2": 1 - 10 / 8})


BINARY = (np.array([0, 0, 1, 1]), np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]]))
MULTICLASS = (
    np.array(["a", "b", "c", "c"]),
    np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2]]),
)


@pytest.mark.parametrize(
    ("classification", "truth", "outputs", "classes", "images"),
    [
        (True, *BINARY, [0, 1], {"confusion_matrix.png", "roc.png"}),
        (True, *MULTICLASS, ["a", "b", "c"], {"confusion_matrix.png"}),
        (
            False,
            np.array([1.0, 2.0, 3.0, 4.0]),
            np.array([1.2, 1.9, 3.3, 3.8]),
            [],
            {"predicted_vs_actual.png", "residuals.png"},
        ),
    ],
    ids=["binary", "multiclass", "regression"],
)
def test_plots_are_images_per_task(tmp_path, classification, truth, outputs, classes, images):
    """The ROC curve for two classes only; every plot a PNG that `dvc plots show` shows offline."""
    spec = SimpleNamespace(is_classification=classification)
    save_images(plot_figures(spec, truth, outputs, classes, 0.5), tmp_path)
    assert {path.name for path in tmp_path.iterdir()} == images
    for name in images:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width >= 300 and height >= 300, (name, width, height)
