"""The runtime package (runtime/): its own suite, its types, its lint and its wheel.

The runtime's suite runs here once, in the runtime's own locked environment, without a
bake: a bake test checks the wiring of one option combination, not the platform again.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
import zipfile

import pytest
from conftest import ENV, TEMPLATE

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
    (wheel,) = tmp_path.glob("groundwork-*.whl")
    assert wheel.name.startswith(f"groundwork-{version}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "groundwork/py.typed" in names
    assert not [n for n in names if n.startswith("tests/")]
    changelog = (RUNTIME / "CHANGELOG.md").read_text()
    first = re.search(r"^## \[?(\d+\.\d+\.\d+)\]?", changelog, re.MULTILINE)
    assert first and first.group(1) == version, "CHANGELOG.md must open with this version"
