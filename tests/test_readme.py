"""The README's quick start runs as printed, in a fresh clone of the template."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from conftest import ENV, TEMPLATE, run


def quick_start() -> list[str]:
    """The commands of the README's quick start, without their comments."""
    readme = (TEMPLATE / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_quick_start_generates_a_project_from_a_fresh_clone(tmp_path: Path):
    """The project resolves the runtime from the session's index (`served_runtime`), which
    stands in for PyPI, where a release publishes it."""
    generate, suite = quick_start()
    clone = tmp_path / "groundwork"
    run(["git", "clone", "-q", str(TEMPLATE), str(clone)], tmp_path)
    # Enter on every question: the defaults, as a first-time user would take them.
    done = subprocess.run(shlex.split(generate), cwd=clone, env=ENV, input="\n" * 40,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    project = tmp_path / "tumour-classifier"
    assert f"Ready: cd {project.name} && make pipeline && make test" in done.stdout
    log = run(["git", "log", "--format=%s"], project).stdout.splitlines()
    assert log == ["Start project from the Groundwork template"]
    # The second command is the suite itself, which CI runs the same way.
    assert suite == "uv run pytest"
    assert (TEMPLATE / ".ci/run").read_text().rstrip().endswith(suite)
