"""From the fitted pipeline to its outputs and labels: one rule for evaluation and serving.

No scikit-learn, pandas or Hydra imports, so that the service image can leave them out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from ..data.spec import DataSpec


def model_input(df: pd.DataFrame, spec: DataSpec) -> pd.DataFrame:
    """The feature columns, in the spec's order: what the fitted pipeline is given."""
    return df[spec.feature_names]


def model_outputs(model, frame: pd.DataFrame, spec: DataSpec) -> np.ndarray:
    """The fitted pipeline's probabilities (classification) or values (regression)."""
    x = model_input(frame, spec)
    return model.predict_proba(x) if spec.is_classification else model.predict(x)


def predicted_labels(proba: np.ndarray, classes: list, threshold: float) -> np.ndarray:
    """Binary: the second class when its probability reaches the threshold; else the likeliest."""
    labels = np.asarray(classes)
    if len(classes) == 2:
        return labels[(proba[:, 1] >= threshold).astype(int)]
    return labels[proba.argmax(axis=1)]
