"""Step 2: split the validated data; the preprocessing every model starts with.

`build_preprocessor` makes a scikit-learn ColumnTransformer from the data spec:
missing numbers are imputed with the training median, categories are one-hot encoded
over the values the spec allows, and a missing category is all zeros. It sits inside
the fitted pipeline, so training, evaluation, the API and batch scoring transform alike.

`Encoding` is the fitted preprocessing (that transformer and the scaler after it) as
plain arrays: the medians, the category lists, the means and scales, applied in numpy
in float64 exactly as scikit-learn computes them. The served path runs it before the
ONNX graph of the estimator alone: ONNX Runtime has no double-precision Imputer, its
float32 Scaler rounds differently from scikit-learn (which moves rows across tree
splits), and numpy does the same work in microseconds. `release.package` checks that
both paths agree before it ships ONNX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import structlog
from omegaconf import DictConfig
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ..artifacts import atomic_path
from ..data.load import data_spec
from ..data.spec import DataSpec
from ..errors import UserFacingError

log = structlog.get_logger(__name__)

# Below this many rows, a dict lookup per value beats pandas' vectorised indexer.
SMALL_BATCH = 64


def model_input(df: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """The feature columns, in the spec's order: what the fitted pipeline is given."""
    return df[spec.feature_names]


def build_preprocessor(spec: DataSpec) -> ColumnTransformer:
    transformers = []
    if spec.numeric:
        transformers.append(("numeric", SimpleImputer(strategy="median"), spec.numeric))
    if spec.categorical:
        categories = [list(spec.column(name).values) for name in spec.categorical]
        encoder = OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)
        transformers.append(("categorical", encoder, spec.categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


@dataclass(frozen=True)
class Encoding:
    """The fitted `prepare` and `scale` steps as plain data."""

    fill: dict[str, float]
    categories: dict[str, list[str]]
    mean: list[float]
    scale: list[float]

    @classmethod
    def from_fitted(cls, pipeline) -> Encoding:
        """Read a fitted `train.build_model` pipeline; ValueError if its steps are custom."""
        if [name for name, _ in pipeline.steps] != ["prepare", "scale", "model"]:
            raise ValueError("the pipeline's steps are not prepare, scale, model")
        fill: dict[str, float] = {}
        categories: dict[str, list[str]] = {}
        for name, step, columns in pipeline.named_steps["prepare"].transformers_:
            if name == "remainder":
                continue
            if name == "numeric" and isinstance(step, SimpleImputer):
                fill = dict(zip(columns, map(float, step.statistics_), strict=True))
            elif name == "categorical" and isinstance(step, OneHotEncoder):
                found = [list(map(str, c)) for c in step.categories_]
                categories = dict(zip(columns, found, strict=True))
            else:
                raise ValueError(f"preprocessing step {name!r} ({type(step).__name__}) is custom")
        scaler = pipeline.named_steps["scale"]
        if not isinstance(scaler, StandardScaler):
            raise ValueError(f"the scale step ({type(scaler).__name__}) is custom")
        width = len(fill) + sum(len(values) for values in categories.values())
        mean = np.zeros(width) if scaler.mean_ is None else scaler.mean_
        scale = np.ones(width) if scaler.scale_ is None else scaler.scale_
        return cls(fill, categories, [float(v) for v in mean], [float(v) for v in scale])

    @property
    def width(self) -> int:
        return len(self.fill) + sum(len(values) for values in self.categories.values())

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, int]]]:
        """The means, scales and category indexes, built once rather than per request."""
        indexes = {name: {v: i for i, v in enumerate(vs)} for name, vs in self.categories.items()}
        return np.asarray(self.mean), np.asarray(self.scale), indexes

    def transform(self, columns: Mapping[str, Sequence], rows: int) -> np.ndarray:
        """The model matrix for `rows` rows given as column -> values (None/NaN = missing)."""
        mean, scale, indexes = self._arrays
        if rows < SMALL_BATCH:
            x = np.array(self._python_rows(columns, rows, indexes), dtype=np.float64)
        else:
            x = np.zeros((rows, self.width), dtype=np.float64)
            for i, (name, fill) in enumerate(self.fill.items()):
                values = np.asarray(columns[name], dtype=np.float64)
                x[:, i] = np.where(np.isnan(values), fill, values)
            offset = len(self.fill)
            for name, values in self.categories.items():
                codes = pd.Index(values).get_indexer(pd.Series(columns[name], dtype=object))
                known = codes >= 0
                x[np.flatnonzero(known), offset + codes[known]] = 1.0
                offset += len(values)
        # As StandardScaler.transform computes it, so the results are bit for bit the same.
        x -= mean
        x /= scale
        return x.reshape(rows, self.width)

    def _python_rows(self, columns, rows: int, indexes) -> list[list[float]]:
        """A few rows (an API request) in plain Python: numpy's per-call overhead would
        cost more than the work."""
        table = []
        for r in range(rows):
            row = []
            for name, fill in self.fill.items():
                value = columns[name][r]
                row.append(fill if value is None or value != value else value)  # NaN != NaN
            for name, index in indexes.items():
                one_hot = [0.0] * len(index)
                position = index.get(columns[name][r], -1)
                if position >= 0:
                    one_hot[position] = 1.0
                row += one_hot
            table.append(row)
        return table


def split(df: pd.DataFrame, spec: DataSpec, test_size: float, seed: int):
    """A seeded train/test split, stratified on the target for classification."""
    stratify = None
    if spec.is_classification:
        counts = df[spec.target.name].value_counts()
        rare = counts[counts < 2]
        if not rare.empty:
            raise UserFacingError(
                f"class(es) {list(rare.index)} of {spec.target.name!r} have a single row: a "
                "stratified split needs two per class; add rows, or drop those classes from "
                "the data and from target.classes in conf/data."
            )
        stratify = df[spec.target.name]
    train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def run(cfg: DictConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    validated = pd.read_parquet(cfg.data.validated_path)
    train, test = split(validated, data_spec(cfg), cfg.data.test_size, cfg.seed)
    for frame, path in ((train, cfg.data.train_path), (test, cfg.data.test_path)):
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    log.info("data split", train_rows=len(train), test_rows=len(test))
    return train, test
