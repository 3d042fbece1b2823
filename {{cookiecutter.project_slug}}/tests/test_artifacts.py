"""Atomic writes: a step that fails leaves the previous artifact, and no scratch file."""

import pytest

from {{ cookiecutter.module_name }}.artifacts import (
    atomic_dir,
    atomic_path,
)


def test_atomic_path_replaces_the_file_only_on_success(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    with atomic_path(target) as scratch:
        assert scratch.parent == target.parent and scratch != target
        scratch.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_path(target) as scratch:
        scratch.write_text("half written")
        raise RuntimeError("the step failed")
    assert target.read_text() == "first"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_dir_swaps_the_folder_only_on_success(tmp_path):
    target = tmp_path / "package"
    with atomic_dir(target) as scratch:
        (scratch / "model.joblib").write_text("v1")
    with atomic_dir(target) as scratch:
        assert list(scratch.iterdir()) == []  # a fresh folder, not the old one
        (scratch / "model.onnx").write_text("v2")
    assert [path.name for path in target.iterdir()] == ["model.onnx"]
    with pytest.raises(RuntimeError), atomic_dir(target) as scratch:
        (scratch / "broken").write_text("")
        raise RuntimeError("the step failed")
    assert [path.name for path in target.iterdir()] == ["model.onnx"]
    assert list(tmp_path.iterdir()) == [target]
