"""Data that needs no download: the shipped sample sets, and rows synthesized from a spec.

The sample sets come from scikit-learn's offline copies. `synthesize` makes rows that
obey every rule of a spec, with a target that depends on the features, so the tests
can train on any data config, even before the raw data is pulled.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts import atomic_path
from .spec import DataSpec


def breast_cancer() -> pd.DataFrame:
    """Ten nuclei measurements; the target is 1 for a malignant tumour."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    sample = frame.rename(columns={c: c.replace(" ", "_") for c in frame.columns})
    sample = sample[[c for c in sample.columns if c.startswith("mean_")]]
    # scikit-learn codes benign as 1; here the positive class is the malignant one.
    sample["malignant"] = 1 - frame["target"]
    return sample


def diabetes() -> pd.DataFrame:
    """Age, sex, body mass index, blood pressure and six blood serum measurements, unscaled;
    the target is a measure of disease progression one year later."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    # The source codes sex as 1 or 2 without saying which is which: kept as those codes, as text.
    frame["sex"] = frame["sex"].map({1.0: "1", 2.0: "2"})
    return frame.rename(columns={"target": "progression"})


SAMPLES: dict[str, Callable[[], pd.DataFrame]] = {
    "breast_cancer": breast_cancer,
    "diabetes": diabetes,
}


def write_sample(name: str, path: Path | str) -> Path:
    """Write the named sample set as a raw CSV file."""
    with atomic_path(path) as tmp:
        SAMPLES[name]().to_csv(tmp, index=False)
    return Path(path)


def synthesize(spec: DataSpec, rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Raw rows that pass the spec's schema, with a target the features explain. An
    identifier or ignored column with an `example:` holds it in every row (`derive` may
    read it: a date, say); derived columns are left to `derive`."""
    rng = np.random.default_rng(seed)
    frame: dict[str, np.ndarray | list] = {}
    signal = np.zeros(rows)
    for column in spec.columns:
        values: np.ndarray
        if column.derived:  # computed from the rest by the project's `derive`
            continue
        if column.example is not None and not column.is_feature:  # a date `derive` reads
            values = np.full(rows, column.example, dtype=object)
        elif column.role == "numeric":
            # An open bound lies 2 beyond the other (below a max of -5 too); with neither, -1 to 1.
            top = column.max if column.max is not None else 1.0
            low = column.min if column.min is not None else top - 2.0
            high = column.max if column.max is not None else low + 2.0
            values = rng.uniform(low, high, rows)
            signal += (values - low) / ((high - low) or 1.0)
        elif column.role == "categorical":
            values = rng.choice(np.array(column.values, dtype=object), rows)
            codes = pd.Index(column.values).get_indexer(pd.Index(values))
            signal += codes / max(len(column.values) - 1, 1)
        elif column.role == "identifier":
            values = np.arange(1, rows + 1)
        else:
            values = np.full(rows, "n/a", dtype=object)
        if column.is_feature and column.nullable:
            values = values.astype(object)
            values[rng.random(rows) < 0.05] = None
        frame[column.name] = values
    signal += rng.normal(0, 0.05, rows)
    if spec.is_classification:
        classes = list(spec.target.classes)
        ranks = signal.argsort().argsort()
        frame[spec.target.name] = [classes[r * len(classes) // rows] for r in ranks]
    else:
        frame[spec.target.name] = 100 * signal
    return pd.DataFrame(frame)
