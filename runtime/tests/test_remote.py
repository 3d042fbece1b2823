"""The DVC remote, in real git and DVC repositories with a local remote: files go up and
come back, and every failure names the remote and the way out."""

import shutil

import pytest
from conftest import dvc, dvc_add, git, git_commit

from groundwork.remote import RemoteError, pull, push

DATA = "data/raw/rows.csv"
POINTER = f"{DATA}.dvc"
ROWS = "id,value\n1,0.5\n2,1.5\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A git repository whose data file is tracked by DVC and committed, with a default
    local remote: an empty folder beside it, named by a relative path."""
    top = tmp_path_factory.mktemp("remote")
    root = top / "project"
    (root / "data/raw").mkdir(parents=True)
    (top / "storage").mkdir()
    git_commit(root, "empty project")  # DVC sets up inside a git repository
    (root / DATA).write_text(ROWS)
    dvc_add(root, DATA)
    dvc(root, "remote", "add", "--default", "storage", "../storage")
    git_commit(root, "track the data")
    return top


@pytest.fixture
def project(template, tmp_path, monkeypatch):
    """A copy of the template's repository and remote, as the working directory."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def test_pushed_files_come_back_in_a_fresh_clone(project, tmp_path, monkeypatch):
    push([POINTER])
    assert any(path.is_file() for path in (tmp_path / "storage").rglob("*"))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(project), str(clone))
    assert not (clone / DATA).exists()  # git holds the pointer only
    monkeypatch.chdir(clone)
    pull([POINTER])
    assert (clone / DATA).read_text() == ROWS


def test_files_nobody_pushed_are_named_with_who_must_push_them(project, tmp_path, monkeypatch):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(project), str(clone))
    monkeypatch.chdir(clone)
    with pytest.raises(RemoteError) as refused:
        pull([POINTER])
    message = str(refused.value)
    assert f"these files are not in the DVC remote 'storage' ({tmp_path / 'storage'})" in message
    assert f"  {DATA}\n" in message
    assert "`uv run dvc push`" in message and "sample-data" in message


def test_without_a_default_remote_the_command_to_add_one_is_given(project):
    dvc(project, "remote", "remove", "storage")
    for transfer in (pull, push):
        with pytest.raises(RemoteError, match="no default DVC remote is configured") as refused:
            transfer([POINTER])
        assert "`uv run dvc remote add --default storage URL`" in str(refused.value)


def test_a_failure_of_dvc_names_the_action_and_the_remote(project, tmp_path):
    with pytest.raises(RemoteError) as refused:
        pull(["data/raw/untracked.csv.dvc"])
    message = str(refused.value)
    assert message.startswith(f"`uv run dvc pull` with 'storage' ({tmp_path / 'storage'}) failed: ")
    assert "untracked.csv.dvc" in message
