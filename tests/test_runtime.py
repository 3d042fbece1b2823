"""The runtime package (runtime/): its own suite, its types, its lint and its wheel.

The runtime's suite runs here once, in the runtime's own locked environment, without a
bake: a bake test checks the wiring of one option combination, not the platform again.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import ENV, TEMPLATE, run, runtime_index

RUNTIME = TEMPLATE / "runtime"


def uv(*args: str, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    """`uv ARGS` in the runtime's folder, from its lock file."""
    return subprocess.run(
        ["uv", *args], cwd=RUNTIME, env=ENV, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def runtime_env() -> None:
    """The runtime's environment with every extra, exactly as runtime/uv.lock pins it."""
    done = uv("sync", "--frozen", "--all-extras")
    assert done.returncode == 0, done.stderr


def test_the_runtime_suite_passes_above_its_coverage_floor(runtime_env):
    done = uv("run", "--frozen", "pytest", "-p", "no:cacheprovider", "-q")
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
    assert done.returncode == 0, tail
    total = re.search(r"^TOTAL\s.*\s(\d+(?:\.\d+)?)%$", done.stdout, re.MULTILINE)
    assert total and float(total.group(1)) >= 90, tail


def test_the_runtime_is_typed_and_lint_clean(runtime_env):
    for command in (["mypy"], ["ruff", "check", "src", "tests"], ["ruff", "format", "--check"]):
        done = uv("run", "--frozen", *command)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"


def test_the_wheel_carries_its_types_and_the_version_the_changelog_opens_with(tmp_path):
    done = uv("build", "--wheel", "--out-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    version = tomllib.loads((RUNTIME / "pyproject.toml").read_text())["project"]["version"]
    (wheel,) = tmp_path.glob("groundwork_runtime-*.whl")
    assert wheel.name.startswith(f"groundwork_runtime-{version}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "groundwork/py.typed" in names
    # The changelog, which `platform-changes` reads from the installed package.
    assert "groundwork/CHANGELOG.md" in names
    assert not [n for n in names if n.startswith("tests/")]
    changelog = (RUNTIME / "CHANGELOG.md").read_text()
    first = re.search(r"^## \[?(\d+\.\d+\.\d+)\]?", changelog, re.MULTILINE)
    assert first and first.group(1) == version, "CHANGELOG.md must open with this version"


CONSUMER = """\
[project]
name = "consumer"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["groundwork-runtime>=0.1,<0.2"]

[project.scripts]
consumer = "groundwork.cli:main"

# The runtime comes from its own index, and from no other: a package of the same name on
# PyPI cannot stand in for it.
[[tool.uv.index]]
name = "groundwork"
url = "{index}"
explicit = true

[tool.uv.sources]
groundwork-runtime = {{ index = "groundwork" }}

[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/consumer"]
"""


def test_a_project_resolves_the_runtime_from_an_index_like_any_dependency(tmp_path):
    """A project that pins the runtime locks it from the index, by URL, never by a path of
    this machine; a fresh clone of it installs the runtime from there with `--locked`, and
    the project's own command runs the runtime's CLI under the project's name."""
    with runtime_index(tmp_path / "index") as index:
        project = tmp_path / "consumer"
        (project / "src/consumer").mkdir(parents=True)
        (project / "src/consumer/__init__.py").write_text('"""The project\'s own code."""\n')
        (project / "pyproject.toml").write_text(CONSUMER.format(index=index))
        run(["uv", "lock"], project)
        lock = (project / "uv.lock").read_text()
        (entry,) = [p for p in tomllib.loads(lock)["package"] if p["name"] == "groundwork-runtime"]
        assert entry["source"] == {"registry": index}
        version = tomllib.loads((RUNTIME / "pyproject.toml").read_text())["project"]["version"]
        assert entry["version"] == version
        assert str(TEMPLATE) not in lock and str(tmp_path) not in lock

        run(["git", "init", "--quiet", str(project)], tmp_path)
        run(["git", "add", "--all"], project)
        commit = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit"]
        run([*commit, "--quiet", "-m", "a project on the runtime"], project)
        clone = tmp_path / "clone"
        run(["git", "clone", "--quiet", str(project), str(clone)], tmp_path)
        run(["uv", "sync", "--locked"], clone)
        where = run(
            [
                "uv",
                "run",
                "--frozen",
                "python",
                "-c",
                "import groundwork; print(groundwork.__file__)",
            ],
            clone,
        )
        assert (clone / ".venv").resolve() in Path(where.stdout.strip()).resolve().parents
        usage = run(["uv", "run", "--frozen", "consumer", "--help"], clone).stdout
        assert usage.startswith("usage: consumer ")


RELEASE = TEMPLATE / ".github/workflows/release.yml"


def release_steps() -> dict[str, dict]:
    workflow = yaml.safe_load(RELEASE.read_text())
    return {
        step.get("name", step.get("uses")): step for step in workflow["jobs"]["release"]["steps"]
    }


def test_the_release_workflow_is_valid_and_publishes_the_runtime_before_it_tags_the_template():
    """It cannot publish from here: its schema and its order are checked, and its version
    check is run for real."""
    done = subprocess.run(
        [str(TEMPLATE / ".venv/bin/check-jsonschema"), "--builtin-schema",
         "vendor.github-workflows", str(RELEASE)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    workflow = yaml.safe_load(RELEASE.read_text())
    # PyYAML reads the key `on` as True.
    assert workflow[True]["workflow_dispatch"]["inputs"]["version"]["required"] is True
    assert workflow["permissions"] == {"contents": "write", "id-token": "write"}
    assert workflow["jobs"]["release"]["environment"] == "release"
    names = list(release_steps())
    check, suite, build, publish, tag = (
        next(i for i, name in enumerate(names) if name.startswith(prefix))
        for prefix in ("The version", "The runtime's suite", "Build", "Publish", "Tag")
    )
    assert check < suite < build < publish < tag
    assert "uv publish" in release_steps()[names[publish]]["run"]


@pytest.mark.parametrize(
    ("version", "verdict"),
    [("declared", None), ("9.9.9", "runtime/pyproject.toml says"), ("tagged", "tagged already")],
)
def test_the_release_refuses_a_version_the_runtime_does_not_declare(tmp_path, version, verdict):
    script = next(s["run"] for n, s in release_steps().items() if n.startswith("The version"))
    clone = tmp_path / "clone"
    run(["git", "clone", "--quiet", "--no-tags", str(TEMPLATE), str(clone)], tmp_path)
    declared = tomllib.loads((RUNTIME / "pyproject.toml").read_text())["project"]["version"]
    if version == "tagged":  # released before: the template has its tag
        run(["git", "tag", f"v{declared}"], clone)
    env = ENV | {"VERSION": declared if version in ("declared", "tagged") else version}
    done = subprocess.run(
        ["bash", "-ec", script], cwd=clone, env=env, capture_output=True, text=True
    )
    if verdict is None:
        assert done.returncode == 0, done.stdout + done.stderr
    else:
        assert done.returncode == 1 and verdict in done.stdout
