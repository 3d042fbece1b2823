"""Step 2: split the validated data and lay out the feature matrix the model expects."""

import numpy as np
import pandas as pd
import structlog
from omegaconf import DictConfig
from sklearn.model_selection import train_test_split

from .artifacts import atomic_path
from .schema import FEATURES, TARGET

log = structlog.get_logger(__name__)


def feature_matrix(df: pd.DataFrame) -> np.ndarray:
    """The model's input: the schema's feature columns, in the schema's order, as floats."""
    return df[FEATURES].to_numpy(dtype=np.float64)


def split(df: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified, seeded train/test split: the same inputs give the same split."""
    train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=df[TARGET])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def run(cfg: DictConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    validated = pd.read_parquet(cfg.data.validated_path)
    train, test = split(validated, cfg.data.test_size, cfg.seed)
    for frame, path in ((train, cfg.data.train_path), (test, cfg.data.test_path)):
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    log.info("features built", train_rows=len(train), test_rows=len(test))
    return train, test
