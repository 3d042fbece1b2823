"""Fixtures that follow the data config of the fixture project in tests/project (a project as
a bake writes it: conf/, params.yaml, dvc.yaml, a notebook): switch its default data config
and the tests run on the new columns, with no edit here."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

# DVC sets up its log handlers on the streams of its first import. Imported here, at
# collection, they write to pytest's stream of the whole session, not to the stream of the
# first test that runs DVC in-process (capsys), which is closed after that test: DVC would
# then fail every later test in which it logs a warning ("I/O operation on closed file").
from dvc import logger as _dvc_logger  # noqa: F401

from groundwork.config import compose_config
from groundwork.data.load import (
    data_spec,
    read_raw,
    validate,
)
from groundwork.data.sample import synthesize
from groundwork.data.schema import raw_schema
from groundwork.data.spec import (
    Column,
    DataSpec,
)

ROOT = Path(__file__).resolve().parent / "project"
SAMPLE_ROWS = 1000


@pytest.fixture
def cfg():
    return compose_config(conf_dir=ROOT / "conf")


@pytest.fixture(scope="session")
def spec() -> DataSpec:
    return data_spec(compose_config(conf_dir=ROOT / "conf"))


@pytest.fixture(scope="session")
def sample(spec) -> pd.DataFrame:
    """Validated rows of the project's raw data (at most SAMPLE_ROWS of them, seeded), or,
    before `dvc pull`, rows synthesized from the data config."""
    cfg = compose_config(conf_dir=ROOT / "conf")
    raw_path = ROOT / cfg.data.raw_path
    if raw_path.exists():
        raw = read_raw(raw_path)
        raw = raw.sample(min(len(raw), SAMPLE_ROWS), random_state=0).reset_index(drop=True)
    else:
        raw = synthesize(spec, rows=400)
    return validate(raw, raw_schema(spec))


def records(frame: pd.DataFrame, spec: DataSpec, rows: int | None = None) -> list[dict]:
    """Rows of raw inputs as JSON-ready dicts: missing values as None."""
    features = frame[spec.inputs].head(rows) if rows else frame[spec.inputs]
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in features.astype(object).to_dict(orient="records")
    ]


def breaking_value(column: Column):
    """A value that breaks the column's rule: beyond its range, or not an allowed category."""
    if column.role == "categorical":
        return "not-a-category"
    if column.max is not None:
        return column.max + abs(column.max) + 1.0
    return column.min - abs(column.min) - 1.0


def checked_feature(spec: DataSpec) -> Column:
    """The first feature with a rule that a value can break."""
    return next(
        c
        for c in spec.features
        if c.role == "categorical" or c.min is not None or c.max is not None
    )


def rule_name(column: Column) -> str:
    if column.role == "categorical":
        return "isin"
    if column.min is not None and column.max is not None:
        return "in_range"
    return "greater_than_or_equal_to" if column.min is not None else "less_than_or_equal_to"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch project: conf/ from this project, data written into tmp_path."""
    (tmp_path / "conf").symlink_to(ROOT / "conf", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def git(root: Path, *args: str) -> str:
    """`git ARGS` in `root`; its output, or a failure that shows git's message."""
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def new_repository(root: Path) -> None:
    """A git repository in `root` with its own identity, so no global git config is needed."""
    git(root, "init", "--quiet")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")


def git_commit(root: Path, message: str = "test commit") -> str:
    """Commit everything in `root` (a new repository the first time) and return the full
    sha that `git log` reports."""
    if not (root / ".git").exists():
        new_repository(root)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", message)
    return git(root, "log", "-1", "--format=%H").strip()


def dvc(root: Path, *args: str) -> None:
    """`dvc ARGS` in `root`, as a command, as a user types it; a failure shows DVC's message."""
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, f"dvc {' '.join(args)} failed: {done.stderr}"


def dvc_add(root: Path, path: Path | str) -> None:
    """`dvc add` of a file of the git repository `root` (DVC is set up in the repository the
    first time)."""
    if not (root / ".dvc").exists():
        dvc(root, "init", "--quiet")
    dvc(root, "add", "--quiet", str(root / path))


@pytest.fixture
def commit(monkeypatch):
    """`git_commit`, with GIT_SHA unset: set (as in the image) it overrides what git says."""
    monkeypatch.delenv("GIT_SHA", raising=False)
    return git_commit


def write_raw(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def damaged_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` as Parquet with its first page's header overwritten: the footer still reads,
    the rows do not."""
    import pyarrow.parquet as pq

    frame.to_parquet(path, index=False)
    start = pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 40] = b"\xff" * 40
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def fitted(sample, spec):
    """The default model fitted on the sample's train split, with the test split."""
    from groundwork.model.features import split
    from groundwork.model.train import fit

    cfg = compose_config(conf_dir=ROOT / "conf")
    train, test = split(sample, spec, cfg.data.test_size, cfg.seed)
    return fit(train, spec, cfg.model), train, test


def make_package(
    model, spec, test, root: Path, tolerance: float = 1e-4, features_source: str | None = None
) -> Path:
    """Package a fitted model as the pipeline does (with the project's features.py as
    `features_source` when `spec` declares derived features)."""
    import joblib
    from omegaconf import OmegaConf

    from groundwork.model.evaluate import (
        model_outputs,
        task_metrics,
    )
    from groundwork.release.package import (
        build_package,
        library_versions,
    )

    cfg = compose_config(conf_dir=ROOT / "conf")
    classes = model.classes_.tolist() if spec.is_classification else []
    outputs = model_outputs(model, test, spec)
    metrics = task_metrics(spec, test[spec.target.name].to_numpy(), outputs, classes, 0.5)
    root.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, root / "model.joblib")
    lineage = {
        "git_sha": "unknown",
        "data": {"path": "sample", "md5": "unknown"},
        "params": OmegaConf.to_container(cfg, resolve=True),
        "metrics": metrics,
        "libraries": library_versions(),
    }
    return build_package(
        root / "model.joblib",
        root / "candidate",
        lineage,
        spec,
        test,
        tolerance=tolerance,
        features_source=features_source,
    )


@pytest.fixture(scope="session")
def model_package(fitted, spec, tmp_path_factory) -> Path:
    """A package of the default model fitted on the sample, as the pipeline writes it."""
    model, _, test = fitted
    return make_package(model, spec, test, tmp_path_factory.mktemp("package"))


@pytest.fixture
def package_copy(model_package, tmp_path) -> Path:
    """A copy of the package that a test may damage."""
    import shutil

    return Path(shutil.copytree(model_package, tmp_path / "package"))


@pytest.fixture(scope="session")
def unseen_rows(spec) -> pd.DataFrame:
    """Valid rows spread over every declared range and category, with missing values where
    the config allows them: not only where the training data lies."""
    return synthesize(spec, rows=500, seed=1)
