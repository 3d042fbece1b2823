"""Turn the rendered files into a ready repository.

Prunes the files of unused options, locks the environment, puts the sample data
under DVC with the chosen remote, records the answers for `cruft update` and makes
the first commit, saying what it does as it goes. Every step is a plain function
the template's tests import.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ANSWERS = r"""{{ cookiecutter | tojson }}"""

CI_FILES = {"github": [".github"], "gitlab": [".gitlab-ci.yml"], "none": []}
# Per task: its sample data set, and the files of the other task's sample and models.
SAMPLE_DATA = {
    "classification": "data/raw/breast_cancer.csv",
    "regression": "data/raw/diabetes.csv",
}
TASK_FILES = {
    "classification": ["conf/data/breast_cancer.yaml", "conf/model/logistic_regression.yaml"],
    "regression": ["conf/data/diabetes.yaml", "conf/model/ridge.yaml"],
}
REMOTE_NAME = "storage"
# Files that `cruft update` must leave alone: they are the project's own, not the template's.
CRUFT_SKIP = [".git", ".dvc", "data", "uv.lock", "params.yaml", "dvc.lock"]


class SetupError(RuntimeError):
    """A setup command failed; the message says which one and why."""

    def __init__(self, message: str, returncode: int | None = None):
        super().__init__(message)
        self.returncode = returncode


def prune(project: Path, ci: str, task: str = "classification") -> None:
    """Remove the CI files of the providers, and the files of the task, that were not chosen."""
    unused = [path for provider, paths in CI_FILES.items() if provider != ci for path in paths]
    for other, paths in TASK_FILES.items():
        if other != task:
            unused += [*paths, SAMPLE_DATA[other]]
    for rel in unused:
        target = project / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def remote_url(answers: dict) -> str:
    """The remote URL the user gave, or the default for the chosen remote type."""
    if answers["dvc_remote_url"]:
        return answers["dvc_remote_url"]
    slug = answers["project_slug"]
    return {
        "local": f"../{slug}-dvc-storage",
        "s3": f"s3://{slug}-dvc",
        "gcs": f"gs://{slug}-dvc",
        "azure": f"azure://{slug}-dvc",
    }[answers["dvc_remote"]]


def git_identity_env(
    answers: dict, environ: dict | None = None, project: Path | None = None
) -> dict:
    """Environment for the first commit: the author answers stand in for a missing git identity."""
    env = dict(os.environ if environ is None else environ)
    for key, config_key, answer in (
        ("NAME", "user.name", "author_name"),
        ("EMAIL", "user.email", "author_email"),
    ):
        configured = subprocess.run(
            ["git", "config", "--get", config_key], cwd=project, capture_output=True, text=True
        ).stdout.strip()
        if not configured and not env.get(f"GIT_AUTHOR_{key}"):
            env[f"GIT_AUTHOR_{key}"] = answers[answer]
            env[f"GIT_COMMITTER_{key}"] = answers[answer]
    return env


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    """Run a setup command; a failure names the command, its output and what to do."""
    try:
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise SetupError(f"'{cmd[0]}' was not found: install it and bake again.") from exc
    if done.returncode != 0:
        raise SetupError(
            f"'{' '.join(cmd)}' failed with exit code {done.returncode}:\n"
            f"{done.stdout}{done.stderr}".rstrip(),
            done.returncode,
        )
    return done.stdout


def template_source(answers: dict) -> tuple[str, str | None]:
    """Where the template came from and at which commit, as cruft records it."""
    template = answers.get("_template", "")
    if template and Path(template).expanduser().is_dir():
        template = str(Path(template).expanduser().resolve())
    elif template:
        try:  # cookiecutter runs this hook, so its abbreviation table is at hand
            from cookiecutter.config import BUILTIN_ABBREVIATIONS
            from cookiecutter.repository import expand_abbreviations

            template = expand_abbreviations(template, BUILTIN_ABBREVIATIONS)
        except ImportError:
            pass
    repo_dir = answers.get("_repo_dir") or template
    commit = (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True
        ).stdout.strip()
        if repo_dir and Path(repo_dir).is_dir()
        else ""
    )
    return template, commit or None


def write_cruft_state(project: Path, answers: dict) -> None:
    """Record the answers so `cruft check` and `cruft update` work on the project."""
    template, commit = template_source(answers)
    context = {k: v for k, v in answers.items() if not k.startswith("_")}
    context["_template"] = template
    if commit:
        context["_commit"] = commit
    state = {
        "template": template,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None,
        "skip": CRUFT_SKIP,
    }
    (project / ".cruft.json").write_text(json.dumps(state, indent=2) + "\n")


def dvc_commands(answers: dict) -> list[list[str]]:
    """The DVC CLI calls that set up the data versioning, in order.

    `init --force` makes the list safe to run again over a first run (see `setup_dvc`).
    """
    commands = [
        ["init", "--quiet", "--force"],
        ["config", "core.analytics", "false"],
        ["config", "core.check_update", "false"],
        ["config", "hydra.enabled", "true"],
        ["remote", "add", "--default", REMOTE_NAME, remote_url(answers)],
        ["add", "--quiet", SAMPLE_DATA[answers["task"]]],
    ]
    if answers["dvc_remote"] == "local":
        commands.append(["push", "--quiet"])
    return commands


# Where the bake's time goes, on a warm uv cache (benchmarks/bench_bake.py has the figures):
# - `uv lock` asks the package index about every package (3-5 s) although the cache has the
#   answers; `uv lock --offline` resolves from the cache in about 0.7 s. Either way the lock
#   is a full universal lock for the project's requires-python; offline, it pins the newest
#   versions the cache knows, which can be older than the index's newest (`uv lock --upgrade`
#   moves on). When the cache cannot resolve (first bake, a new Python version), the hook
#   asks the index.
# - DVC's setup used to build the project's venv first (`uv run --only-group pipeline`:
#   install, then compile DVC's imports in the new venv; about 7 s). It now runs in uv's
#   cached tool environment of DVC (`uv tool run`: about 0.4 s, then DVC's own 1.7-2 s);
#   the first `make pipeline` builds the venv, as it did for the other groups anyway.
# - The lock and DVC write different files, so they run side by side (the hook: about
#   2.7 s instead of 12.5). DVC starts from the project's requirement (`dvc>=...`) before
#   the lock exists; if it got another version than the lock pins (both read the same
#   cache, so this is rare), it runs again with the locked one, which its commands allow.
#   The price: two threads in the hook, and a second DVC run in that rare case.
DVC_SCRIPT = """
import sys, json
from importlib.metadata import version
from dvc.cli import main
for argv in json.loads(sys.argv[1]):
    if main(argv) != 0:
        print('dvc ' + ' '.join(argv) + ' failed', file=sys.stderr)
        sys.exit(3)
