"""Step 4: score the held-out split; write metrics and plots for `dvc metrics/plots`.

The metrics follow the task: classification (any number of classes) or regression.
`HIGHER_IS_BETTER` says each metric's direction, which the promotion gate reads.

The plots are PNG images, drawn here with matplotlib, because the page `dvc plots show`
writes must work offline: DVC draws data (JSON) plots with Vega, which its page loads
from a CDN, so without the internet the page is blank; an image plot needs no script.
The points behind each image stay beside it as DVCLive's JSON (plots/sklearn/,
plots/custom/), to chart them some other way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import structlog
from sklearn import metrics

from ..data.load import data_spec
from ..data.spec import DataSpec
from .outputs import model_outputs, predicted_labels

if TYPE_CHECKING:
    from dvclive import Live
    from matplotlib.figure import Figure
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
    if not unscorable(y_true, classes):  # ROC AUC needs every class present
        if len(classes) == 2:
            positive = (y_true == classes[1]).astype(int)
            scores["roc_auc"] = metrics.roc_auc_score(positive, proba[:, 1])
        else:
            scores["roc_auc"] = metrics.roc_auc_score(
                y_true, proba, multi_class="ovr", labels=classes
            )
    return {name: float(value) for name, value in scores.items()}


def unscorable(y_true: np.ndarray, classes: list) -> dict[str, str]:
    """The metrics `task_metrics` leaves out on this target, each with the reason.

    ROC AUC ranks each class against the others, so it needs a row of every class the
    model knows: on a split that lacks one, it is not computed (rather than guessed).
    """
    present = set(np.asarray(y_true).tolist())
    absent = [label for label in classes if label not in present]
    if not classes or not absent:
        return {}
    return {"roc_auc": f"class(es) {absent} have no row in this split; ROC AUC needs every class"}


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(y_true, predicted))),
        "mae": float(metrics.mean_absolute_error(y_true, predicted)),
        "r2": float(metrics.r2_score(y_true, predicted)),
    }


def baseline_outputs(spec: DataSpec, y_train: np.ndarray, rows: int) -> tuple[np.ndarray, list]:
    """The trivial model's outputs for `rows` rows, fitted on the train split's target alone.

    Classification: the class shares of the train split (scikit-learn's "prior" strategy,
    which predicts the most frequent class, as "most_frequent" does, but gives the shares
    as probabilities: a log loss of 0/1 probabilities would be infinite, not a baseline).
    Regression: the train split's mean. Returns the outputs and the classes, in order.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor

    x_train, x = np.zeros((len(y_train), 1)), np.zeros((rows, 1))
    if spec.is_classification:
        dummy = DummyClassifier(strategy="prior").fit(x_train, y_train)
        return dummy.predict_proba(x), dummy.classes_.tolist()
    return DummyRegressor(strategy="mean").fit(x_train, y_train).predict(x), []


def baseline_metrics(
    spec: DataSpec, y_train: np.ndarray, y_true: np.ndarray, threshold: float
) -> dict[str, float]:
    """The trivial model's metrics on the test split's target `y_true`."""
    outputs, classes = baseline_outputs(spec, np.asarray(y_train), len(y_true))
    return task_metrics(spec, np.asarray(y_true), outputs, classes, threshold)


def task_metrics(
    spec: DataSpec, y_true: np.ndarray, outputs: np.ndarray, classes: list, threshold: float
) -> dict[str, float]:
    if spec.is_classification:
        return classification_metrics(y_true, outputs, classes, threshold)
    return regression_metrics(y_true, outputs)


def _log_plot_data(live: Live, spec: DataSpec, y_true, outputs, classes, threshold) -> None:
    """The points behind the plots, as DVCLive's JSON."""
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


def canvas_figure(size=(6.0, 4.5)) -> Figure:
    """A bare Figure on the Agg canvas: no pyplot, so no display and no GUI backend."""
    # Imported here: only the reports draw (matplotlib is in the `pipeline` group).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _figure(title: str, xlabel: str, ylabel: str, size=(6.0, 4.5)):
    figure = canvas_figure(size)
    axes = figure.add_subplot()
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return figure, axes


