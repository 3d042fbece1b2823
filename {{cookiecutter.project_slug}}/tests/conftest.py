"""Fixtures that follow the data config: change conf/data (or run `adopt-data`) and the
tests run on the new columns, with no edit here."""

from pathlib import Path

import pandas as pd
import pytest
from groundwork.config import compose_config
from groundwork.data.load import data_spec, read_raw, validate
from groundwork.data.sample import synthesize
from groundwork.data.schema import raw_schema
from groundwork.data.spec import DataSpec
from groundwork.model.features import with_project_features
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
# Enough rows for a model to learn something, few enough for a run in seconds.
SAMPLE_ROWS = 400


@pytest.fixture(scope="session")
def cfg() -> DictConfig:
    return compose_config(conf_dir=ROOT / "conf")


@pytest.fixture(scope="session")
def spec(cfg) -> DataSpec:
    return data_spec(cfg)


@pytest.fixture(scope="session")
def sample(cfg, spec) -> pd.DataFrame:
    """Validated rows of the project's raw data (at most SAMPLE_ROWS of them, seeded), or,
    before `make data` fetched it, rows synthesized from the data config; with the derived
    features of src/ added, as the model sees them (synthesized rows whose derived values
    break a rule are left out)."""
    raw_path = ROOT / cfg.data.raw_path
    synthetic = not raw_path.exists()
    if synthetic:
        raw = synthesize(spec, rows=SAMPLE_ROWS)
    else:
        raw = read_raw(raw_path)
        raw = raw.sample(min(len(raw), SAMPLE_ROWS), random_state=0).reset_index(drop=True)
    return with_project_features(validate(raw, raw_schema(spec)), spec, synthetic)


def records(frame: pd.DataFrame, spec: DataSpec, rows: int) -> list[dict]:
    """The first `rows` rows as the API takes them: raw inputs, missing values as None."""
    inputs = frame[spec.inputs].head(rows).astype(object)
    return [
        {key: (None if pd.isna(value) else value) for key, value in row.items()}
        for row in inputs.to_dict(orient="records")
    ]
