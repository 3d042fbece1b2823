"""Atomic writes: a step that fails leaves the previous artifact, and no scratch file."""

import subprocess
import sys
import threading

import pytest

from groundwork.artifacts import (
    _exchange_call,
    atomic_dir,
    atomic_path,
    exchange,
    remove_stale_scratch,
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


def test_the_folder_is_whole_at_every_instant_of_its_replacement(tmp_path):
    """A reader (a server starting, `dvc push`) that opens the folder while it is replaced
    finds the old package or the new one, never nothing."""
    target = tmp_path / "package"
    with atomic_dir(target) as scratch:
        (scratch / "lineage.json").write_text("0")
    missed: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                int((target / "lineage.json").read_text())
            except FileNotFoundError:
                missed.append(1)

    reader = threading.Thread(target=read)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the reader the interpreter as often as it can take it
    reader.start()
    try:
        for version in range(1, 300):
            with atomic_dir(target) as scratch:
                (scratch / "lineage.json").write_text(str(version))
    finally:
        done.set()
        reader.join()
        sys.setswitchinterval(switch)
    assert missed == []
    assert (target / "lineage.json").read_text() == "299"
    assert list(tmp_path.iterdir()) == [target]


def test_scratch_of_a_dead_run_is_removed_and_a_live_one_kept(tmp_path):
    """A killed run leaves `.package.tmp<pid>` behind; the next run removes it, unless the
    process that made it still runs."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(finished.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        target = tmp_path / "package"
        for pid, kind in ((dead, "tmp"), (dead, "old"), (live.pid, "tmp")):
            (tmp_path / f".package.{kind}{pid}").mkdir()
            (tmp_path / f".package.{kind}{pid}" / "model.joblib").write_text("half")
        (tmp_path / f".model.joblib.tmp{dead}").write_text("half")
        with atomic_dir(target) as scratch:
            (scratch / "model.joblib").write_text("whole")
        with atomic_path(tmp_path / "model.joblib") as scratch:
            scratch.write_text("whole")
        assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
            [f".package.tmp{live.pid}", "model.joblib", "package"]
        )
    finally:
        live.kill()
        live.wait()


def test_where_paths_cannot_be_exchanged_the_folder_is_replaced_by_two_renames(
    tmp_path, monkeypatch
):
    """Neither Linux nor macOS (say Windows): no exchange call, so the old folder moves aside
    for a moment, and the new one is whole all the same."""
    _exchange_call.cache_clear()
    monkeypatch.setattr(sys, "platform", "win32")
    target = tmp_path / "package"
    try:
        assert _exchange_call() is None
        (tmp_path / "a" / "kept").mkdir(parents=True)
        (tmp_path / "b").mkdir()
        assert exchange(tmp_path / "a", tmp_path / "b") is False
        assert (tmp_path / "a" / "kept").is_dir()  # neither moved
        for version in ("v1", "v2"):
            with atomic_dir(target) as scratch:
                (scratch / "version").write_text(version)
    finally:
        _exchange_call.cache_clear()
    assert (target / "version").read_text() == "v2"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b", "package"]


def test_an_exchange_the_system_refuses_moves_nothing(tmp_path):
    outer = tmp_path / "outer"
    (outer / "inner").mkdir(parents=True)
    # A folder swapped with its own subfolder: the kernel refuses it as invalid.
    assert exchange(outer, outer / "inner") is False
    assert (outer / "inner").is_dir()
    with pytest.raises(FileNotFoundError) as error:  # any other refusal is an error
        exchange(outer, tmp_path / "absent")
    assert str(outer) in str(error.value) and str(tmp_path / "absent") in str(error.value)


def test_scratch_is_looked_for_only_where_the_target_s_folder_exists(tmp_path):
    remove_stale_scratch(tmp_path / "not yet" / "package")
    assert not (tmp_path / "not yet").exists()
