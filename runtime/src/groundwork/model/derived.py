"""Derived features: the columns the project's `derive` (src/<package>/features.py) computes.

The data config declares each one (`derived: true`, its role and rules, and `from:` the raw
columns it reads). The same function runs wherever rows meet the model: on the validated
data before the split (the `features` step), so training and evaluation learn from them;
and in `release.predictor.Predictor`, before the fitted preprocessing, for the API (one
record or thousands), batch scoring and Spark. The package carries a copy of features.py,
so what is served computes what was trained on.

`derive` takes and returns numpy arrays, so the service image needs neither pandas nor
scikit-learn for it, and the fitted preprocessing after it stays the plain `Encoding` that
ONNX is served behind. What it returns is checked here against the config's rules, in
numpy for the same reason (pandera is not in the service image).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.spec import Column, DataSpec
from ..errors import DataValidationError, UserFacingError

Derive = Callable[[dict[str, np.ndarray]], Mapping[str, Any]]
FUNCTION = "derive"
MODULE = "features"  # src/<package>/features.py
SHOWN_ROWS = 5


class DeriveError(UserFacingError):
    """`derive` is missing, fails, or returns what the data config does not declare."""


def project_derive(package: str) -> Derive:
    """`derive` of the project's own package (`<package>.features`)."""
    name = f"{package}.{MODULE}"
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise DeriveError(
            f"the data config declares derived columns, but {name} cannot be imported "
            f"({exc}): write `def {FUNCTION}(columns)` in src/{package}/{MODULE}.py."
        ) from None
    return _function(module, f"src/{package}/{MODULE}.py")


def project_source(package: str) -> str:
    """The text of the project's features.py, which a model package carries."""
    found = importlib.util.find_spec(f"{package}.{MODULE}")
    if found is None or found.origin is None:
        raise DeriveError(f"src/{package}/{MODULE}.py not found: it holds `{FUNCTION}`.")
    return Path(found.origin).read_text(encoding="utf-8")


def file_derive(path: Path, module_name: str) -> Derive:
    """`derive` of a features.py file outside any package (a model package's copy)."""
    found = importlib.util.spec_from_file_location(module_name, path)
    if found is None or found.loader is None:
        raise DeriveError(f"{path} cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return _function(module, str(path))


def _function(module: Any, where: str) -> Derive:
    function = getattr(module, FUNCTION, None)
    if not callable(function):
        raise DeriveError(f"{where} has no function `{FUNCTION}(columns)`.")
    return function


def input_arrays(
    spec: DataSpec, columns: Mapping[str, Sequence | np.ndarray]
) -> dict[str, np.ndarray]:
    """The raw columns `derive` reads: numbers as float64 (missing is NaN), anything else as
    an object array of the values as sent (missing is None; dates as ISO text)."""
    arrays = {}
    for name in spec.derive_inputs:
        values = columns[name]
        if spec.column(name).role == "numeric":
            arrays[name] = np.asarray(values, dtype=np.float64)
        else:
            arrays[name] = _as_sent(values)
    return arrays


def _as_sent(values: Sequence | np.ndarray) -> np.ndarray:
    """Values as a JSON request sends them, whichever path they came by: a date as ISO text
    (a frame may hold datetimes), a gap as None (a frame may hold NaN)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":  # numpy datetimes
        text = np.datetime_as_string(values)
        return np.array([None if t == "NaT" else t for t in text.tolist()], dtype=object)
    sent = [
        None if v is None or v != v else (v.isoformat() if hasattr(v, "isoformat") else v)
        for v in list(values)
    ]
    return np.array(sent, dtype=object)


def derived_columns(
    spec: DataSpec,
    derive: Derive,
    columns: Mapping[str, Sequence | np.ndarray],
    rows: int,
    first_row: int = 1,
    check: bool = True,
) -> dict[str, np.ndarray]:
    """Run `derive` on `rows` rows of raw `columns`; its columns, checked against the config
    unless `check` is False (see `within_rules`).

    Rows are numbered from `first_row` in the errors, as the file or request numbers them.
    """
    try:
        found = derive(input_arrays(spec, columns))
    except Exception as exc:  # the project's own code: any error, said with its source
        raise DeriveError(f"`{FUNCTION}` in features.py failed: {exc!r}") from exc
    declared = [column.name for column in spec.derived]
    if not isinstance(found, Mapping) or set(found) != set(declared):
        returned = sorted(found) if isinstance(found, Mapping) else type(found).__name__
        raise DeriveError(
            f"`{FUNCTION}` in features.py returns {returned}, and the data config declares "
            f"{sorted(declared)} as derived: return each declared column, and declare each "
            "returned one in conf/data (`derived: true`, with its role and `from:`)."
        )
    derived = {column.name: _typed(column, found[column.name], rows) for column in spec.derived}
    if not check:
        return derived
    problems = [
        line
        for column in spec.derived
        for line in _described(column, derived[column.name], first_row)
    ]
    if problems:
        raise DataValidationError(
            "the derived features do not match the rules in conf/data:\n" + "\n".join(problems)
        )
    return derived


def _typed(column: Column, values: Any, rows: int) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (rows,):
        raise DeriveError(
            f"`{FUNCTION}` returns {column.name!r} with shape {array.shape} for {rows} rows: "
            "return one value a row (work row by row, on whole columns)."
        )
    if column.role == "numeric":
        try:
            return array.astype(np.float64)
        except (TypeError, ValueError):
            raise DeriveError(
                f"`{FUNCTION}` returns {column.name!r} with values that are not numbers "
                f"(dtype {array.dtype}), and the data config says it is numeric."
            ) from None
    texts = [None if v is None or v != v else str(v) for v in array.tolist()]  # NaN != NaN
    return np.array(texts, dtype=object)


def within_rules(spec: DataSpec, derived: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
    """Which rows' derived values keep every rule: rows synthesized column by column can
    combine into values no real row has (a ratio of two independent draws), so a synthetic
    sample keeps only these."""
    kept = np.ones(rows, dtype=bool)
    for column in spec.derived:
        for _, broken in _rules(column, derived[column.name]):
            kept &= ~broken
    return kept


def _described(column: Column, values: np.ndarray, first_row: int) -> list[str]:
    """One line a broken rule: how many rows, which rows and which values (as describe_failures
    in data.load says them for raw columns)."""
    lines = []
    for rule, broken in _rules(column, values):
        rows = np.flatnonzero(broken)
        if len(rows):
            numbers = ", ".join(str(r + first_row) for r in rows[:SHOWN_ROWS])
            more = f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else ""
            shown = ", ".join(repr(v) for v in values[rows[:SHOWN_ROWS]].tolist())
            lines.append(
                f"derived column {column.name!r} fails rule {rule} in {len(rows)} row(s): "
                f"rows {numbers}{more} (values {shown})"
            )
    return lines


def _rules(column: Column, values: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Each rule of the column and the rows that break it."""
    rules: list[tuple[str, np.ndarray]] = []
    if column.role == "numeric":
        missing = np.isnan(values)
        rules.append(("finite", np.isinf(values)))
        if column.min is not None:
            rules.append((f"greater_than_or_equal_to({column.min:g})", values < column.min))
        if column.max is not None:
            rules.append((f"less_than_or_equal_to({column.max:g})", values > column.max))
    else:
        missing = np.array([v is None for v in values], dtype=bool)
        allowed = set(column.values)
        rules.append(("isin", np.array([v is not None and v not in allowed for v in values])))
    if not column.nullable:
        rules.append(("not_nullable", missing))
    return rules
