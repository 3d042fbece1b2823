"""Step 1: read the raw data and validate it against the schema built from conf/data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import structlog
from omegaconf import DictConfig

from .. import COMMAND
from ..artifacts import atomic_path
from ..config import as_dict
from ..errors import DataValidationError, UserFacingError
from .pii import mask
from .spec import DataSpec, spec_from_config

log = structlog.get_logger(__name__)

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def data_spec(cfg: DictConfig) -> DataSpec:
    """The data spec of a composed config (its `data` section)."""
    return spec_from_config(as_dict(cfg.data))


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV or Parquet file; an unreadable one is a clear error, not a traceback."""
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise UserFacingError(f"{path}: unknown file type {path.suffix!r}; use .csv or .parquet.")
    if not path.is_file():
        raise UserFacingError(f"{path} not found.")
    try:
        return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path} is not a readable CSV file: {exc}") from exc
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise DataValidationError(f"{path} is not a readable {kind} file: {exc}") from exc


def read_raw(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise UserFacingError(
            f"{path} not found: run `make data` to fetch the data from the DVC remote, "
            f"or `uv run {COMMAND} sample-data` to write the sample data set."
        )
    return read_table(path)


# Table-level rules, said the way a person fixes them.
TABLE_RULES = {
    "column_in_dataframe": "missing column {value!r}: add it to the data",
    "column_in_schema": (
        "unexpected column {value!r}: remove it, or declare it in conf/data "
        "(role: ignored keeps it out of the model)"
    ),
}


def describe_failures(
    failure_cases: pd.DataFrame, first_row: int = 1, limit: int = 5, pii: frozenset = frozenset()
) -> str:
    """One line per broken (column, rule): how many rows, which rows and which values.

    Rows are numbered from `first_row` for the first data row (the line after the header);
    the values of `pii` columns are masked.
    """
    lines = []
    for (column, check), group in failure_cases.groupby(["column", "check"], sort=False):
        if check in TABLE_RULES:
            lines += [TABLE_RULES[check].format(value=v) for v in group["failure_case"]]
            continue
        rows = group["index"].dropna()
        if rows.empty:
            lines.append(f"column {column!r} fails rule {check}")
            continue
        numbers = ", ".join(str(int(i) + first_row) for i in rows.head(limit))
        more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
        shown = group["failure_case"].head(limit)
        values = ", ".join(repr(mask(v) if column in pii else v) for v in shown)
        lines.append(
            f"column {column!r} fails rule {check} in {len(rows)} row(s): "
            f"rows {numbers}{more} (values {values})"
        )
    return "\n".join(lines)


def validate(df: pd.DataFrame, schema, first_row: int = 1) -> pd.DataFrame:
    """Return the validated (type-coerced) frame, or raise naming every broken column and rule."""
    import pandera.errors  # here: reading a file (as `adopt-data` does) needs no pandera

    try:
        return schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        pii = frozenset(n for n, c in schema.columns.items() if (c.metadata or {}).get("pii"))
        raise DataValidationError(
            "the data does not match the rules in conf/data:\n"
            + describe_failures(exc.failure_cases, first_row=first_row, pii=pii)
        ) from None


def run(cfg: DictConfig) -> pd.DataFrame:
    from .schema import raw_schema

    raw = read_raw(cfg.data.raw_path)
    validated = validate(raw, raw_schema(data_spec(cfg)))
    with atomic_path(cfg.data.validated_path) as tmp:
        validated.to_parquet(tmp, index=False)
    log.info("data validated", rows=len(validated), path=cfg.data.validated_path)
    return validated
