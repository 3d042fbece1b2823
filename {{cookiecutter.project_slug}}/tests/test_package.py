"""The model package: lineage written with the model, and refused when altered."""

import hashlib
import json

import pytest

from {{ cookiecutter.module_name }}.package import (
    LINEAGE_FILE,
    MODEL_FILE,
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


def test_corrupt_model_with_matching_checksum_is_refused(package_copy):
    (package_copy / MODEL_FILE).write_bytes(b"not a pickle")
    lineage = json.loads((package_copy / LINEAGE_FILE).read_text())
    lineage["checksum"] = hashlib.sha256(b"not a pickle").hexdigest()
    (package_copy / LINEAGE_FILE).write_text(json.dumps(lineage))
    with pytest.raises(ModelPackageError, match="cannot be loaded"):
        load_package(package_copy)


@pytest.mark.parametrize("missing", [MODEL_FILE, LINEAGE_FILE])
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
