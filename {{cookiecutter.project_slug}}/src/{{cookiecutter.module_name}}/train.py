"""Step 3: fit the model chosen in conf/model on the training split."""

import joblib
import pandas as pd
import structlog
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .artifacts import atomic_path
from .features import feature_matrix
from .schema import TARGET

log = structlog.get_logger(__name__)


def build_model(model_cfg: DictConfig) -> Pipeline:
    """Scaling then the estimator named by `_target_`; scaling is harmless for trees."""
    return Pipeline([("scale", StandardScaler()), ("model", instantiate(model_cfg))])


def fit(train: pd.DataFrame, model_cfg: DictConfig) -> Pipeline:
    model = build_model(model_cfg)
    model.fit(feature_matrix(train), train[TARGET].to_numpy())
    return model


def run(cfg: DictConfig) -> Pipeline:
    train = pd.read_parquet(cfg.data.train_path)
    model = fit(train, cfg.model)
    with atomic_path(cfg.artifacts.model) as tmp:
        joblib.dump(model, tmp)
    log.info("model trained", estimator=cfg.model._target_, rows=len(train))
    return model
