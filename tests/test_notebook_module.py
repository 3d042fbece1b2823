"""`notebook-to-module` in a baked project: the shipped notebook's tagged cells become a
module and a test that pass `make lint` and `make test`; each refusal exits 1 with one clear
message and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import bake, run

pytestmark = pytest.mark.slow

NOTEBOOK = "notebooks/01-exploration.ipynb"
FUNCTIONS = ["missing_share", "numeric_summary", "target_balance"]


def answers(project: Path) -> dict:
    return json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]


def export(project: Path, notebook: str | Path, name: str, check: bool = True):
    command = ["uv", "run", "--frozen", answers(project)["project_slug"], "notebook-to-module"]
    return run([*command, str(notebook), name], project, check=check)


def status(project: Path) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout


@pytest.fixture(scope="module")
def project(cookies_session) -> Path:
    """A default project of this module's own: the export adds files to it."""
    return bake(cookies_session)


def test_the_shipped_notebook_becomes_a_module_that_passes_lint_and_tests(project):
    module = f"src/{answers(project)['module_name']}/summary.py"
    done = export(project, NOTEBOOK, "summary")
    assert module in done.stdout and "tests/test_summary.py" in done.stdout

    source = (project / module).read_text()
    assert all(f"\ndef {name}(raw: pd.DataFrame" in source for name in FUNCTIONS)
    test = (project / "tests/test_summary.py").read_text()
    tests = sorted(line[4:].split("(")[0] for line in test.splitlines() if line[:9] == "def test_")
    assert tests == [f"test_{name}" for name in FUNCTIONS]
    assert test.count("    assert isinstance(result, pd.") == len(FUNCTIONS)
    assert "assert True" not in test and "is not None" not in test
    # pre-commit sees only the files git knows.
    run(["git", "add", module, "tests/test_summary.py"], project)
    run(["make", "lint"], project)
    assert (project / module).read_text() == source, "pre-commit changed the module"
    out = run(["make", "test"], project).stdout
    assert "tests/test_summary.py ..." in out and " passed" in out and "failed" not in out


def test_a_regression_project_exports_the_same_notebook(cookies_session):
    project = bake(cookies_session, task="regression", project_name="Reg Test")
    export(project, NOTEBOOK, "summary")
    test = (project / "tests/test_summary.py").read_text()
    assert "def test_target_balance(sample, spec):" in test
    pytest = ["uv", "run", "--frozen", "pytest", "-p", "no:cacheprovider", "--no-cov"]
    assert "3 passed" in run([*pytest, "tests/test_summary.py"], project).stdout
    run(["uv", "run", "--frozen", "ruff", "check", "src", "tests"], project)
    run(["uv", "run", "--frozen", "ruff", "format", "--check", "src", "tests"], project)


def no_tagged_cells(tmp_path: Path) -> Path:
    """A valid notebook (nbformat 4.5) whose one code cell has no tag."""
    cell = {"cell_type": "code", "execution_count": None, "id": "c0ffee00", "metadata": {}}
    cell |= {"outputs": [], "source": ["raw.shape"]}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "untagged.ipynb"
    path.write_text(json.dumps(notebook, indent=1))
    return path


def not_a_notebook(tmp_path: Path) -> Path:
    path = tmp_path / "notes.ipynb"
    path.write_text("# Notes\n\nNot a notebook.\n")
    return path


@pytest.mark.parametrize(
    "notebook, name, message",
    [
        (lambda tmp: NOTEBOOK, "package", "'package' clashes with tests/test_package.py"),
        (lambda tmp: NOTEBOOK, "Summary", "'Summary' cannot name a module"),
        (no_tagged_cells, "scratch", "has no code cell tagged `export`: tag each code cell"),
        (not_a_notebook, "scratch", "notes.ipynb is not a Jupyter notebook that can be read"),
    ],
    ids=["clashing name", "invalid name", "no tagged cells", "not a notebook"],
)
def test_a_refusal_exits_1_with_one_message_and_writes_nothing(
    project, tmp_path, notebook, name, message
):
    path = notebook(tmp_path)
    before = status(project)
    done = export(project, path, name, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert status(project) == before
