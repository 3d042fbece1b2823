"""Step 5: package the model with its lineage, and load a package back safely.

A package is a directory with `model.joblib` (the fitted scikit-learn pipeline),
`model.onnx` (the same model for ONNX Runtime, which serves and scores it) and
`lineage.json`: the git sha, the DVC hash of the raw data, the resolved config,
the metrics, the library versions and the sha256 of each model file. Loading
checks those sha256s first, so a changed or corrupt model is refused, never served.
"""

import datetime
import hashlib
import json
import os
import platform
import shutil
from dataclasses import dataclass
from functools import cached_property
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
ONNX_FILE = "model.onnx"
LINEAGE_FILE = "lineage.json"
# Each model file and the lineage key holding its sha256.
CHECKSUMS = {MODEL_FILE: "checksum", ONNX_FILE: "onnx_checksum"}
LIBRARIES = ["scikit-learn", "numpy", "pandas", "pandera", "pyarrow", "joblib", "onnxruntime"]
REBUILD = "rebuild it with `make pipeline`, or pass --model PATH to another package"


class ModelPackageError(UserFacingError):
    """A package is missing, incomplete, corrupt or altered since it was built."""


@dataclass(frozen=True)
class ModelPackage:
    """A verified package; the model files are opened only when first used."""

    lineage: dict
    path: Path

    @property
    def version(self) -> str:
        """The registry's version when it set one, else the start of the checksum."""
        return self.lineage.get("version") or self.lineage["checksum"][:12]

    @cached_property
    def model(self) -> Any:
        """The scikit-learn pipeline, as trained."""
        try:
            return joblib.load(self.path / MODEL_FILE)
        except Exception as exc:  # unpickling can fail with any error type
            raise ModelPackageError(
                f"{self.path / MODEL_FILE} cannot be loaded ({exc!r}): {REBUILD}."
            ) from None

    def onnx_session(self, threads: int | None = None):
        """An ONNX Runtime session for model.onnx, or None when the package has none."""
        if "onnx_checksum" not in self.lineage:
            return None
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            return onnxruntime.InferenceSession(
                self.path / ONNX_FILE, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelPackageError(
                f"{self.path / ONNX_FILE} cannot be loaded ({exc!r}): {REBUILD}."
            ) from None


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


def export_onnx(model: Any, target: Path) -> bool:
    """Convert the fitted pipeline to ONNX; False (and a warning) when it has no converter.

    ONNX Runtime scores one row in ~15 µs where scikit-learn's per-call checks and
    per-tree loop take milliseconds. Double precision keeps it close to scikit-learn
    (test_predict.py checks the two agree).
    """
    import numpy as np
    from skl2onnx import to_onnx

    sample = np.zeros((1, model.n_features_in_), dtype=np.float64)
    final_step = model.steps[-1][1] if hasattr(model, "steps") else model
    try:
        onnx_model = to_onnx(
            model,
            sample,
            options={id(final_step): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        log.warning("no ONNX converter: the model is served by scikit-learn", error=repr(exc))
        return False
    target.write_bytes(onnx_model.SerializeToString())
    return True


def write_package(model_file: Path | str, target: Path | str, lineage: dict) -> Path:
    """Write a new package at `target` from the model file, replacing it only once complete."""
    with atomic_dir(target) as tmp:
        shutil.copyfile(model_file, tmp / MODEL_FILE)
        files = [MODEL_FILE]
        if export_onnx(joblib.load(tmp / MODEL_FILE), tmp / ONNX_FILE):
            files.append(ONNX_FILE)
        lineage = lineage | {
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **{CHECKSUMS[name]: sha256(tmp / name) for name in files},
        }
        (tmp / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n")
    return Path(target)


def load_package(path: Path | str) -> ModelPackage:
    """Open a package after checking that its model files are exactly the ones packaged."""
    path = Path(path)
    lineage_file = path / LINEAGE_FILE
    if not path.is_dir():
        raise ModelPackageError(f"model package {path} not found: {REBUILD}.")
    if not lineage_file.is_file():
        raise ModelPackageError(f"{lineage_file} is missing from the package: {REBUILD}.")
    try:
        lineage = json.loads(lineage_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelPackageError(f"{lineage_file} is unreadable ({exc!r}): {REBUILD}.") from None
    if not isinstance(lineage, dict) or "checksum" not in lineage:
        raise ModelPackageError(f"{lineage_file} is unreadable (no checksum): {REBUILD}.")
    for name, key in CHECKSUMS.items():
        if key not in lineage:
            continue
        model_file = path / name
        if not model_file.is_file():
            raise ModelPackageError(f"{model_file} is missing from the package: {REBUILD}.")
        actual, expected = sha256(model_file), lineage[key]
        if actual != expected:
            raise ModelPackageError(
                f"{model_file} does not match the checksum in {lineage_file} "
                f"(sha256 {actual[:12]}..., expected {expected[:12]}...): the file changed "
                f"after packaging; {REBUILD}."
            )
    return ModelPackage(lineage=lineage, path=path)


def resolve_package_path(explicit: Path | str | None = None) -> Path:
    """The package to serve or score with: --model, else $MODEL_PATH, else production's."""
    chosen = explicit or os.environ.get("MODEL_PATH")
    if chosen:
        return Path(chosen)
    from .registry import production_path

    return Path(production_path())


def run(cfg: DictConfig) -> Path:
    target = write_package(cfg.artifacts.model, cfg.artifacts.package, collect_lineage(cfg))
    package = load_package(target)
    log.info("model packaged", path=str(target), version=package.version)
    return target
