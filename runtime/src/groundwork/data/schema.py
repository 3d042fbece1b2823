"""The pandera schemas, built from the data spec: one source of truth for every check.

`raw_schema` checks the raw file in the pipeline (every column declared, the target
included); `feature_schema` checks model input in batch scoring (the raw features, and the
columns the derived ones are computed from). Derived features are not in either: they are
computed after these checks, and `model.derived` checks them against their own rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .spec import Column, DataSpec


def _range_check(column: Column) -> list[pa.Check]:
    if column.min is not None and column.max is not None:
        return [pa.Check.in_range(column.min, column.max)]
    if column.min is not None:
        return [pa.Check.greater_than_or_equal_to(column.min)]
    if column.max is not None:
        return [pa.Check.less_than_or_equal_to(column.max)]
    return []


def feature_column(column: Column) -> pa.Column:
    """Numbers are coerced to float; categories are compared as text."""
    dtype: type
    if column.role == "numeric":
        dtype, checks = float, _range_check(column)
    else:
        dtype, checks = str, [pa.Check.isin(list(column.values))]
    return pa.Column(
        dtype,
        checks=checks,
        nullable=column.nullable,
        coerce=True,
        description=column.description or None,
        metadata={"example": column.example_value, "pii": column.pii},
    )


def target_dtype(classes: tuple) -> type:
    if classes and all(isinstance(c, bool) for c in classes):
        return bool
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return int
    return str if classes else float


def _bools(values: pd.Series) -> pd.Series:
    """True and False, as bools or as a CSV file's text; any other value is left to fail the
    checks (coercing it would read every non-empty text, "False" too, as True)."""
    spelled = {"True": True, "False": False, "true": True, "false": False}
    parsed = values.map(lambda v: spelled.get(v, v) if isinstance(v, str) else v)
    is_bool = parsed.map(lambda v: isinstance(v, bool | np.bool_))
    return parsed.astype(bool) if is_bool.all() else parsed


def target_column(spec: DataSpec) -> pa.Column:
    classes = spec.target.classes
    dtype = target_dtype(classes) if spec.is_classification else float
    if dtype is str:
        classes = tuple(str(c) for c in classes)
    return pa.Column(
        dtype,
        checks=[pa.Check.isin(list(classes))] if spec.is_classification else [],
        parsers=pa.Parser(_bools) if dtype is bool else None,
        nullable=False,
        coerce=dtype is not bool,
        description=spec.target.description or None,
    )


def feature_schema(spec: DataSpec) -> pa.DataFrameSchema:
    features = {column.name: feature_column(column) for column in spec.raw_features}
    # A column `derive` reads and the model does not: required, its values left to `derive`.
    read = {name: pa.Column(nullable=True) for name in spec.derive_inputs if name not in features}
    return pa.DataFrameSchema(
        {**features, **read},
        strict=True,
        ordered=False,
        name="features",
    )


def raw_schema(spec: DataSpec) -> pa.DataFrameSchema:
    passthrough = {
        column.name: pa.Column(nullable=True, required=True)
        for column in spec.columns
        if not column.is_feature
    }
    return pa.DataFrameSchema(
        {
            **{column.name: feature_column(column) for column in spec.raw_features},
            **passthrough,
            spec.target.name: target_column(spec),
        },
        strict=True,
        name="raw",
    )
