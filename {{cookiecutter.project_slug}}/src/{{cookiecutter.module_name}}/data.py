"""Step 1: load the raw data and validate it against the schema."""

from pathlib import Path

import pandas as pd
import pandera.errors
import structlog
from omegaconf import DictConfig

from .artifacts import atomic_path
from .errors import DataValidationError, UserFacingError
from .schema import FEATURES, RAW_SCHEMA, TARGET

log = structlog.get_logger(__name__)


def read_raw(path: Path | str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise UserFacingError(
            f"{path} not found: run `dvc pull` to fetch the data from the remote, "
            f"or `{{ cookiecutter.project_slug }} sample-data` to write the sample data set."
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataValidationError(f"{path} is not a readable CSV file: {exc}") from exc


# Table-level rules, said the way a person fixes them.
TABLE_RULES = {
    "column_in_dataframe": "missing column {value!r}: add it to the data",
    "column_in_schema": "unexpected column {value!r}: remove it, or add it to schema.py",
}


def describe_failures(failure_cases: pd.DataFrame, first_row: int = 1, limit: int = 5) -> str:
    """One line per broken (column, rule): how many rows, which rows and which values.

    Rows are numbered from `first_row` for the first data row (the line after the header).
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
        values = ", ".join(repr(v) for v in group["failure_case"].head(limit))
        lines.append(
            f"column {column!r} fails rule {check} in {len(rows)} row(s): "
            f"rows {numbers}{more} (values {values})"
        )
    return "\n".join(lines)


def validate(df: pd.DataFrame, schema=RAW_SCHEMA, first_row: int = 1) -> pd.DataFrame:
    """Return the validated (type-coerced) frame, or raise naming every broken column and rule."""
    try:
        return schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise DataValidationError(
            "the data does not match the schema in schema.py:\n"
            + describe_failures(exc.failure_cases, first_row=first_row)
        ) from None


def write_sample_data(path: Path | str) -> Path:
    """Write the sample data set (breast cancer, scikit-learn's offline copy) as raw CSV."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    renamed = {column: column.replace(" ", "_") for column in frame.columns}
    sample = frame.rename(columns=renamed)[FEATURES]
    # scikit-learn codes benign as 1; here the positive class is the malignant one.
    sample[TARGET] = 1 - frame["target"]
    with atomic_path(path) as tmp:
        sample.to_csv(tmp, index=False)
    return Path(path)


def run(cfg: DictConfig) -> pd.DataFrame:
    raw = read_raw(cfg.data.raw_path)
    validated = validate(raw)
    with atomic_path(cfg.data.validated_path) as tmp:
        validated.to_parquet(tmp, index=False)
    log.info("data validated", rows=len(validated), path=cfg.data.validated_path)
    return validated
