"""Step 5: package the model with its lineage, and load a package back safely.

A package is a directory with `model.joblib` and `lineage.json`: the git sha,
the DVC hash of the raw data, the resolved config, the metrics, the library
versions and the sha256 of model.joblib. Loading checks that sha256 before
unpickling, so a changed or corrupt model is refused, never served.
"""

import datetime
import hashlib
import json
import os
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib
import structlog
from omegaconf import DictConfig, OmegaConf

from .artifacts import atomic_dir
from .errors import UserFacingError
from .log import git_sha

log = structlog.get_logger(__name__)

MODEL_FILE = "model.joblib"
LINEAGE_FILE = "lineage.json"
LIBRARIES = ["scikit-learn", "numpy", "pandas", "pandera", "pyarrow", "joblib"]
REBUILD = "rebuild it with `make pipeline`, or pass --model PATH to another package"


class ModelPackageError(UserFacingError):
    """A package is missing, incomplete, corrupt or altered since it was built."""


@dataclass(frozen=True)
class ModelPackage:
    model: Any
    lineage: dict
    path: Path

    @property
    def version(self) -> str:
        """The registry's version when it set one, else the start of the checksum."""
        return self.lineage.get("version") or self.lineage["checksum"][:12]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_hash(raw_path: Path | str) -> str:
    """The md5 DVC records for the raw data in its .dvc pointer (else the file's own md5)."""
    raw_path = Path(raw_path)
    pointer = raw_path.with_name(raw_path.name + ".dvc")
    if pointer.exists():
        return str(OmegaConf.load(pointer).outs[0].md5)
    # Not tracked by DVC (yet): the same md5 DVC would record.
    return hashlib.md5(raw_path.read_bytes(), usedforsecurity=False).hexdigest()


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version()} | {
        name: metadata.version(name) for name in LIBRARIES
    }


def collect_lineage(cfg: DictConfig) -> dict:
    """Where the model came from: code, data, config and scores."""
    metrics_file = Path(cfg.artifacts.evaluation) / "metrics.json"
    return {
        "git_sha": git_sha(),
        "data": {"path": str(cfg.data.raw_path), "md5": data_hash(cfg.data.raw_path)},
        "params": OmegaConf.to_container(cfg, resolve=True),
        "metrics": json.loads(metrics_file.read_text()),
        "libraries": library_versions(),
    }


def write_package(model_file: Path | str, target: Path | str, lineage: dict) -> Path:
    """Copy the model into a new package at `target`, replacing it only once complete."""
    with atomic_dir(target) as tmp:
        shutil.copyfile(model_file, tmp / MODEL_FILE)
        lineage = lineage | {
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "checksum": sha256(tmp / MODEL_FILE),
        }
        (tmp / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n")
    return Path(target)


def load_package(path: Path | str) -> ModelPackage:
    """Load a package after checking that model.joblib is exactly the one packaged."""
    path = Path(path)
    model_file, lineage_file = path / MODEL_FILE, path / LINEAGE_FILE
    if not path.is_dir():
        raise ModelPackageError(f"model package {path} not found: {REBUILD}.")
    for required in (lineage_file, model_file):
        if not required.is_file():
            raise ModelPackageError(f"{required} is missing from the package: {REBUILD}.")
    try:
        lineage = json.loads(lineage_file.read_text())
        expected = lineage["checksum"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ModelPackageError(f"{lineage_file} is unreadable ({exc!r}): {REBUILD}.") from None
    actual = sha256(model_file)
    if actual != expected:
        raise ModelPackageError(
            f"{model_file} does not match the checksum in {lineage_file} "
            f"(sha256 {actual[:12]}..., expected {expected[:12]}...): the file changed "
            f"after packaging; {REBUILD}."
        )
    try:
        model = joblib.load(model_file)
    except Exception as exc:  # unpickling can fail with any error type
        raise ModelPackageError(f"{model_file} cannot be loaded ({exc!r}): {REBUILD}.") from None
    return ModelPackage(model=model, lineage=lineage, path=path)


def resolve_package_path(explicit: Path | str | None = None) -> Path:
    """The package to serve or score with: --model, else $MODEL_PATH, else the default.

    The default is the registry's production model when a registry module exists,
    else the pipeline's latest candidate (artifacts.package in params.yaml).
    """
    from importlib.util import find_spec

    chosen = explicit or os.environ.get("MODEL_PATH")
    if chosen:
        return Path(chosen)
    if find_spec(f"{__package__}.registry") is not None:
        from .registry import production_path

        return Path(production_path())
    from .config import load_params

    return Path(load_params().artifacts.package)


def run(cfg: DictConfig) -> Path:
    target = write_package(cfg.artifacts.model, cfg.artifacts.package, collect_lineage(cfg))
    package = load_package(target)
    log.info("model packaged", path=str(target), version=package.version)
    return target
