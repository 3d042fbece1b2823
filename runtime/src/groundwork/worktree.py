"""What git holds of a pipeline run, so that a model's lineage never names a commit that
lacks what built it.

A run's inputs are the code, the config and the data pointers. Its records are what
`dvc repro` writes for git: dvc.lock, the metrics and plots, and the .gitignore files DVC
puts beside its outputs. `dvc metrics diff`, `dvc exp show` and a colleague's checkout
all read the records from a commit, so a run counts as committed only with both.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from . import COMMAND
from .errors import UserFacingError

# Git pathspecs. The data and model folders hold only DVC pointers and .gitignore files
# for git: the files themselves are ignored.
RUN_INPUTS = (
    "conf", "src", "dvc.yaml", "params.yaml", "pyproject.toml", "uv.lock",
    ":(glob)data/**/*.dvc",
)  # fmt: skip
RUN_FILES = (*RUN_INPUTS, "dvc.lock", "data", "models", "reports")
COMMIT_HINT = "make commit-run"


def changed_files(
    pathspecs: tuple[str, ...] = RUN_FILES, root: Path = Path(".")
) -> list[str] | None:
    """Files under the pathspecs that differ from HEAD (staged, unstaged or new), sorted;
    None outside a git repository."""
    try:
        done = subprocess.run(
            ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *pathspecs],
            cwd=root,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    entries = iter(done.stdout.split("\0"))
    changed = set()
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        changed.add(path)
        if "R" in status or "C" in status:
            changed.add(next(entries))  # a rename also names its source
    return sorted(changed)


def stale_stages() -> list[str]:
    """The pipeline stages whose code, params or data changed since dvc.lock was written."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        status = repo.status()
    lines = []
    for stage, changes in status.items():
        details = []
        for change in changes:
            if isinstance(change, dict):
                details += [
                    f"{kind} {', '.join(items) if isinstance(items, dict) else items}"
                    for kind, items in change.items()
                ]
            else:
                details.append(str(change))
        lines.append(f"{stage}: {'; '.join(details)}")
    return lines


def head_sha(root: Path = Path(".")) -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip()


def run_summary(metrics_path: Path) -> str:
    """The run's metrics on one line, for its commit message."""
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        return "Run the pipeline"
    scores = ", ".join(
        f"{name} {value:.4f}" for name, value in metrics.items() if isinstance(value, float)
    )
    return f"Run the pipeline: {scores}" if scores else "Run the pipeline"


def status_message(changes: list[str] | None) -> str:
    """What to tell the user after a run: commit it, or nothing to do."""
    if changes is None:
        return "not a git repository: the run's lineage cannot name a commit."
    if not changes:
        return "the run is committed: its lineage names a commit that holds it."
    files = "\n".join(f"  {path}" for path in changes)
    return (
        f"not committed yet (the code, config and records of this run):\n{files}\n"
        f"Commit them before promoting, so the lineage names a commit that holds them: "
        f"{COMMIT_HINT}"
    )


def commit_run(message: str) -> list[str]:
    """Commit the run's inputs and records (git's hooks run); return what was committed."""
    changes = changed_files()
    if changes is None:
        raise UserFacingError("not a git repository: run `git init` first.")
    if not changes:
        return []
    subprocess.run(["git", "add", "--all", "--", *changes], check=True)
    done = subprocess.run(
        ["git", "commit", "--quiet", "-m", message], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise UserFacingError(
            f"`git commit` failed (exit code {done.returncode}); the files stay staged:\n"
            f"{done.stdout}{done.stderr}".rstrip()
            + f"\nFix what it reports, then run `uv run {COMMAND} commit-run` again."
        )
    return changes
