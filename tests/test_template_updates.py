"""Answers are recorded so cruft can bring template improvements to existing projects;
and rendering is strict, so a typo in a template variable fails the bake."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import TEMPLATE, run
from cookiecutter.exceptions import UndefinedVariableInTemplate
from cookiecutter.main import cookiecutter

pytestmark = pytest.mark.slow

IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "site", "__pycache__", ".pytest_cache", ".ruff_cache"
)


def copy_template(target: Path) -> Path:
    """The working template as a git repository of its own, like a user's checkout."""
    shutil.copytree(TEMPLATE, target, ignore=IGNORE)
    run(["git", "init", "-q", "--initial-branch=main"], target)
    run(["git", "add", "--all"], target)
    run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "v1"],
        target,
    )
    return target


def cruft(*args: str, cwd: Path, check: bool = True):
    return run([str(Path(TEMPLATE / ".venv/bin/cruft")), *args], cwd, check=check)


def test_cruft_check_and_update_bring_template_changes(tmp_path):
    template = copy_template(tmp_path / "template")
    project = Path(cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out")))
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template)
    assert cruft("check", cwd=project).returncode == 0

    # The user's own code and data config, edited in the project.
    own_code = project / "src/tumour_classifier/__init__.py"
    own_code.write_text(own_code.read_text() + "\nTHRESHOLD = 0.4\n")
    data_config = project / "conf/data/breast_cancer.yaml"
    data_config.write_text(data_config.read_text() + "# reviewed by the data owner\n")
    user = ["git", "-c", "user.name=U", "-c", "user.email=u@example.com"]
    run([*user, "commit", "-qam", "our threshold; the data config reviewed"], project)
    own_before, data_before = own_code.read_text(), data_config.read_text()

    # v2 of the template changes the docs (scaffolding), and also the files that are the
    # user's own: an update brings the first and leaves the others alone.
    docs = template / "{{cookiecutter.project_slug}}/docs/index.md"
    docs.write_text(docs.read_text() + "\n## Runbook\n\nWho to call when the model drifts.\n")
    for rel in ("src/{{cookiecutter.module_name}}/__init__.py", "conf/data/breast_cancer.yaml"):
        path = template / "{{cookiecutter.project_slug}}" / rel
        path.write_text(path.read_text() + "# a change of the template's\n")
    run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qam", "v2"],
        template)  # fmt: skip

    assert cruft("check", cwd=project, check=False).returncode != 0
    # Plain `cruft diff` compares with the recorded commit, so it shows nothing pending;
    # `make update-check` shows what an update would bring.
    assert "## Runbook" not in cruft("diff", cwd=project).stdout
    pending = run(["make", "update-check"], project).stdout
    assert "+## Runbook" in pending
    cruft("update", "--skip-apply-ask", "--allow-untracked-files", cwd=project)
    assert "## Runbook" in (project / "docs/index.md").read_text()
    assert cruft("check", cwd=project).returncode == 0
    # The update is a plain change in the project's git history, ready to review.
    changed = run(["git", "status", "--porcelain"], project).stdout
    assert "docs/index.md" in changed and ".cruft.json" in changed
    assert (project / ".dvc/config").exists() and (project / "uv.lock").exists()
    assert own_code.read_text() == own_before and data_config.read_text() == data_before
    # The runtime's index is an answer cruft keeps: the update renders pyproject.toml with it.
    index = state["context"]["cookiecutter"]["_runtime_index"]
    assert f'url = "{index}"' in (project / "pyproject.toml").read_text()
    assert "pyproject.toml" not in changed


def test_typo_in_a_template_variable_fails_the_bake(tmp_path):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=IGNORE)
    readme = template / "{{cookiecutter.project_slug}}/README.md"
    readme.write_text(readme.read_text() + "\n{{ cookiecutter.projcet_name }}\n")
    out = tmp_path / "out"
    with pytest.raises(UndefinedVariableInTemplate, match="projcet_name"):
        cookiecutter(str(template), no_input=True, output_dir=str(out))
    assert not out.exists() or list(out.iterdir()) == []
