"""What git holds of a run, in real git repositories."""

import json

import pytest
from conftest import dvc, git, new_repository

from groundwork.errors import UserFacingError
from groundwork.worktree import (
    COMMIT_HINT,
    changed_files,
    commit_run,
    head_sha,
    run_summary,
    stale_stages,
    status_message,
)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository with a committed run: conf/, src/ and notes outside the run."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    new_repository(tmp_path)
    for path in ("conf/config.yaml", "src/step.py", "notes.md"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(f"{path}\n")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "first")
    return tmp_path


def test_changed_files_lists_the_run_files_git_lacks(repo):
    assert changed_files(root=repo) == []
    (repo / "conf/config.yaml").write_text("seed: 2\n")
    (repo / "reports").mkdir()
    (repo / "reports/metrics.json").write_text("{}\n")
    (repo / "notes.md").write_text("not part of a run\n")
    git(repo, "mv", "src/step.py", "src/renamed.py")
    assert changed_files(root=repo) == [
        "conf/config.yaml",
        "reports/metrics.json",
        "src/renamed.py",
        "src/step.py",
    ]


def test_changed_files_outside_a_repository_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert changed_files(root=tmp_path) is None


def test_status_message_says_what_to_do():
    assert "not a git repository" in status_message(None)
    assert "the run is committed" in status_message([])
    pending = status_message(["dvc.lock", "params.yaml"])
    assert "  dvc.lock\n  params.yaml\n" in pending
    assert pending.endswith(COMMIT_HINT)


def test_run_summary_names_the_metrics(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.95, "f1": 0.9, "baseline": {"accuracy": 0.6}}))
    assert run_summary(metrics) == "Run the pipeline: accuracy 0.9500, f1 0.9000"
    assert run_summary(tmp_path / "missing.json") == "Run the pipeline"
    metrics.write_text(json.dumps({"rows": 120, "baseline": {"accuracy": 0.6}}))
    assert run_summary(metrics) == "Run the pipeline"  # no score of its own to name
    metrics.write_text("{not json")
    assert run_summary(metrics) == "Run the pipeline"


def test_commit_run_commits_the_run_and_nothing_else(repo, monkeypatch):
    monkeypatch.chdir(repo)
    (repo / "params.yaml").write_text("seed: 1\n")
    (repo / "notes.md").write_text("edited\n")
    assert commit_run("Run the pipeline: accuracy 0.9500") == ["params.yaml"]
    assert git(repo, "log", "-1", "--format=%s").strip() == "Run the pipeline: accuracy 0.9500"
    assert changed_files() == []
    assert git(repo, "status", "--porcelain").strip() == "M notes.md"
    assert commit_run("again") == []


def test_a_refused_commit_says_how_to_go_on(repo, monkeypatch):
    monkeypatch.chdir(repo)
    hook = repo / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'ruff found problems'\nexit 1\n")
    hook.chmod(0o755)
    (repo / "params.yaml").write_text("seed: 1\n")
    with pytest.raises(UserFacingError, match="ruff found problems") as refused:
        commit_run("Run the pipeline")
    assert "commit-run` again" in str(refused.value)


def test_without_git_installed_changed_files_is_none(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    assert changed_files(root=repo) is None


def test_commit_run_outside_a_repository_says_to_create_one(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    with pytest.raises(UserFacingError, match="not a git repository: run `git init` first"):
        commit_run("Run the pipeline")


def test_head_sha_is_the_commit_git_checked_out(repo):
    assert head_sha(repo) == git(repo, "log", "-1", "--format=%H").strip()
    assert len(head_sha(repo)) == 40


STAGE = """stages:
  copy:
    cmd: cp in.txt out.txt
    deps: [in.txt]
    params: [seed]
    outs: [out.txt]
"""


def test_stale_stages_name_each_stage_and_what_changed_since_the_lock(repo, monkeypatch):
    (repo / "in.txt").write_text("first\n")
    (repo / "params.yaml").write_text("seed: 1\n")
    (repo / "dvc.yaml").write_text(STAGE)
    dvc(repo, "init", "--quiet")
    dvc(repo, "repro", "--quiet")
    monkeypatch.chdir(repo)
    assert stale_stages() == []
    (repo / "in.txt").write_text("second\n")
    assert stale_stages() == ["copy: changed deps in.txt"]
    (repo / "dvc.yaml").write_text(STAGE.replace("cp in.txt", "cp -f in.txt"))
    assert stale_stages() == ["copy: changed deps in.txt; changed command"]
