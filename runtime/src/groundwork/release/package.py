"""Step 5: package the model with its lineage, and load a package back safely.

A package is a directory with
- `model.joblib`: the fitted scikit-learn pipeline;
- `signature.json`: what the predict path needs: the data spec, the task, the classes
  in the model's order, the decision threshold and the fitted preprocessing as arrays;
- `model.onnx` (when verified): the estimator alone, for ONNX Runtime (the preprocessing
  runs in numpy from `signature.json`, see `model.encoding.Encoding`);
- `features.py` (when the data config declares derived features): a copy of the project's
  src/<package>/features.py, whose `derive` the predict path runs before the preprocessing
  (see `model.derived`), so a package scores as it was trained wherever it is served;
- `lineage.json`: the git sha and the code and config files that differed from it
  (`git_dirty`, `git_changes`), the DVC hash of the raw data, the resolved config, the
  metrics, the library versions, the ONNX verification, the sha256 of each file and
  what the model costs to serve (`cost`, see `release.cost`); and, last,
  `lineage_checksum`, the sha256 of the rest of the lineage, so that an edit of the
  lineage alone (better metrics, another data hash) is refused too.

ONNX is verified, not assumed: `package` scores a sample of the test split with both
scikit-learn and ONNX Runtime and ships `model.onnx` only when they agree within the
tolerance. Loading checks every sha256 first, so a changed or corrupt file is refused.
A registered version (`release.registry` sets its `version`) that changed is fetched
again from the DVC remote; a candidate is rebuilt.

Loading a package with ONNX needs only numpy and ONNX Runtime: the service image has no
scikit-learn, pandas or Hydra, so what only packaging or the scikit-learn path uses is
imported where it is used.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from ..artifacts import atomic_dir
from ..data.spec import DataSpec, spec_from_config, spec_to_config
from ..errors import UserFacingError
from ..log import git_sha
from ..model.derived import Derive, file_derive
from ..model.encoding import Encoding
from ..model.outputs import model_outputs, predicted_labels
from ..worktree import RUN_INPUTS, changed_files

if TYPE_CHECKING:
    import pandas as pd
    from omegaconf import DictConfig

log = structlog.get_logger(__name__)

MODEL_FILE = "model.joblib"
SIGNATURE_FILE = "signature.json"
ONNX_FILE = "model.onnx"
FEATURES_FILE = "features.py"
LINEAGE_FILE = "lineage.json"
# Each packaged file and the lineage key holding its sha256.
CHECKSUMS = {
    MODEL_FILE: "checksum",
    SIGNATURE_FILE: "signature_checksum",
    ONNX_FILE: "onnx_checksum",
    FEATURES_FILE: "features_checksum",
}
LINEAGE_CHECKSUM = "lineage_checksum"
# The runtime first: the platform version that built a model is part of its lineage.
LIBRARIES = [
    "groundwork-runtime",
    "scikit-learn",
    "numpy",
    "pandas",
    "pandera",
    "pyarrow",
    "joblib",
    "onnxruntime",
]
REBUILD = "rebuild it with `make pipeline`, or pass --model PATH to another package"
VERIFY_ROWS = 2000


class ModelPackageError(UserFacingError):
    """A package is missing, incomplete, corrupt or altered since it was built."""


class OnnxModel:
    """model.onnx behind the numpy preprocessing: raw feature columns in, model outputs out."""

    def __init__(self, session, encoding: Encoding, is_classifier: bool):
        self.session, self.encoding = session, encoding
        self._input = session.get_inputs()[0].name
        single = session.get_inputs()[0].type == "tensor(float)"
        self._dtype = np.float32 if single else np.float64
        # skl2onnx's outputs: a classifier's label, then its probabilities; a regressor's values.
        self._output = session.get_outputs()[1 if is_classifier else 0].name
        self.is_classifier = is_classifier

    def outputs(self, columns, rows: int) -> np.ndarray:
        x = self.encoding.transform(columns, rows).astype(self._dtype, copy=False)
        out = self.session.run([self._output], {self._input: x})[0]
        return out.astype(np.float64) if self.is_classifier else out.ravel().astype(np.float64)


@dataclass(frozen=True)
class ModelPackage:
    """A verified package; the model files are opened only when first used."""

    lineage: dict
    signature: dict
    path: Path

    @property
    def version(self) -> str:
        """The registry's version when it set one, else the start of the checksum."""
        return self.lineage.get("version") or self.lineage["checksum"][:12]

    @cached_property
    def spec(self) -> DataSpec:
        return spec_from_config(self.signature["data"], source=str(self.path / SIGNATURE_FILE))

    @property
    def classes(self) -> list:
        return list(self.signature.get("classes") or [])

    @property
    def threshold(self) -> float:
        return float(self.signature.get("threshold", 0.5))

    @property
    def has_onnx(self) -> bool:
        return "onnx_checksum" in self.lineage

    @cached_property
    def model(self) -> Any:
        """The scikit-learn pipeline, as trained."""
        try:
            import joblib
            import sklearn  # noqa: F401 - unpickling the pipeline needs it
        except ImportError as exc:
            raise ModelPackageError(
                f"{self.path} has no verified ONNX file, so scikit-learn serves it, and this "
                f"environment lacks {exc.name}: install the sklearn group (`uv sync --group "
                "sklearn`; `make image` adds it to the image of such a package)."
            ) from None
        try:
            return joblib.load(self.path / MODEL_FILE)
        except Exception as exc:  # unpickling can fail with any error type
            raise ModelPackageError(
                f"{self.path / MODEL_FILE} cannot be loaded ({exc!r}): "
                f"{_remedy(self.path, self.lineage)}."
            ) from None

    @cached_property
    def derive(self) -> Derive | None:
        """The packaged `derive`, or None when the data config declares no derived feature."""
        if not self.spec.derived:
            return None
        if "features_checksum" not in self.lineage:
            raise ModelPackageError(
                f"{self.path} declares derived features but holds no {FEATURES_FILE}: "
                f"{_remedy(self.path, self.lineage)}."
            )
        # A module name of its own: two packages (production and a candidate) load side by side.
        name = f"package_features_{self.lineage['checksum']}"
        return file_derive(self.path / FEATURES_FILE, name)

    def onnx_model(self, threads: int | None = None) -> OnnxModel | None:
        """ONNX Runtime behind the packaged preprocessing, or None when the package has none."""
        if not self.has_onnx:
            return None
        try:
            session = onnx_session((self.path / ONNX_FILE).read_bytes(), threads)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelPackageError(
                f"{self.path / ONNX_FILE} cannot be loaded ({exc!r}): "
                f"{_remedy(self.path, self.lineage)}."
            ) from None
        encoding = Encoding(**self.signature["encoding"])
        return OnnxModel(session, encoding, self.spec.is_classification)


