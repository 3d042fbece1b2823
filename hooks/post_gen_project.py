"""Turn the rendered files into a ready repository.

Prunes the files of unused options, locks the environment, puts the sample data
under DVC with the chosen remote, records the answers for `cruft update` and makes
the first commit. Every step is a plain function the template's tests import.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
            f"{done.stdout}{done.stderr}".rstrip()
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
    """The DVC CLI calls that set up the data versioning, in order."""
    commands = [
        ["init", "--quiet"],
        ["config", "core.analytics", "false"],
        ["config", "core.check_update", "false"],
        ["config", "hydra.enabled", "true"],
        ["remote", "add", "--default", REMOTE_NAME, remote_url(answers)],
        ["add", "--quiet", SAMPLE_DATA[answers["task"]]],
    ]
    if answers["dvc_remote"] == "local":
        commands.append(["push", "--quiet"])
    return commands


def setup_dvc(project: Path, answers: dict, env: dict) -> None:
    """Run every DVC command in one interpreter: DVC's start-up dominates each call."""
    if answers["dvc_remote"] == "local":
        (project / remote_url(answers)).mkdir(parents=True, exist_ok=True)
    script = (
        "import sys, json\n"
        "from dvc.cli import main\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    if main(argv) != 0:\n"
        "        sys.exit('dvc ' + ' '.join(argv) + ' failed')\n"
    )
    run(
        ["uv", "run", "--frozen", "--only-group", "pipeline", "python", "-c", script,
         json.dumps(dvc_commands(answers))],
        project,
        env,
    )  # fmt: skip


def setup_repository(project: Path, answers: dict) -> None:
    env = git_identity_env(answers, project=project)
    env["DVC_NO_ANALYTICS"] = "1"
    run(["git", "init", "--quiet", "--initial-branch=main"], project, env)
    run(["uv", "lock", "--quiet"], project, env)
    setup_dvc(project, answers, env)
    write_cruft_state(project, answers)
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
