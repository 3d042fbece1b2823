from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.module_name }}.config import compose_config
from {{ cookiecutter.module_name }}.data import validate, write_sample_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> pd.DataFrame:
    """The sample data set, validated: what the pipeline's first step produces."""
    path = write_sample_data(tmp_path_factory.mktemp("raw") / "sample.csv")
    return validate(pd.read_csv(path))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch project: conf/ from this project, data written into tmp_path."""
    (tmp_path / "conf").symlink_to(ROOT / "conf", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cfg():
    return compose_config(conf_dir=ROOT / "conf")