def onnx_session(model_bytes: bytes, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # Threads that wait for work sleep instead of spinning: a spinning pool takes the cores
    # from the rest of the process (and from other processes) between calls.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lineage_checksum(lineage: dict) -> str:
    """The sha256 of the lineage without its own checksum, keys sorted: the JSON layout
    (indentation, key order) may change, the content may not."""
    content = {key: value for key, value in lineage.items() if key != LINEAGE_CHECKSUM}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def seal_lineage(lineage: dict) -> dict:
    """The lineage with its checksum, as `load_package` expects it."""
    return lineage | {LINEAGE_CHECKSUM: lineage_checksum(lineage)}


def write_lineage(path: Path, lineage: dict) -> None:
    path.write_text(json.dumps(seal_lineage(lineage), indent=2) + "\n")


def _remedy(path: Path, lineage: dict | None = None) -> str:
    """What restores a broken package: a registered version comes back from the DVC remote
    (`make pipeline` builds a new candidate, never an old version); a candidate is rebuilt."""
    version = (lineage or {}).get("version")
    if version is None and path.parent.name != "registry":
        return REBUILD
    named = f"registered version {version}" if version else "the registered version"
    return f"fetch {named} again from the DVC remote: `rm -r {path} && make data`"


def data_hash(raw_path: Path | str) -> str:
    """The raw file's md5, the one DVC records in its .dvc pointer at `dvc add`.

    Read from the file, not the pointer: an edited file whose pointer `dvc add` has not
    updated yet still trains the model, and the lineage must name what did.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with Path(raw_path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version()} | {
        name: metadata.version(name) for name in LIBRARIES
    }


def collect_lineage(cfg: DictConfig) -> dict:
    """Where the model came from: code, data, config and scores."""
    from omegaconf import OmegaConf

    metrics_file = Path(cfg.artifacts.evaluation) / "metrics.json"
    # The run's own records (dvc.lock, metrics) are still being written: only its
    # inputs say whether git_sha holds what built the model.
    changes = changed_files(RUN_INPUTS)
    return {
        "git_sha": git_sha(),
        "git_dirty": None if changes is None else bool(changes),
        "git_changes": changes or [],
        "data": {"path": str(cfg.data.raw_path), "md5": data_hash(cfg.data.raw_path)},
        "params": OmegaConf.to_container(cfg, resolve=True),
        "metrics": json.loads(metrics_file.read_text()),
        "libraries": library_versions(),
    }


def value_buckets(targets: pd.Series) -> list[float]:
    """Deciles of the target: the bucket bounds of the service's predicted-value histogram."""
    deciles = targets.dropna().quantile([step / 10 for step in range(1, 10)])
    return sorted({float(f"{value:.4g}") for value in deciles})


def make_signature(
    model: Any, spec: DataSpec, threshold: float, targets: pd.Series | None = None
) -> dict:
    """The predict path's contract; `encoding` is None when the preprocessing is custom.

    For regression, `value_buckets` (from `targets`, the test split's) bound the service's
    histogram of predicted values.
    """
    try:
        encoding = Encoding.from_fitted(model)
    except (AttributeError, KeyError, ValueError):
        encoding = None
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
    return {
        "task": spec.task,
        "data": spec_to_config(spec),
        "classes": classes if spec.is_classification else None,
        "threshold": threshold,
        "encoding": None if encoding is None else vars(encoding),
        "value_buckets": (
            value_buckets(targets) if targets is not None and not spec.is_classification else None
        ),
    }


def export_onnx(model: Any, width: int) -> bytes:
    """The pipeline's estimator as ONNX, fed float32 as scikit-learn's trees are.

    scikit-learn casts a tree model's input to float32 before comparing it with the
    splits, so float32 input makes ONNX Runtime take the same branches; a linear
    model loses only float32 rounding. ONNX Runtime scores one row in microseconds
    where scikit-learn's per-call checks and per-tree loop take milliseconds.
    """
    from skl2onnx import to_onnx

    estimator = model.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    sample = np.zeros((1, width), dtype=np.float32)
    onnx_model = to_onnx(estimator, sample, options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    return onnx_model.SerializeToString()


def disagreement(
    expected: np.ndarray, got: np.ndarray, classes: list, threshold: float, tolerance: float
) -> tuple[float, str | None]:
    """The largest difference, and why the outputs disagree (None when they agree).

    Agreement: |difference| <= tolerance * max(1, |value|) everywhere, and, for a
    classifier, the same label wherever scikit-learn's decision is not within the
    tolerance of a tie.
    """
    difference = np.abs(expected - got)
    largest = float(difference.max()) if difference.size else 0.0
    if np.any(difference > tolerance * np.maximum(1.0, np.abs(expected))):
        return largest, f"outputs differ by up to {largest:.3g}, beyond the tolerance {tolerance:g}"
    if classes:
        if len(classes) == 2:
            clear = np.abs(expected[:, 1] - threshold) > tolerance
        else:
            top2 = np.sort(expected, axis=1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 2 * tolerance
        same = predicted_labels(expected, classes, threshold) == predicted_labels(
            got, classes, threshold
        )
        if not np.all(same | ~clear):
            return largest, f"{int(np.sum(~same & clear))} label(s) differ"
    return largest, None


def verify_onnx(
    model: Any, spec: DataSpec, signature: dict, frame: pd.DataFrame, tolerance: float
) -> tuple[bytes | None, dict]:
    """Export the model to ONNX and check it against scikit-learn on `frame`.

    Returns the ONNX bytes (None when the export failed or disagrees) and the record
    of the check for the lineage.
    """
    sample = frame.sample(min(len(frame), VERIFY_ROWS), random_state=0)
    if signature["encoding"] is None:
        return None, {"verified": False, "reason": "the preprocessing step is custom"}
    encoding = Encoding(**signature["encoding"])
    try:
        onnx_bytes = export_onnx(model, encoding.width)
        onnx = OnnxModel(onnx_session(onnx_bytes), encoding, spec.is_classification)
        columns = {name: sample[name].to_numpy() for name in spec.feature_names}
        got = onnx.outputs(columns, len(sample))
    except Exception as exc:  # skl2onnx and onnxruntime raise many types for what they lack
        return None, {"verified": False, "reason": f"export failed: {exc!r}"[:500]}
    expected = model_outputs(model, sample, spec)
    largest, reason = disagreement(
        expected, got, signature["classes"] or [], signature["threshold"], tolerance
    )
    record = {"rows": len(sample), "max_difference": largest, "tolerance": tolerance}
    if reason is not None:
        return None, {"verified": False, "reason": reason, **record}
    return onnx_bytes, {"verified": True, **record}


def write_package(
    model_file: Path | str,
    target: Path | str,
    lineage: dict,
    signature: dict,
    onnx_bytes: bytes | None,
    measure: Callable[[ModelPackage], dict] | None = None,
    features_source: str | None = None,
) -> Path:
    """Write a new package at `target`, replacing it only once complete.

    `features_source` is the text of the project's features.py, shipped when the data
    config declares derived features.

    `measure` (`release.cost.measure`) gives what the package costs to serve, recorded in
    its lineage as `cost`. It runs here, on the package still in its temporary folder: the
    figures are those of the files that ship, and a failure publishes nothing.
    """
    with atomic_dir(target) as tmp:
        shutil.copyfile(model_file, tmp / MODEL_FILE)
        (tmp / SIGNATURE_FILE).write_text(json.dumps(signature, indent=2) + "\n")
        files = [MODEL_FILE, SIGNATURE_FILE]
        if onnx_bytes is not None:
            (tmp / ONNX_FILE).write_bytes(onnx_bytes)
            files.append(ONNX_FILE)
        if features_source is not None:
            (tmp / FEATURES_FILE).write_text(features_source, encoding="utf-8")
            files.append(FEATURES_FILE)
        lineage = lineage | {
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            **{CHECKSUMS[name]: sha256(tmp / name) for name in files},
        }
        write_lineage(tmp / LINEAGE_FILE, lineage)
        if measure is not None:
            write_lineage(tmp / LINEAGE_FILE, lineage | {"cost": measure(load_package(tmp))})
    return Path(target)


def build_package(
    model_file: Path | str,
    target: Path | str,
    lineage: dict,
    spec: DataSpec,
    check_frame: pd.DataFrame,
    threshold: float = 0.5,
    tolerance: float = 1e-6,
    measure: Callable[[ModelPackage], dict] | None = None,
    features_source: str | None = None,
) -> Path:
    """Package a fitted model: signature, verified ONNX when possible, lineage, the
    project's features.py when `spec` declares derived features (`features_source`), and
    the cost when `measure` is given (see `write_package`)."""
    if spec.derived and features_source is None:
        raise ValueError("the data spec declares derived features: pass features_source")
    import joblib

    model = joblib.load(model_file)
    targets = check_frame.get(spec.target.name)
    signature = make_signature(model, spec, threshold, targets)
    onnx_bytes, check = verify_onnx(model, spec, signature, check_frame, tolerance)
    if onnx_bytes is None:
        log.warning(
            "no ONNX file in the package: scikit-learn will serve the model, more slowly",
            reason=check["reason"],
        )
    lineage |= {"onnx": check}
    source = features_source if spec.derived else None
    return write_package(model_file, target, lineage, signature, onnx_bytes, measure, source)


def load_package(path: Path | str) -> ModelPackage:
    """Open a package after checking that its files are exactly the ones packaged."""
    path = Path(path)
    lineage_file = path / LINEAGE_FILE
    if not path.is_dir():
        raise ModelPackageError(f"model package {path} not found: {_remedy(path)}.")
    if not lineage_file.is_file():
        raise ModelPackageError(f"{lineage_file} is missing from the package: {_remedy(path)}.")
    try:
        lineage = json.loads(lineage_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelPackageError(
            f"{lineage_file} is unreadable ({exc!r}): {_remedy(path)}."
        ) from None
    if not isinstance(lineage, dict) or "checksum" not in lineage:
        raise ModelPackageError(f"{lineage_file} is unreadable (no checksum): {_remedy(path)}.")
    remedy = _remedy(path, lineage)
    if lineage.get(LINEAGE_CHECKSUM) != lineage_checksum(lineage):
        raise ModelPackageError(
            f"{lineage_file} does not match its checksum ({LINEAGE_CHECKSUM}): the lineage "
            f"changed after packaging; {remedy}."
        )
    for name, key in CHECKSUMS.items():
        if key not in lineage and name != SIGNATURE_FILE:
            continue
        packaged = path / name
        if not packaged.is_file():
            raise ModelPackageError(f"{packaged} is missing from the package: {remedy}.")
        actual, expected = sha256(packaged), lineage.get(key, "")
        if actual != expected:
            raise ModelPackageError(
                f"{packaged} does not match the checksum in {lineage_file} "
                f"(sha256 {actual[:12]}..., expected {expected[:12]}...): the file changed "
                f"after packaging; {remedy}."
            )
    signature = json.loads((path / SIGNATURE_FILE).read_text())
    return ModelPackage(lineage=lineage, signature=signature, path=path)
