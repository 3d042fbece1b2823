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


@pytest.fixture(scope="session")
def model_package(sample, tmp_path_factory) -> Path:
    """A package of the default model fitted on the sample, as the pipeline writes it."""
    import joblib
    from omegaconf import OmegaConf

    from {{ cookiecutter.module_name }}.evaluate import compute_metrics
    from {{ cookiecutter.module_name }}.features import feature_matrix, split
    from {{ cookiecutter.module_name }}.package import library_versions, write_package
    from {{ cookiecutter.module_name }}.train import fit

    cfg = compose_config(conf_dir=ROOT / "conf")
    train, test = split(sample, cfg.data.test_size, cfg.seed)
    model = fit(train, cfg.model)
    proba = model.predict_proba(feature_matrix(test))[:, 1]
    metrics = compute_metrics(test["malignant"].to_numpy(), proba, cfg.evaluate.threshold)
    root = tmp_path_factory.mktemp("package")
    joblib.dump(model, root / "model.joblib")
    lineage = {
        "git_sha": "unknown",
        "data": {"path": "sample", "md5": "unknown"},
        "params": OmegaConf.to_container(cfg, resolve=True),
        "metrics": metrics,
        "libraries": library_versions(),
    }
    return write_package(root / "model.joblib", root / "candidate", lineage)


@pytest.fixture
def package_copy(model_package, tmp_path) -> Path:
    """A copy of the package that a test may damage."""
    import shutil

    return Path(shutil.copytree(model_package, tmp_path / "package"))
