"""The fitted preprocessing as plain data, applied in numpy: what the served path runs.

`Encoding` holds the fitted `prepare` and `scale` steps of the pipeline
(`model.features.build_preprocessor` and the scaler after it): the medians, the category
lists, the means and scales, applied in float64 exactly as scikit-learn computes them.
The served path runs it before the ONNX graph of the estimator alone: ONNX Runtime has no
double-precision Imputer, its float32 Scaler rounds differently from scikit-learn (which
moves rows across tree splits), and numpy does the same work in microseconds.
`release.package` checks that both paths agree before it ships ONNX.

numpy only, so that the service image needs neither scikit-learn nor pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat

import numpy as np

# Below this many rows, plain Python beats numpy's per-call overhead.
SMALL_BATCH = 64


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
        # Only packaging reads a fitted pipeline: serving needs no scikit-learn.
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

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

    def transform(self, columns: Mapping[str, Sequence | np.ndarray], rows: int) -> np.ndarray:
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
            for name, index in indexes.items():
                # A C-level map over dict.get: as fast as pandas' indexer, without pandas.
                found = map(index.get, columns[name], repeat(-1))
                codes = np.fromiter(found, dtype=np.intp, count=rows)
                known = codes >= 0
                x[np.flatnonzero(known), offset + codes[known]] = 1.0
                offset += len(index)
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
