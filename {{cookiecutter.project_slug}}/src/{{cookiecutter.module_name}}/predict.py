"""The one predict function: the API and batch scoring both call `Predictor`.

Tabular input is validated with the schema (`data.validate`), laid out with
`features.feature_matrix`, then scored. The API validates each record with a
request model derived from the same schema and hands over the matrix directly.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .data import validate
from .features import feature_matrix
from .package import ModelPackage
from .schema import FEATURE_SCHEMA

PROBABILITY = "probability"
PREDICTION = "prediction"

# Up to this many rows the compiled form below is faster than scikit-learn, whose
# per-call checks and per-tree loop cost ~5 ms even for one row (200 trees);
# beyond it scikit-learn's compiled tree walk wins.
SMALL_BATCH = 512


def _scaler(step: StandardScaler) -> Callable[[np.ndarray], np.ndarray]:
    mean = step.mean_ if step.with_mean else 0.0
    scale = step.scale_ if step.with_std else 1.0
    return lambda x: (x - mean) / scale


def _logistic(step: LogisticRegression) -> Callable[[np.ndarray], np.ndarray]:
    coef, intercept = step.coef_[0], step.intercept_[0]
    return lambda x: 1.0 / (1.0 + np.exp(-(x @ coef + intercept)))


def _forest(step: RandomForestClassifier | ExtraTreesClassifier) -> Callable:
    """All trees as flat arrays, walked level by level for every tree at once.

    Leaves point to themselves, so `max_depth` steps reach every leaf. Like
    scikit-learn, features are compared as float32 and the trees' class
    fractions are averaged.
    """
    trees = [estimator.tree_ for estimator in step.estimators_]
    offsets = np.cumsum([0] + [tree.node_count for tree in trees[:-1]])

    def links(side: str) -> np.ndarray:
        return np.concatenate(
            [
                np.where(tree.children_left < 0, np.arange(tree.node_count), getattr(tree, side))
                + offset
                for tree, offset in zip(trees, offsets, strict=True)
            ]
        )

    left, right = links("children_left"), links("children_right")
    children = np.stack([right, left], axis=1).ravel()  # children[2 * node + goes_left]
    feature = np.concatenate([np.maximum(tree.feature, 0) for tree in trees])
    threshold = np.concatenate([tree.threshold for tree in trees])
    values = np.concatenate([tree.value[:, 0, :] for tree in trees])
    positive = values[:, 1] / values.sum(axis=1)
    depth = max(tree.max_depth for tree in trees)

    def proba(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32).astype(np.float64)
        if len(x) == 1:
            # One row: take every node's branch at once, then follow the links.
            next_node = np.where(x[0, feature] <= threshold, left, right)
            node = offsets
            for _ in range(depth):
                node = next_node[node]
            return positive[node].sum(keepdims=True) / len(node)
        flat, row_start = x.ravel(), (np.arange(len(x)) * x.shape[1])[:, None]
        node = np.broadcast_to(offsets, (len(x), len(offsets)))
        for _ in range(depth):
            goes_left = flat[row_start + feature[node]] <= threshold[node]
            node = children[2 * node + goes_left]
        return positive[node].sum(axis=1) / len(offsets)

    return proba


_COMPILERS = {
    StandardScaler: _scaler,
    LogisticRegression: _logistic,
    RandomForestClassifier: _forest,
    ExtraTreesClassifier: _forest,
}


def compile_model(model) -> Callable[[np.ndarray], np.ndarray] | None:
    """The positive-class probability as plain numpy, or None for unsupported models."""
    steps = [step for _, step in model.steps] if isinstance(model, Pipeline) else [model]
    if not all(type(step) in _COMPILERS for step in steps):
        return None
    if list(getattr(steps[-1], "classes_", [])) != [0, 1]:
        return None
    functions = [_COMPILERS[type(step)](step) for step in steps]

    def proba(x: np.ndarray) -> np.ndarray:
        for function in functions:
            x = function(x)
        return x

    return proba


class Predictor:
    """Scores feature rows with a packaged model: probability of the positive class and label."""

    def __init__(self, package: ModelPackage):
        self.package = package
        self.model = package.model
        self.version = package.version
        self.threshold = float(package.lineage["params"]["evaluate"]["threshold"])
        self._compiled = compile_model(self.model)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Positive-class probabilities for a validated float matrix in schema order."""
        if self._compiled is not None and len(x) <= SMALL_BATCH:
            return self._compiled(x)
        # The input is already validated: skip scikit-learn's repeated checks.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return self.model.predict_proba(x)[:, 1]

    def predict_matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        proba = self.predict_proba(x)
        return proba, (proba >= self.threshold).astype(np.int64)

    def predict_frame(self, df: pd.DataFrame, first_row: int = 1) -> pd.DataFrame:
        """Validate the feature columns of `df` and return its probabilities and labels.

        Columns that are not features (ids, ...) are ignored; `first_row` numbers
        the frame's first row in error messages (its row in the file).
        """
        features = df[[column for column in df.columns if column in FEATURE_SCHEMA.columns]]
        # Number rows by position: a chunk's index may not start at 0.
        features = features.reset_index(drop=True)
        validated = validate(features, FEATURE_SCHEMA, first_row=first_row)
        proba, labels = self.predict_matrix(feature_matrix(validated))
        return pd.DataFrame({PROBABILITY: proba, PREDICTION: labels}, index=df.index)