def _confusion_figure(y_true, predicted, classes: list) -> Figure:
    counts = metrics.confusion_matrix(y_true, predicted, labels=classes)
    side = max(4.5, 1.0 + 0.6 * len(classes))
    figure, axes = _figure("Confusion matrix", "predicted", "actual", size=(side + 1.0, side))
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = range(len(classes))
    names = [str(c) for c in classes]
    axes.set_xticks(ticks, names, rotation=45 if len(classes) > 4 else 0)
    axes.set_yticks(ticks, names)
    half = counts.max() / 2
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if count > half else "black"  # readable on dark and light cells
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    return figure


def _roc_figure(positive: np.ndarray, score: np.ndarray, label) -> Figure:
    fpr, tpr, _ = metrics.roc_curve(positive, score)
    auc = metrics.auc(fpr, tpr)
    figure, axes = _figure(
        f"ROC curve (positive class: {label})",
        "false positive rate",
        "true positive rate",
        size=(5.0, 5.0),
    )
    axes.plot(fpr, tpr, label=f"model (AUC = {auc:.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlim=(0, 1), ylim=(0, 1.01))
    axes.legend(loc="lower right")
    return figure


def _scatter_figure(x, y, title: str, xlabel: str, ylabel: str, diagonal: bool) -> Figure:
    figure, axes = _figure(title, xlabel, ylabel)
    axes.scatter(x, y, s=12, alpha=0.6)
    if diagonal:  # a perfect model's points lie on y = x
        low, high = float(min(np.min(x), np.min(y))), float(max(np.max(x), np.max(y)))
        axes.plot([low, high], [low, high], linestyle="--", color="grey")
    else:  # residuals centre on 0
        axes.axhline(0.0, linestyle="--", color="grey")
    return figure


def plot_figures(
    spec: DataSpec, y_true: np.ndarray, outputs: np.ndarray, classes: list, threshold: float
) -> dict[str, Figure]:
    """The task's plots by file name: the confusion matrix, and the ROC curve for two
    classes; or predicted against actual, and the residuals."""
    if spec.is_classification:
        predicted = predicted_labels(outputs, classes, threshold)
        figures = {"confusion_matrix.png": _confusion_figure(y_true, predicted, classes)}
        if len(classes) == 2:
            positive = (np.asarray(y_true) == classes[1]).astype(int)
            figures["roc.png"] = _roc_figure(positive, outputs[:, 1], classes[1])
        return figures
    residuals = np.asarray(y_true) - outputs
    title = "Residuals (actual - predicted)"
    return {
        "predicted_vs_actual.png": _scatter_figure(
            y_true, outputs, "Predicted against actual", "actual", "predicted", diagonal=True
        ),
        "residuals.png": _scatter_figure(
            outputs, residuals, title, "predicted", "residual", diagonal=False
        ),
    }


def save_images(figures: dict[str, Figure], folder: Path) -> None:
    """Write each figure as a PNG into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        # No "Software" stamp: the same model and data give the same bytes.
        figure.savefig(folder / name, dpi=100, metadata={"Software": None})


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
    for metric, reason in unscorable(y_true, classes).items():
        log.warning(f"{metric} not computed on {cfg.data.test_path}", reason=reason)
    train = pd.read_parquet(cfg.data.train_path, columns=[spec.target.name])
    baseline = baseline_metrics(spec, train[spec.target.name].to_numpy(), y_true, threshold)
    # DVCLive writes metrics.json and the plot data in the formats DVC reads;
    # dvc.yaml declares them, so DVCLive must not edit it.
    with Live(dir=cfg.artifacts.evaluation, dvcyaml=None, save_dvc_exp=False, report=None) as live:
        for name, value in scores.items():
            live.log_metric(name, value, plot=False)
        for name, value in baseline.items():  # nested in metrics.json: {"baseline": {...}}
            live.log_metric(f"baseline/{name}", value, plot=False)
        _log_plot_data(live, spec, y_true, outputs, classes, threshold)
        # plots/images/, where DVCLive keeps images: it empties the folder on each run.
        images = Path(live.plots_dir) / "images"
        save_images(plot_figures(spec, y_true, outputs, classes, threshold), images)
    log.info("model evaluated", **scores, baseline=baseline)
    return scores
