"""`make upgrade-platform`: a project baked against runtime N moves to N+1, a release with
a real change of behaviour, sees that release's changelog, and has only uv.lock changed."""

import shutil

import pytest
from bake_env import publish, runtime_index
from conftest import TEMPLATE, bake, run

pytestmark = pytest.mark.slow

NEXT_ENTRY = """## {version} - 2026-12-08

### Changed
- params.yaml's header names the runtime release that composed it.

"""


def next_release(source, target, version: str):
    """A copy of the runtime as its next release: the version, its changelog entry, and the
    change of behaviour that entry announces."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".venv", "*cache*", "dist"))
    pyproject = target / "pyproject.toml"
    current = pyproject.read_text()
    pyproject.write_text(current.replace('\nversion = "0.1.0"\n', f'\nversion = "{version}"\n'))
    changelog = target / "CHANGELOG.md"
    text = changelog.read_text()
    first = text.index("\n## ") + 1
    changelog.write_text(text[:first] + NEXT_ENTRY.format(version=version) + text[first:])
    config = target / "src/groundwork/config.py"
    config.write_text(
        config.read_text().replace(
            "edit conf/, not this file.", f"edit conf/, not this file (runtime {version})."
        )
    )


def test_upgrade_platform_brings_the_next_release_and_its_changelog_only_into_uv_lock(
    cookies, tmp_path
):
    with runtime_index(tmp_path / "index") as index:
        project = bake(cookies, _runtime_index=index)
        params = ["uv", "run", "--frozen", project.name, "params"]
        run(params, project)
        assert "(runtime" not in (project / "params.yaml").read_text()

        next_release(TEMPLATE / "runtime", tmp_path / "runtime-next", "0.1.1")
        publish(tmp_path / "runtime-next", tmp_path / "index")
        done = run(["make", "upgrade-platform"], project)

        assert "groundwork-runtime 0.1.0 -> 0.1.1" in done.stdout
        assert "params.yaml's header names the runtime release that composed it." in done.stdout
        assert "## 0.1.0" not in done.stdout  # what the project had already is not repeated
        assert "uv run dvc repro --force" in done.stdout
        # Nothing of the project's own is touched: the lock alone moved.
        assert run(["git", "status", "--porcelain"], project).stdout == " M uv.lock\n"
        lock = (project / "uv.lock").read_text()
        assert 'name = "groundwork-runtime"\nversion = "0.1.1"' in lock
        # The new behaviour is in effect.
        run(params, project)
        assert "(runtime 0.1.1)." in (project / "params.yaml").read_text()
