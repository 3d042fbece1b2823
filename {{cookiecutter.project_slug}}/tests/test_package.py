"""The model package: lineage written with the model, and refused when altered."""

import hashlib
import json

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from {{ cookiecutter.module_name }}.features import feature_matrix
from {{ cookiecutter.module_name }}.package import (
    LINEAGE_FILE,
    MODEL_FILE,
    ONNX_FILE,
    ModelPackageError,
    data_hash,
    load_package,
    write_package,
)


def test_package_loads_with_its_lineage_and_version(model_package):
    package = load_package(model_package)
    lineage = json.loads((model_package / LINEAGE_FILE).read_text())
    assert package.lineage == lineage
    model_bytes = (model_package / MODEL_FILE).read_bytes()
    assert lineage["checksum"] == hashlib.sha256(model_bytes).hexdigest()
    assert package.version == lineage["checksum"][:12]
    assert package.path == model_package
    assert hasattr(package.model, "predict_proba")
    onnx_bytes = (model_package / ONNX_FILE).read_bytes()
    assert lineage["onnx_checksum"] == hashlib.sha256(onnx_bytes).hexdigest()


def test_a_version_set_in_the_lineage_wins(package_copy):
    lineage = json.loads((package_copy / LINEAGE_FILE).read_text())
    (package_copy / LINEAGE_FILE).write_text(json.dumps(lineage | {"version": "v3"}))
    assert load_package(package_copy).version == "v3"


def test_changed_model_is_refused(package_copy):
    with (package_copy / MODEL_FILE).open("ab") as model:
        model.write(b"\0")
    with pytest.raises(ModelPackageError) as error:
        load_package(package_copy)
    message = str(error.value)
    assert MODEL_FILE in message and "checksum" in message and "make pipeline" in message


def _replace_with_garbage(package_dir, name, key):
    """Overwrite a model file and record its new checksum, as if it had been packaged so."""
    (package_dir / name).write_bytes(b"not a model")
    lineage = json.loads((package_dir / LINEAGE_FILE).read_text())
    lineage[key] = hashlib.sha256(b"not a model").hexdigest()
    (package_dir / LINEAGE_FILE).write_text(json.dumps(lineage))


def test_corrupt_model_with_matching_checksum_is_refused(package_copy):
    _replace_with_garbage(package_copy, MODEL_FILE, "checksum")
    with pytest.raises(ModelPackageError, match=f"{MODEL_FILE} cannot be loaded"):
        _ = load_package(package_copy).model


def test_corrupt_onnx_with_matching_checksum_is_refused(package_copy):
    _replace_with_garbage(package_copy, ONNX_FILE, "onnx_checksum")
    with pytest.raises(ModelPackageError, match=f"{ONNX_FILE} cannot be loaded"):
        load_package(package_copy).onnx_session()


def test_changed_onnx_model_is_refused(package_copy):
    with (package_copy / ONNX_FILE).open("ab") as model:
        model.write(b"\0")
    with pytest.raises(ModelPackageError, match=f"{ONNX_FILE} does not match the checksum"):
        load_package(package_copy)


class LargeRadius(ClassifierMixin, BaseEstimator):
    """A model of the user's own, which no ONNX converter knows."""

    def fit(self, x, y):
        self.classes_, self.n_features_in_ = np.array([0, 1]), x.shape[1]
        return self

    def predict_proba(self, x):
        positive = (x[:, 0] > 15).astype(float)
        return np.column_stack([1 - positive, positive])


def test_model_without_onnx_converter_is_packaged_without_onnx(tmp_path, sample):
    model_file = tmp_path / "model.joblib"
    joblib.dump(LargeRadius().fit(feature_matrix(sample), None), model_file)
    package = load_package(write_package(model_file, tmp_path / "package", {}))
    assert not (tmp_path / "package" / ONNX_FILE).exists()
    assert package.onnx_session() is None
    assert isinstance(package.model, LargeRadius)


@pytest.mark.parametrize("missing", [MODEL_FILE, ONNX_FILE, LINEAGE_FILE])
def test_missing_file_is_named(package_copy, missing):
    (package_copy / missing).unlink()
    with pytest.raises(ModelPackageError, match=f"{missing} is missing"):
        load_package(package_copy)


def test_unreadable_lineage_is_named(package_copy):
    (package_copy / LINEAGE_FILE).write_text("{not json")
    with pytest.raises(ModelPackageError, match=f"{LINEAGE_FILE} is unreadable"):
        load_package(package_copy)


def test_missing_package_says_how_to_build_one(tmp_path):
    with pytest.raises(ModelPackageError, match="not found: rebuild it with `make pipeline`"):
        load_package(tmp_path / "nowhere")


def test_failed_packaging_keeps_the_previous_package(package_copy, tmp_path):
    before = {path.name: path.read_bytes() for path in package_copy.iterdir()}
    with pytest.raises(FileNotFoundError):
        write_package(tmp_path / "no-model.joblib", package_copy, {})
    assert {path.name: path.read_bytes() for path in package_copy.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["package"]


def test_data_hash_comes_from_the_dvc_pointer(tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text("a\n1\n")
    assert data_hash(raw) == hashlib.md5(b"a\n1\n").hexdigest()
    (tmp_path / "raw.csv.dvc").write_text("outs:\n- md5: 0123abc\n  path: raw.csv\n")
    assert data_hash(raw) == "0123abc"
