"""Step 3: fit the model chosen in conf/model on the training split."""

from __future__ import annotations

import joblib
import pandas as pd
import structlog
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..artifacts import atomic_path
from ..data.load import data_spec
from ..data.spec import DataSpec
from ..errors import UserFacingError
from .features import build_preprocessor
from .outputs import model_input

log = structlog.get_logger(__name__)


def build_model(spec: DataSpec, model_cfg: DictConfig) -> Pipeline:
    """Preprocessing from the spec, scaling (harmless for trees), then the estimator named by
    `_target_`, which must suit the task."""
    estimator = instantiate(model_cfg)
    fits = is_classifier(estimator) if spec.is_classification else is_regressor(estimator)
    if not fits:
        kind, example = (
            ("classifier", "sklearn.ensemble.RandomForestClassifier")
            if spec.is_classification
            else ("regressor", "sklearn.ensemble.RandomForestRegressor")
        )
        raise UserFacingError(
            f"model {model_cfg._target_} is not a {kind}, and the data config's task is "
            f"{spec.task}: set `_target_` in the conf/model file to a {kind}, e.g. {example}."
        )
    return Pipeline(
        [("prepare", build_preprocessor(spec)), ("scale", StandardScaler()), ("model", estimator)]
    )


def fit(train: pd.DataFrame, spec: DataSpec, model_cfg: DictConfig) -> Pipeline:
    model = build_model(spec, model_cfg)
    model.fit(model_input(train, spec), train[spec.target.name].to_numpy())
    return model


def run(cfg: DictConfig) -> Pipeline:
    train = pd.read_parquet(cfg.data.train_path)
    model = fit(train, data_spec(cfg), cfg.model)
    with atomic_path(cfg.artifacts.model) as tmp:
        joblib.dump(model, tmp)
    log.info("model trained", estimator=cfg.model._target_, rows=len(train))
    return model
