"""The container, its Kubernetes manifests and the CI stages that build and deploy it."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import COMBINATIONS, ENV, TEMPLATE, bake, free_port, missing_tool, run

BIN = Path(ENV["PATH"].split(os.pathsep)[0])
# The oldest Kubernetes release the manifests promise to work on.
KUBERNETES_VERSION = "1.31.0"
BASE_IMAGE_SCRIPT = TEMPLATE / ".ci" / "make-base-image.sh"


def manifests(project: Path) -> dict[str, dict]:
    """deploy/*.yaml by kind."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted((project / "deploy").glob("*.yaml"))]
    return {doc["kind"]: doc for doc in docs}


def test_dockerfile_passes_hadolint(default_project):
    hadolint = [str(BIN / "hadolint"), "--failure-threshold", "info", "Dockerfile"]
    done = run(hadolint, default_project)
    assert done.stdout == ""


def test_dockerignore_keeps_data_and_environments_out(default_project):
    """The build context holds only what the image needs (an allowlist)."""
    lines = (default_project / ".dockerignore").read_text().split("\n")
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "LICENSE", "src", "models"}


def test_manifests_are_valid_kubernetes(default_project):
    """What a schema sees; how the manifests fit together and fit the image, the project's
    own tests/test_deploy.py checks (in `make test`)."""
    resources = manifests(default_project)
    assert set(resources) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for resource in resources.values():
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    # The validator is strict: an unknown field is an error, not silently dropped.
    broken = copy.deepcopy(resources["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["healthCheck"] = "/health"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_make_deploy_swaps_in_the_pushed_image(default_project):
    """`make deploy` renders the Deployment with IMAGE before applying it (no cluster needed)."""
    if shutil.which("kubectl") is None:
        missing_tool("kubectl is not installed (apt-get install kubectl)")
    image = "registry.example/team/app:abc123"
    dry = run(["make", "--dry-run", "deploy", f"IMAGE={image}"], default_project)
    render = next(line for line in dry.stdout.splitlines() if "set image --local" in line)
    rendered = run(render.split("|")[0], default_project).stdout
    (container,) = yaml.safe_load(rendered)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image


def check_schema(project: Path, schema: str, *paths: str) -> None:
    run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, *paths], project)


CI_YML = ".github/workflows/ci.yml"
RETRAIN_YML = ".github/workflows/retrain.yml"


@pytest.fixture(scope="module")
def gitlab_project(cookies_session) -> Path:
    """A GitLab project with the default local DVC remote, which a test can pull from;
    test_gitlab_retrain_and_promote_jobs_run runs the retrain job in it."""
    return bake(cookies_session, ci="gitlab")


@pytest.mark.slow
def test_github_workflow_builds_pushes_and_deploys_behind_approval(default_project):
    check_schema(default_project, "vendor.github-workflows", CI_YML, RETRAIN_YML)
    path = CI_YML
    text = (default_project / path).read_text()
    # GitHub Container Registry paths are the repository's, lowercased.
    assert "ghcr.io/${GITHUB_REPOSITORY,,}" in text
    jobs = yaml.safe_load(text)["jobs"]
    package, image, deploy = jobs["model-package"], jobs["image"], jobs["deploy"]
    # The production model is resolved on pushes only (tests/test_ci_runners.py runs it), and
    # the image is built only once the checks and the audit of the dependencies pass and a
    # model was found.
    assert "github.event_name == 'push'" in package["if"]
    assert set(image["needs"]) == {"notebooks", "audit", "model-package"}
    assert image["if"] == "needs.model-package.outputs.image"
    assert image["permissions"]["packages"] == "write"
    assert deploy["needs"] == "image"
    assert deploy["environment"] == "production"
    steps = " ".join(step.get("run", "") for step in deploy["steps"])
    assert "make deploy" in steps


@pytest.mark.slow
def test_gitlab_ci_builds_pushes_and_deploys_manually(cookies):
    project = bake(cookies, **COMBINATIONS["py312-gitlab-s3"])
    check_schema(project, "vendor.gitlab-ci", ".gitlab-ci.yml")
    config = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert config["stages"][-4:] == ["image", "deploy", "retrain", "promote"]
    build, deploy = config["build-image"], config["deploy"]
    # `needs` starts a job once the jobs it names pass, whatever their stage: the image waits
    # for the audit of the dependencies it installs.
    assert set(build["needs"]) == {"model-package", "audit"}
    assert "build-image" in deploy["needs"]
    # The image name (registry, model version, commit) comes from model-package's dotenv.
    assert "$CI_REGISTRY_IMAGE" in " ".join(config["model-package"]["script"])
    assert config["model-package"]["artifacts"]["reports"]["dotenv"] == "model.env"
    assert 'docker push "$IMAGE"' in build["script"]
    assert 'make deploy IMAGE="$IMAGE"' in deploy["script"]
    assert deploy["environment"]["name"] == "production"
    skip_retrain, *rules = deploy["rules"]
    assert skip_retrain == NOT_IN_RETRAIN
    assert {rule["when"] for rule in rules} == {"manual"}
    assert any(line.startswith("make deploy") for line in deploy["script"])


# --- The weekly retrain: retrain, report, gate, then promote once a person approves.

# The first rule of every GitLab job outside the retrain loop.
NOT_IN_RETRAIN = {"if": '$RETRAIN == "1"', "when": "never"}
GITLAB_KEYWORDS = {"stages", "default", "variables", "workflow", "include", "image", "services"}


def gitlab_jobs(config: dict) -> dict[str, dict]:
    """The jobs of a .gitlab-ci.yml, hidden templates (`.name`) left out, with `extends`
    applied (top-level keys only, which is all this file's templates set)."""

    def resolved(job: dict) -> dict:
        parents = job.get("extends", [])
        merged = {}
        for parent in [parents] if isinstance(parents, str) else parents:
            merged.update(resolved(config[parent]))
        return {**merged, **{k: v for k, v in job.items() if k != "extends"}}

    return {
        name: resolved(job)
        for name, job in config.items()
        if name not in GITLAB_KEYWORDS and not name.startswith(".") and isinstance(job, dict)
    }


def dvc_outputs(project: Path) -> set[str]:
    """The paths of every pipeline output, as params.yaml names them."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    data = params["data"]
    paths = [data["validated_path"], data["train_path"], data["test_path"]]
    return {*paths, *params["artifacts"].values()}


def covered(path: str, kept: list[str]) -> bool:
    """Whether an artifact of the paths `kept` holds `path`."""
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in kept)


def paths_of(text: str) -> list[str]:
    return text.split() if isinstance(text, str) else list(text)


@pytest.mark.slow
def test_github_retrain_reports_gates_and_promotes_behind_approval(default_project):
    workflow = yaml.safe_load((default_project / RETRAIN_YML).read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    retrain, promote = workflow["jobs"]["retrain"], workflow["jobs"]["promote"]
    steps = retrain["steps"]
    # The registry (GTO) lives in the tags: both jobs need all of them.
    for job in (retrain, promote):
        assert job["steps"][0]["with"]["fetch-depth"] == 0
    runs = [step["run"] for step in steps if "run" in step]
    order = ["make data", "make pipeline", "make monitor", "make report", "make gate"]
    starts = [next(i for i, cmd in enumerate(runs) if cmd.startswith(c)) for c in order]
    assert starts == sorted(starts)
    # monitor runs only on a fetched log; the report runs without one too.
    fetch = next(step for step in steps if step.get("id") == "log")
    assert "dvc get-url" in fetch["run"] and "vars.PREDICTION_LOG_URL" in str(fetch["env"])
    monitor = next(step for step in steps if step.get("run", "").startswith("make monitor"))
    assert monitor["if"] == "steps.log.outputs.path"
    report = next(step for step in steps if step.get("run", "").startswith("make report"))
    assert "!cancelled()" in report["if"]
    uploads = {s["with"]["name"]: s for s in steps if "upload-artifact" in s.get("uses", "")}
    assert "!cancelled()" in uploads["reports"]["if"]
    reports = paths_of(uploads["reports"]["with"]["path"])
    assert reports == ["reports/business/", "reports/monitoring/"]
    # The candidate: the run's record and every pipeline output.
    kept = paths_of(uploads["candidate"]["with"]["path"])
    assert {"dvc.lock", "params.yaml"} <= set(kept)
    assert all(covered(path, kept) for path in dvc_outputs(default_project)), kept
    # The gate's verdict is the job's output; only `promote` hands on a candidate.
    gate = next(step for step in steps if step.get("id") == "gate")
    assert gate["run"] == 'make gate VERDICT_FILE="$GITHUB_OUTPUT"'
    assert retrain["outputs"] == {"verdict": "${{ steps.gate.outputs.verdict }}"}
    assert uploads["candidate"]["if"] == "steps.gate.outputs.verdict == 'promote'"

    # A person approves, and only a candidate to promote: required reviewers on the
    # environment; then commit and promote.
    assert promote["needs"] == "retrain"
    assert promote["if"] == "needs.retrain.outputs.verdict == 'promote'"
    assert promote["environment"] == "production"
    assert promote["concurrency"] == "production"
    assert promote["permissions"] == {"contents": "write"}
    assert "secrets.PROMOTE_TOKEN" in promote["steps"][0]["with"]["token"]
    promote_runs = [step.get("run") or step["uses"] for step in promote["steps"]]
    download = promote_runs.index("actions/download-artifact@v4")
    assert promote_runs.index("make commit-run") > download
    assert promote_runs.index("make promote") == promote_runs.index("make commit-run") + 1


@pytest.mark.slow
def test_gitlab_retrain_runs_alone_and_promotes_by_hand(gitlab_project):
    check_schema(gitlab_project, "vendor.gitlab-ci", ".gitlab-ci.yml")
    config = yaml.safe_load((gitlab_project / ".gitlab-ci.yml").read_text())
    jobs = gitlab_jobs(config)
    retrain, promote = jobs.pop("retrain"), jobs.pop("promote")
    # Every other job skips RETRAIN pipelines, and keeps its rules for the others.
    assert set(jobs) == {
        "lint", "test", "audit", "pipeline", "notebooks", "model-package", "build-image",
        "deploy",
    }  # fmt: skip
    for name, job in jobs.items():
        assert job["rules"][0] == NOT_IN_RETRAIN, name
        assert len(job["rules"]) > 1, name
    assert retrain["rules"] == [{"if": '$RETRAIN == "1"'}]
    assert retrain["variables"]["GIT_DEPTH"] == "0"
    script = retrain["script"]
    order = ["make data", "make pipeline", "make report", "make gate"]
    starts = [next(i for i, line in enumerate(script) if line.startswith(c)) for c in order]
    assert starts == sorted(starts)
    assert any("dvc get-url" in line and "PREDICTION_LOG_URL" in line for line in script)
    assert any("make monitor" in line for line in script)
    artifacts = retrain["artifacts"]
    assert artifacts["when"] == "always" and artifacts["name"]
    assert {"reports/business/", "reports/monitoring/", "dvc.lock"} <= set(artifacts["paths"])
    assert all(covered(path, artifacts["paths"]) for path in dvc_outputs(gitlab_project))
    # The gate's verdict reaches `promote` as a dotenv variable; promote acts on it first.
    assert "make gate VERDICT_FILE=verdict.env" in script
    assert artifacts["reports"] == {"dotenv": "verdict.env"}
    assert promote["script"][0].startswith('if [ "$verdict" != promote ]; then')

    # Starting the manual job is the approval.
    assert promote["needs"] == ["retrain"]
    assert [rule["when"] for rule in promote["rules"]] == ["manual"]
    assert promote["rules"][0]["if"] == '$RETRAIN == "1"'
    assert promote["environment"]["name"] == "production"
    assert any("PROMOTE_TOKEN" in line and "set-url" in line for line in promote["script"])
    assert promote["script"].index("make promote") == promote["script"].index("make commit-run") + 1


# --- Running the promote jobs: the retrain's artifacts are enough to commit and promote.


def copy_artifact(source: Path, paths: list[str], dest: Path, hidden: bool) -> None:
    """What an artifact carries from `source` to `dest` (GitHub drops hidden files unless
    `include-hidden-files`; GitLab keeps them)."""
    for rel in paths:
        src = source / rel.rstrip("/")
        if not src.exists():  # both providers warn and go on
            continue
        files = [p for p in src.rglob("*") if p.is_file()] if src.is_dir() else [src]
        for file in files:
            inner = file.relative_to(source)
            if not hidden and any(part.startswith(".") for part in inner.parts):
                continue
            (dest / inner).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, dest / inner)


def promote_clone(project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A bare origin of `project` and a fresh clone of it, whose DVC remote is a copy of
    the project's, as a CI job's checkout sees them."""
    origin, clone = tmp_path / "origin.git", tmp_path / "job"
    run(["git", "clone", "-q", "--bare", str(project), str(origin)], tmp_path)
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    storage = project.parent / f"{project.name}-dvc-storage"
    shutil.copytree(storage, tmp_path / "storage")
    remote = ["uv", "run", "--frozen", "dvc", "remote", "modify", "--local", "storage", "url"]
    run([*remote, str(tmp_path / "storage")], clone)
    return origin, clone


def shell(script: str, cwd: Path, env: dict) -> None:
    run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd, env=env)


def check_promoted(origin: Path, clone: Path, tagger: str) -> None:
    """origin has the run, its registration and the production tag; git holds no data."""
    head = run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    branch = run(["git", "branch", "--show-current"], clone).stdout.strip()
    assert run(["git", "rev-parse", branch], origin).stdout.strip() == head
    tags = run(["git", "for-each-ref", "refs/tags", "--format=%(refname:short) %(taggername)"],
               origin).stdout  # fmt: skip
    assert f"model#prod#1 {tagger}" in tags and "model@v0.0.1" in tags
    tracked = run(["git", "ls-tree", "-r", "--name-only", "HEAD"], clone).stdout.split()
    assert "dvc.lock" in tracked and "models/registry/v0.0.1.dvc" in tracked
    leaked = [path for path in tracked if path.endswith((".parquet", ".joblib", ".onnx"))]
    assert leaked == []


@pytest.mark.slow
def test_github_promote_job_promotes_the_retrain_artifact(default_project, tmp_path):
    """The promote job's steps, run in a fresh clone given the `candidate` artifact of the
    run default_project made, commit and promote it and push to origin."""
    workflow = yaml.safe_load((default_project / RETRAIN_YML).read_text())
    upload = next(
        step["with"] for step in workflow["jobs"]["retrain"]["steps"]
        if step.get("with", {}).get("name") == "candidate"
    )  # fmt: skip
    origin, clone = promote_clone(default_project, tmp_path)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    branch = run(["git", "branch", "--show-current"], clone).stdout.strip()
    env = {**ENV, "UV_LOCKED": "1", "RUNNER_TEMP": str(runner_temp), "GITHUB_REF_NAME": branch}
    for step in workflow["jobs"]["promote"]["steps"]:
        uses = step.get("uses", "")
        if uses.startswith("actions/download-artifact"):
            assert step["with"]["name"] == "candidate"
            hidden = upload.get("include-hidden-files", False)
            copy_artifact(default_project, paths_of(upload["path"]), clone, hidden)
        elif "run" in step:
            assert "${{" not in step["run"]
            shell(step["run"], clone, env)
        else:  # the checkout and uv's setup: the clone and `uv run` stand in for them
            assert uses.split("@")[0] in {"actions/checkout", "astral-sh/setup-uv"}, uses
    check_promoted(origin, clone, "github-actions[bot]")


@pytest.mark.slow
def test_gitlab_retrain_and_promote_jobs_run(gitlab_project, tmp_path):
    """The retrain job's script in the bake (no model in production yet, no log), then the
    promote job's in a fresh clone given its artifacts, on a detached HEAD as GitLab's."""
    config = yaml.safe_load((gitlab_project / ".gitlab-ci.yml").read_text())
    retrain, promote = config["retrain"], config["promote"]
    env = {**ENV, "UV_LOCKED": "1"}
    env.pop("PREDICTION_LOG_URL", None)
    shell("\n".join(retrain["script"]), gitlab_project, env)
    assert (gitlab_project / "reports/business/index.html").exists()
    # The gate's verdict, which GitLab hands to promote as variables (a dotenv report).
    dotenv = (gitlab_project / retrain["artifacts"]["reports"]["dotenv"]).read_text()
    verdict = dict(line.split("=", 1) for line in dotenv.splitlines())
    assert verdict == {"verdict": "promote"}  # no model in production yet

    origin, clone = promote_clone(gitlab_project, tmp_path)
    branch = run(["git", "branch", "--show-current"], clone).stdout.strip()
    copy_artifact(gitlab_project, retrain["artifacts"]["paths"], clone, hidden=True)
    run(["git", "checkout", "-q", "--detach"], clone)
    # The push URL with the token is GitLab's; this origin is a local folder.
    script = [line for line in promote["script"] if "git remote set-url" not in line]
    approver = {"GITLAB_USER_NAME": "Ada Approver", "GITLAB_USER_EMAIL": "ada@example.com"}
    job_env = {**env, **approver, **verdict, "PROMOTE_TOKEN": "unused",
               "CI_COMMIT_REF_NAME": branch}  # fmt: skip
    shell("\n".join(script), clone, job_env)
    check_promoted(origin, clone, "Ada Approver")
    # The reports are retrain's artifacts, not part of the committed run.
    tracked = run(["git", "ls-tree", "-r", "--name-only", "HEAD"], clone).stdout.split()
    assert not [path for path in tracked if path.startswith("reports/business/")]


# --- Every `make` call in CI names a Makefile target that the suite runs.

TARGET = re.compile(r"^[a-z][a-z0-9-]*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Shell words after which a new command starts.
COMMAND_START = {";", "&&", "||", "|", "(", "{", "then", "do", "else", "!"}
DRY_RUN = {"-n", "--dry-run", "--just-print", "--recon"}
# Targets no test machine can run, and what the suite runs of them instead.
NOT_RUNNABLE = {"deploy": "needs a Kubernetes cluster: the suite runs `make --dry-run deploy`"}
TOOLS = {"dvc", "gto", "jupyter", "pytest", "ruff", "pre-commit", "python", "cruft"}


def make_calls(script: str) -> set[str]:
    """The targets of every `make` command in a shell script."""
    targets = set()
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for i, word in enumerate(words):
            if word != "make" or (i and words[i - 1] not in COMMAND_START):
                continue
            for arg in words[i + 1 :]:
                if TARGET.match(arg):
                    targets.add(arg)
                elif not (arg.startswith("-") or ASSIGNMENT.match(arg)):
                    break
    return targets


def ci_make_targets(project: Path) -> dict[str, set[str]]:
    """The make targets each CI file of the project calls, from its jobs' scripts."""
    found = {}
    for workflow in sorted((project / ".github/workflows").glob("*.yml")):
        jobs = yaml.safe_load(workflow.read_text())["jobs"].values()
        scripts = [step["run"] for job in jobs for step in job["steps"] if "run" in step]
        found[workflow.name] = set().union(*map(make_calls, scripts))
    gitlab = project / ".gitlab-ci.yml"
    if gitlab.exists():
        config = yaml.safe_load(gitlab.read_text())
        lines = [
            line
            for job in config.values() if isinstance(job, dict)
            for key in ("before_script", "script", "after_script")
            for line in job.get(key, [])
        ]  # fmt: skip
        found[gitlab.name] = set().union(*map(make_calls, lines))
    return found


def makefile_recipes(project: Path) -> dict[str, list[str]]:
    """Each target of the Makefile and its recipe lines."""
    recipes, current = {}, None
    for line in (project / "Makefile").read_text().splitlines():
        if line.startswith("\t") and current:
            recipes[current].append(line.strip())
        elif found := re.match(r"^([a-z][a-z0-9-]*)\s*:(?!=)", line):
            current = found.group(1)
            recipes.setdefault(current, [])
        else:
            current = None
    return recipes


def constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def suite_runs(sources: list[Path], cli_module: str) -> tuple[set[str], set[str], set[str]]:
    """What the tests run: make targets, make targets only as a dry run, and subcommands of
    the project's CLI (`uv run <slug> SUB ...`, or `main(["SUB", ...])` from its cli)."""
    made, dry, commands = set(), set(), set()
    for source in sources:
        tree = ast.parse(source.read_text())
        imports_main = any(
            isinstance(node, ast.ImportFrom) and node.module == cli_module
            and any(alias.name == "main" for alias in node.names)
            for node in ast.walk(tree)
        )  # fmt: skip
        lists = {  # names bound to list literals, for `main([*args, ...])`
            node.targets[0].id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.List)
        }  # fmt: skip
        for node in ast.walk(tree):
            if isinstance(node, ast.List | ast.Tuple) and node.elts:
                words = [constant(elt) for elt in node.elts]
                if words[0] == "make":
                    targets = {w for w in words[1:] if w and TARGET.match(w)}
                    (dry if DRY_RUN & set(words) else made).update(targets)
                elif words[:2] == ["uv", "run"]:
                    rest = node.elts[2:]
                    while rest and (constant(rest[0]) or "").startswith("-"):
                        rest = rest[1:]
                    command = constant(rest[1]) if len(rest) >= 2 else None
                    if command and TARGET.match(command) and constant(rest[0]) not in TOOLS:
                        commands.add(command)
            elif imports_main and isinstance(node, ast.Call) and is_name(node.func, "main"):
                argv = node.args[0] if node.args else None
                first = argv.elts[0] if isinstance(argv, ast.List) and argv.elts else None
                if isinstance(first, ast.Starred) and isinstance(first.value, ast.Name):
                    bound = lists.get(first.value.id)
                    first = bound.elts[0] if bound is not None and bound.elts else None
                if first is not None and constant(first):
                    commands.add(constant(first))
    return made, dry, commands


@pytest.mark.slow
def test_ci_calls_only_make_targets_that_the_suite_runs(default_project, gitlab_project):
    """Every `make X` in either provider's CI is a target of the Makefile, and a test runs
    it: `make X` itself (not a dry run), or the CLI subcommand X's recipe calls."""
    sources = [*sorted((TEMPLATE / "tests").glob("*.py")),
               *sorted((TEMPLATE / "runtime/tests").glob("*.py")),
               *sorted((default_project / "tests").glob("*.py"))]  # fmt: skip
    made, dry, commands = suite_runs(sources, "groundwork.cli")
    problems = []
    for project in (default_project, gitlab_project):
        recipes = makefile_recipes(project)
        cli = re.compile(rf"^uv run {re.escape(project.name)} ([a-z][a-z0-9-]*)")
        calls = ci_make_targets(project)
        assert set(calls) >= ({"ci.yml", "retrain.yml"} if project == default_project
                              else {".gitlab-ci.yml"})  # fmt: skip
        for ci_file, targets in calls.items():
            assert targets, ci_file
            for target in sorted(targets):
                if target not in recipes:
                    problems.append(f"{ci_file}: `make {target}` is not a Makefile target")
                    continue
                wrapped = {m.group(1) for line in recipes[target] if (m := cli.match(line))}
                if target in NOT_RUNNABLE:
                    if target not in dry:
                        problems.append(f"{ci_file}: `make {target}` is not even dry-run")
                elif target not in made and not wrapped & commands:
                    via = f" nor `{project.name} {', '.join(sorted(wrapped))}`" if wrapped else ""
                    problems.append(f"{ci_file}: no test runs `make {target}`{via}")
    assert problems == [], "\n".join(sorted(set(problems)))


# --- The audit: pip-audit over the lock must not pass when it cannot ask the advisory service.


@pytest.mark.slow
def test_make_audit_refuses_to_pass_when_the_advisory_service_is_unreachable(
    default_project, tmp_path
):
    uv_cache = run(["uv", "cache", "dir"], default_project).stdout.strip()
    run(["uv", "sync", "--frozen"], default_project)  # the environment, before the network goes
    # A dead proxy, and an empty pip-audit cache, so no earlier answer stands in.
    unreachable = {k: v for k, v in ENV.items() if k.lower() != "no_proxy"} | {
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "XDG_CACHE_HOME": str(tmp_path),
        "PIP_CACHE_DIR": str(tmp_path / "pip"),
        "UV_CACHE_DIR": uv_cache,
        "UV_OFFLINE": "1",
    }
    make = run(["make", "audit"], default_project, check=False, env=unreachable)
    # make reports any failed recipe as 2; the audit's own code is in its last line.
    assert make.returncode == 2
    assert "Error 3" in make.stderr
    expected = "the advisory service (https://pypi.org) could not be reached, so nothing was"
    assert expected in make.stderr
    assert "Traceback" not in make.stdout + make.stderr
    script = ["uv", "run", "--frozen", "python", "-m", "groundwork.tools.audit"]
    direct = run(script, default_project, check=False, env=unreachable)
    assert direct.returncode == 3
    assert expected in direct.stderr


# --- A real build: podman builds the baked project's Dockerfile and the image serves /health.

BASE_IMAGE = "docker.io/library/python:3.11-slim"


def podman_ready() -> str | None:
    """Why a real build cannot run here, or None when it can."""
    for tool in ("podman", "buildah"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install podman buildah debootstrap)"
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE]).returncode != 0:
        return f"no base image {BASE_IMAGE}: make it with {BASE_IMAGE_SCRIPT.relative_to(TEMPLATE)}"
    return None


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the service exited {proc.returncode}:\n{proc.stdout.read()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout}s")


def http(method: str, url: str, body=None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


def in_container(container: str, *command: str, project: Path) -> str:
    """Run a command in a working container of the image (buildah, chroot isolation)."""
    buildah_run = ["buildah", "run", "--isolation", "chroot", container, "--"]
    return run([*buildah_run, *command], project).stdout


@pytest.mark.slow
@pytest.mark.container
def test_image_builds_and_serves_the_production_model(cookies):
    reason = podman_ready()
    if reason:
        missing_tool(reason)
    project = bake(cookies, **COMBINATIONS["default"])
    run(["make", "pipeline"], project)
    run(["make", "commit-run"], project)
    run(["make", "promote"], project)
    # The CI image jobs build once a tag matches this pattern: the promotion made one.
    assert run(["git", "tag", "--list", "model#prod#*"], project).stdout.strip()
    package = project / run(["uv", "run", project.name, "production"], project).stdout.strip()
    lineage = json.loads((package / "lineage.json").read_text())

    assert (package / "model.onnx").is_file()  # ONNX serves it: the image is the lean one
    tag = f"localhost/{project.name}:test-{os.getpid()}"
    # chroot isolation: this machine cannot create the cgroups a container runtime needs.
    build_env = {**ENV, "BUILDAH_ISOLATION": "chroot"}
    run(["make", "image", "CONTAINER=podman", f"IMAGE={tag}"], project, env=build_env)
    container = None
    try:
        (inspect,) = json.loads(run(["podman", "image", "inspect", tag], project).stdout)
        config = inspect["Config"]
        assert config["User"] == "10001:10001"
        sha = run(["git", "rev-parse", "--short=12", "HEAD"], project).stdout.strip()
        assert f"GIT_SHA={sha}" in config["Env"]
        labels = config["Labels"]
        revision = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
        assert labels["org.opencontainers.image.revision"] == revision
        assert labels["org.opencontainers.image.version"] == lineage["version"]
        assert labels["org.opencontainers.image.title"] == project.name
        created = labels["org.opencontainers.image.created"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
        # The image's own layers: what it adds to the base image.
        (base,) = json.loads(run(["podman", "image", "inspect", BASE_IMAGE], project).stdout)
        own_mb = (inspect["Size"] - base["Size"]) / 1e6
        print(f"image {inspect['Size'] / 1e6:.0f} MB, base {base['Size'] / 1e6:.0f} MB, "
              f"own layers {own_mb:.0f} MB")  # fmt: skip
        assert own_mb <= 200
        # Docker format keeps the HEALTHCHECK (OCI drops it); `make image` asks for it.
        health = inspect["Healthcheck"]["Test"]
        assert health[0] == "CMD"

        container = run(["buildah", "from", "--pull-never", tag], project).stdout.strip()
        # The runtime image holds the service and the model, not the pipeline or dev tools.
        listing = in_container(
            container, "python", "-c",
            "import importlib.metadata as m, json;"
            "print(json.dumps([d.metadata['Name'].lower() for d in m.distributions()]))",
            project=project,
        )  # fmt: skip
        installed = set(json.loads(listing))
        serving = {project.name, "groundwork-runtime", "fastapi", "uvicorn", "onnxruntime"}
        assert serving <= installed
        assert not installed & {"dvc", "dvclive", "gto", "pytest", "ruff", "pre-commit"}
        # ONNX serves the package: none of the pipeline's libraries either.
        heavy = {"scikit-learn", "scipy", "pandas", "pyarrow", "hydra-core", "pandera",
                 "joblib", "jupyterlab", "notebook", "matplotlib"}  # fmt: skip
        assert not installed & heavy
        refused = subprocess.run(
            ["buildah", "run", "--isolation", "chroot", container, "--", "python", "-c",
             "import sklearn"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert refused.returncode != 0
        assert "No module named 'sklearn'" in refused.stderr
        # The SBOM `make image` wrote lists exactly what the image installs.
        sbom_name = f"localhost_{project.name}_test-{os.getpid()}.cdx.json"
        sbom_file = project / "reports" / "sbom" / sbom_name
        sbom = json.loads(sbom_file.read_text())
        assert sbom["bomFormat"] == "CycloneDX"
        assert sbom["metadata"]["component"]["name"] == project.name
        listed = {c["name"].lower().replace("_", "-") for c in sbom["components"]}
        assert "onnxruntime" in listed
        assert listed == {name.replace("_", "-") for name in installed} - {project.name}
        ignored = run(["git", "check-ignore", "-q", str(sbom_file)], project, check=False)
        assert ignored.returncode == 0

        # Bound to every interface (as in a cluster) with no API keys: it refuses to start.
        port = str(free_port())
        command = [{"8000": port}.get(arg, arg) for arg in config["Cmd"]]
        assert command[:2] == [project.name, "serve"] and "0.0.0.0" in command
        buildah_run = ["buildah", "run", "--isolation", "chroot", container, "--"]
        keyless = subprocess.run([*buildah_run, *command], capture_output=True, text=True,
                                 timeout=120)  # fmt: skip
        assert keyless.returncode != 0
        assert "no API keys" in keyless.stdout + keyless.stderr
        assert "ALLOW_ANONYMOUS=true" in keyless.stdout + keyless.stderr

        # The image's own command with anonymous access allowed: it starts and serves.
        anonymous = [*buildah_run[:-2], "--env", "ALLOW_ANONYMOUS=true", container, "--"]
        server = subprocess.Popen(
            [*anonymous, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(f"{url}/health", server)
            # The image's HEALTHCHECK, run inside the image.
            in_container(container, *[a.replace(":8000/", f":{port}/") for a in health[1:]],
                         project=project)  # fmt: skip
            status, metadata = http("GET", f"{url}/metadata")
            assert status == 200
            assert metadata["checksum"] == lineage["checksum"]
            # The package's name only (the image keeps it at /app/model), not a server path.
            assert metadata["package"] == "model" and "path" not in metadata
            openapi = http("GET", f"{url}/openapi.json")[1]
            # The image carries the project's pyproject.toml: the API has the project's title.
            assert openapi["info"]["title"] == "Tumour Classifier"
            example = openapi["components"]["schemas"]["Record"]
            status, answer = http("POST", f"{url}/predict", example["examples"][0])
            assert status == 200 and len(answer["predictions"]) == 1
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        # The non-root service wrote its prediction log where the image lets it.
        log = in_container(container, "cat", "/app/logs/predictions.jsonl", project=project)
        assert json.loads(log.splitlines()[-1])["event"] == "prediction"
    finally:
        if container:
            run(["buildah", "rm", container], project, check=False)
        run(["podman", "rmi", "--force", tag], project, check=False)
