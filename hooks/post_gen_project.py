"""Turn the rendered files into a ready repository.

Prunes the files of unused options, locks the environment, puts the sample data
under DVC with the chosen remote, records the answers for `cruft update` and makes
the first commit, saying what it does as it goes. Every step is a plain function
the template's tests import.
"""

from __future__ import annotations

import hashlib
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
MAX_BUCKET_NAME = 63
# Files that `cruft update` must leave alone: they are the project's own, not the template's.
# The user's own code (src/) and data configs (conf/data/) among them: the platform comes
# through the runtime, never as a patch to what the user edits.
CRUFT_SKIP = [".git", ".dvc", "data", "uv.lock", "params.yaml", "dvc.lock", "src", "conf/data"]
KEPT_PRIVATE = {"_runtime_index"}


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
    # S3 buckets, GCS buckets and Azure containers take at most 63 characters: a long slug
    # is cut so that `<slug>-dvc` stays a name the cloud accepts.
    bucket = f"{slug[: MAX_BUCKET_NAME - len('-dvc')].rstrip('-')}-dvc"
    return {
        "local": f"../{slug}-dvc-storage",
        "s3": f"s3://{bucket}",
        "gcs": f"gs://{bucket}",
        "azure": f"azure://{bucket}",
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
    # Private answers stay private, except the runtime's index: an update renders the
    # project's pyproject.toml with it, not with the template's default.
    context = {k: v for k, v in answers.items() if not k.startswith("_") or k in KEPT_PRIVATE}
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


# `uv lock` asks the package index about every package (3-5 s on a warm cache) although
# the cache has the answers; `uv lock --offline` resolves from the cache in about 0.7 s.
# Either way the lock is a full universal lock for the project's requires-python; offline,
# it pins the newest versions the cache knows, which can be older than the index's newest
# (`uv lock --upgrade` moves on). When the cache cannot resolve (first bake, a new Python
# version), the hook asks the index.
def lock_environment(project: Path, env: dict, say=None) -> None:
    """`uv lock` from uv's cache; ask the package index only when the cache cannot resolve."""
    say = say or progress
    try:
        run(["uv", "lock", "--offline", "--quiet"], project, env)
    except SetupError:
        say("  uv's cache cannot resolve the lock: asking the package index ...")
        run(["uv", "lock", "--quiet"], project, env)


def progress(message: str) -> None:
    """Tell the person at the terminal what the bake is doing."""
    print(message, flush=True)


# DVC's setup is written here, not run. What `dvc init`, `dvc config`, `dvc remote add`,
# `dvc add` and `dvc push` leave is a few small text files and one content-addressed copy
# of the sample data; starting DVC to write them took about 2 s of a 4.3 s bake, mostly
# its imports (benchmarks/bench_bake.py). tests/test_hooks.py runs those DVC commands
# beside this code, with the DVC the project requires, and compares every file both leave.
# `.dvc/config.local` is ignored by the project's .gitignore already, so DVC leaves it out here.
DVC_GITIGNORE = "/tmp\n/cache\n"
CACHE_FILES = Path(".dvc") / "cache" / "files" / "md5"


def dvc_config(answers: dict) -> str:
    """`.dvc/config` as `dvc config` and `dvc remote add --default` write it."""
    url = remote_url(answers)
    if "://" not in url and not os.path.isabs(url):
        # DVC keeps a local path relative to the config file's folder, .dvc/.
        url = Path(os.path.relpath(url, ".dvc")).as_posix()
    return (
        "[core]\n    analytics = false\n    check_update = false\n"
        f"    remote = {REMOTE_NAME}\n[hydra]\n    enabled = true\n"
        f"['remote \"{REMOTE_NAME}\"']\n    url = {url}\n"
    )


def md5_of(path: Path) -> str:
    # The project's own copy (data/adopt.py) is not importable here: the hook runs in
    # cookiecutter's environment, before the project has one.
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def store(data: Path, digest: str, storage: Path) -> None:
    """A read-only copy of `data` at its content address, as DVC's cache and remotes keep it."""
    target = storage / digest[:2] / digest[2:]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data, target)
    target.chmod(0o444)


def setup_dvc(project: Path, answers: dict) -> None:
    """Initialise DVC with the chosen default remote and put the sample data under it."""
    dvc_dir = project / ".dvc"
    dvc_dir.mkdir(exist_ok=True)
    (dvc_dir / ".gitignore").write_text(DVC_GITIGNORE)
    (dvc_dir / "config").write_text(dvc_config(answers))
    data = project / SAMPLE_DATA[answers["task"]]
    digest = md5_of(data)
    (data.parent / f"{data.name}.dvc").write_text(
        f"outs:\n- md5: {digest}\n  size: {data.stat().st_size}\n  hash: md5\n  path: {data.name}\n"
    )
    (data.parent / ".gitignore").write_text(f"/{data.name}\n")
    store(data, digest, project / CACHE_FILES)
    if answers["dvc_remote"] == "local":
        # `dvc push`: the remote is a folder, and the first clone's `make data` reads it.
        store(data, digest, project / remote_url(answers) / "files" / "md5")


def setup_repository(project: Path, answers: dict, say=progress) -> None:
    env = git_identity_env(answers, project=project)
    say("Initialising git ...")
    run(["git", "init", "--quiet", "--initial-branch=main"], project, env)
    say("Locking the environment (uv lock) ...")
    lock_environment(project, env, say)
    data, url = SAMPLE_DATA[answers["task"]], remote_url(answers)
    say(f"Putting {data} under DVC (remote '{REMOTE_NAME}': {url}) ...")
    setup_dvc(project, answers)
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
