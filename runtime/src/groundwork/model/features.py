"""Step 2: derive the project's own features, split the data; the preprocessing every
model starts with.

`with_derived` adds the columns the project's `derive` computes (see `model.derived`), so
training and evaluation read them from the split like any other feature.

`build_preprocessor` makes a scikit-learn ColumnTransformer from the data spec:
missing numbers are imputed with the training median, categories are one-hot encoded
over the values the spec allows, and a missing category is all zeros. It sits inside
the fitted pipeline, so training, evaluation, the API and batch scoring transform alike.

`model.encoding.Encoding` is the fitted form of that transformer and the scaler after
it, which the served path runs in numpy.
"""

from __future__ import annotations

import pandas as pd
import structlog
from omegaconf import DictConfig
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder

from ..artifacts import atomic_path
from ..data.load import data_spec
from ..data.spec import DataSpec
from ..errors import UserFacingError
from ..project import own_package
from .derived import Derive, derived_columns, project_derive, within_rules

log = structlog.get_logger(__name__)


def build_preprocessor(spec: DataSpec) -> ColumnTransformer:
    transformers = []
    if spec.numeric:
        transformers.append(("numeric", SimpleImputer(strategy="median"), spec.numeric))
    if spec.categorical:
        categories = [list(spec.column(name).values) for name in spec.categorical]
        encoder = OneHotEncoder(categories=categories, handle_unknown="ignore", sparse_output=False)
        transformers.append(("categorical", encoder, spec.categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def with_derived(df: pd.DataFrame, spec: DataSpec, derive: Derive) -> pd.DataFrame:
    """`df` with the derived columns added, each checked against its rules."""
    if not spec.derived:
        return df
    columns = {name: df[name].to_numpy() for name in spec.derive_inputs}
    return df.assign(**derived_columns(spec, derive, columns, len(df)))


def with_project_features(
    df: pd.DataFrame, spec: DataSpec, synthetic: bool = False
) -> pd.DataFrame:
    """`df` with the derived columns of this project's `derive` (src/<package>/features.py):
    the data as the model sees it, for the pipeline, the notebooks and the tests. Rows of
    `synthetic` data whose derived values break a rule are left out (see `within_rules`);
    in real data they are an error."""
    if not spec.derived:
        return df
    derive = project_derive(own_package())
    if not synthetic:
        return with_derived(df, spec, derive)
    columns = {name: df[name].to_numpy() for name in spec.derive_inputs}
    derived = derived_columns(spec, derive, columns, len(df), check=False)
    kept = within_rules(spec, derived, len(df))
    return df.assign(**derived)[kept].reset_index(drop=True)


def split(df: pd.DataFrame, spec: DataSpec, test_size: float, seed: int):
    """A seeded train/test split, stratified on the target for classification.

    Every class has a row in the test split: stratification rounds a class's share of the
    test rows to whole rows, which can be zero for a class of a few rows, and a test split
    without a class cannot score it (ROC AUC needs every class).
    """
    df = df.reset_index(drop=True)  # unique labels: rows are moved between splits by label
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
    if spec.is_classification:
        train, test = _every_class_tested(train, test, df[spec.target.name])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _every_class_tested(train: pd.DataFrame, test: pd.DataFrame, target: pd.Series):
    """Move one row of each class the test split lacks into it, and, to keep its size, one
    row back to train of the class whose test count most exceeds its exact share (among
    those with two test rows or more, so that none is left without)."""
    name = str(target.name)
    share = target.value_counts() * len(test) / len(target)
    for label in share.index.difference(list(test[name].unique())):
        counts = test[name].value_counts()
        surplus = (counts[counts >= 2] - share).dropna()
        moved = train.index[train[name] == label][:1]
        returned = test.index[:0]  # no class to spare a row (a tiny split): test grows by one
        if len(surplus):
            returned = test.index[test[name] == surplus.idxmax()][:1]
        train, test = (
            pd.concat([train.drop(moved), test.loc[returned]]),
            pd.concat([test.drop(returned), train.loc[moved]]),
        )
    return train, test


def run(cfg: DictConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = data_spec(cfg)
    frame = with_project_features(pd.read_parquet(cfg.data.validated_path), spec)
    train, test = split(frame, spec, cfg.data.test_size, cfg.seed)
    for frame, path in ((train, cfg.data.train_path), (test, cfg.data.test_path)):
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    log.info("data split", train_rows=len(train), test_rows=len(test), derived=len(spec.derived))
    return train, test