print(version('dvc'))
"""
DVC_FAILED = 3  # DVC_SCRIPT's exit code when a DVC command fails (not uv's environment)


def progress(message: str) -> None:
    """Tell the person at the terminal what the bake is doing."""
    print(message, flush=True)


def dvc_requirement(project: Path) -> str:
    """The project's own DVC version requirement (e.g. `dvc>=3.55`), from its pyproject.toml.

    Without the extras (`dvc[s3]`): setting up needs no cloud client.
    """
    pyproject = (project / "pyproject.toml").read_text()
    found = re.search(r'"dvc(?:\[[^\]]*\])?\s*([<>=!~][^";]*)?"', pyproject)
    return "dvc" + (found.group(1) or "").replace(" ", "") if found else "dvc"


def locked_version(project: Path, package: str) -> str | None:
    """The version of `package` that the project's uv.lock pins."""
    lock = (project / "uv.lock").read_text()
    found = re.search(rf'\[\[package\]\]\nname = "{re.escape(package)}"\nversion = "([^"]+)"', lock)
    return found.group(1) if found else None


def lock_environment(project: Path, env: dict, say=progress) -> None:
    """`uv lock` from uv's cache; ask the package index only when the cache cannot resolve."""
    try:
        run(["uv", "lock", "--offline", "--quiet"], project, env)
    except SetupError:
        say("  uv's cache cannot resolve the lock: asking the package index ...")
        run(["uv", "lock", "--quiet"], project, env)


def setup_dvc(project: Path, answers: dict, env: dict, requirement: str = "dvc") -> str:
    """Run every DVC command in one interpreter of a cached DVC; return DVC's version.

    One interpreter, because DVC's start-up dominates each call. uv's cache serves the
    environment offline when it can; otherwise uv fetches it.
    """
    if answers["dvc_remote"] == "local":
        (project / remote_url(answers)).mkdir(parents=True, exist_ok=True)
    commands = json.dumps(dvc_commands(answers))
    tool = ["uv", "tool", "run", "--from", requirement, "python", "-c", DVC_SCRIPT, commands]
    offline = [*tool[:3], "--offline", *tool[3:]]
    try:
        return run(offline, project, env).strip().splitlines()[-1]
    except SetupError as exc:
        if exc.returncode == DVC_FAILED:
            raise
    return run(tool, project, env).strip().splitlines()[-1]


def setup_repository(project: Path, answers: dict, say=progress) -> None:
    env = git_identity_env(answers, project=project)
    env["DVC_NO_ANALYTICS"] = "1"
    say("Initialising git ...")
    run(["git", "init", "--quiet", "--initial-branch=main"], project, env)
    say("Locking the environment (uv lock) ...")
    data, url = SAMPLE_DATA[answers["task"]], remote_url(answers)
    say(f"Putting {data} under DVC (remote '{REMOTE_NAME}': {url}) ...")
    with ThreadPoolExecutor(max_workers=2) as pool:
        lock = pool.submit(lock_environment, project, env, say)
        dvc = pool.submit(setup_dvc, project, answers, env, dvc_requirement(project))
        lock.result()
        used = dvc.result()
    locked = locked_version(project, "dvc")
    if locked and used != locked:
        say(f"  DVC {used} is not the locked {locked}: setting DVC up again with it ...")
        setup_dvc(project, answers, env, f"dvc=={locked}")
    write_cruft_state(project, answers)
    say("Making the first commit ...")
    run(["git", "add", "--all"], project, env)
    message = "Start project from the Groundwork template"
    run(["git", "commit", "--quiet", "--no-verify", "-m", message], project, env)


def main() -> int:
    answers = json.loads(ANSWERS)
    project = Path.cwd()
    prune(project, answers["ci"], answers["task"])
    if "_commit" in answers:
        # cruft renders the template into a scratch folder to compute its diff:
        # the files are all it needs, and the repository must not be set up there.
        return 0
    try:
        setup_repository(project, answers)
    except SetupError as exc:
        print(f"ERROR: project setup failed: {exc}", file=sys.stderr)
        return 1
    print(f"Ready: cd {project.name} && make pipeline && make test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
