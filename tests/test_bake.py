"""Every combination of options is baked, and the baked project's own checks run in it."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from ci_runners import act, act_jobs, gitlab_ci_local, gitlab_jobs, passed
from conftest import COMBINATIONS, TEMPLATE, run

pytestmark = pytest.mark.slow

# Files that the post-generation hook adds to git on top of the rendered template.
ADDED_BY_HOOK = {
    ".cruft.json", ".dvc/.gitignore", ".dvc/config", ".dvcignore", "data/raw/.gitignore", "uv.lock"
}  # fmt: skip
CI_FILES = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}
# Per task: the sample data (rendered, then moved out of git by `dvc add`), and the files
# of the task's sample and models.
SAMPLE_DATA = {
    "classification": "data/raw/breast_cancer.csv",
    "regression": "data/raw/diabetes.csv",
}
TASK_FILES = {
    "classification": {"conf/data/breast_cancer.yaml", "conf/model/logistic_regression.yaml"},
    "regression": {"conf/data/diabetes.yaml", "conf/model/ridge.yaml"},
}
METRICS = {"classification": "roc_auc", "regression": "rmse"}
PLOTS = {
    # Drawn as images, so that the plots page needs no network (the sample target is binary).
    "classification": ["roc.png", "confusion_matrix.png"],
    "regression": ["predicted_vs_actual.png", "residuals.png"],
}
MAKE_TARGETS = [
    "setup", "lint", "test", "data", "sample-data", "adopt-data", "pipeline", "notebooks",
    "serve", "score", "monitor", "report", "gate", "promote", "rollback", "image", "deploy",
    "module", "upgrade-platform", "e2e",
]  # fmt: skip
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#")


def expected_files(answers: dict) -> set[str]:
    """The template's files under their rendered names, pruned and completed as the hook does."""
    source = TEMPLATE / "{{cookiecutter.project_slug}}"
    files = set()
    for path in source.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(source).as_posix()
            files.add(rel.replace("{{cookiecutter.module_name}}", answers["module_name"]))
    for provider, ci_file in CI_FILES.items():
        if provider != answers["ci"]:
            files = {f for f in files if not f.startswith(ci_file.split("/")[0])}
    for task, task_files in TASK_FILES.items():
        if task != answers["task"]:
            files -= task_files | {SAMPLE_DATA[task]}
    sample = SAMPLE_DATA[answers["task"]]
    return (files - {sample}) | ADDED_BY_HOOK | {f"{sample}.dvc"}


# Each combination is a group of its own: under xdist the four run side by side.
@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=pytest.mark.xdist_group(f"bake-{name}")) for name in COMBINATIONS
    ],
)
def baked(request, cookies_session):
    context = COMBINATIONS[request.param]
    result = cookies_session.bake(extra_context=context)
    if result.exit_code != 0:
        pytest.fail(f"bake of {request.param} failed: {result.exception!r}")
    return request.param, Path(result.project_path), result.context


def tracked_files(project: Path) -> list[str]:
    return run(["git", "ls-files"], project).stdout.split()


def test_exact_file_set(baked):
    _, project, answers = baked
    assert set(tracked_files(project)) == expected_files(answers)


def test_the_runtime_is_locked_from_the_index_and_src_holds_the_project_s_own_code(
    baked, served_runtime
):
    _, project, _ = baked
    text = (project / "uv.lock").read_text()
    (runtime,) = [p for p in tomllib.loads(text)["package"] if p["name"] == "groundwork-runtime"]
    assert runtime["source"] == {"registry": served_runtime}
    # No path of this machine: a clone anywhere locks and installs the same.
    for machine_path in ("file://", str(Path.home()), str(project.parent), str(TEMPLATE)):
        assert machine_path not in text, machine_path
    own_lines = sum(len(path.read_text().splitlines()) for path in (project / "src").rglob("*.py"))
    assert own_lines <= 300


def test_nothing_left_unrendered(baked):
    _, project, _ = baked
    for rel in tracked_files(project):
        text = (project / rel).read_text(errors="replace")
        match = UNRENDERED.search(text)
        assert match is None, f"{rel}: unrendered {text[match.start() : match.start() + 40]!r}"


def test_first_commit_is_clean_and_records_answers(baked):
    name, project, answers = baked
    log = run(["git", "log", "--format=%an <%ae>|%s"], project).stdout.splitlines()
    assert len(log) == 1 and "Groundwork template" in log[0]
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    cruft = json.loads((project / ".cruft.json").read_text())
    assert cruft["context"]["cookiecutter"]["project_slug"] == answers["project_slug"]
    # The template's commit, as its own `git log` names it (none when it is not in git).
    template_log = run(["git", "log", "-1", "--format=%H"], TEMPLATE, check=False)
    in_git = template_log.returncode == 0
    assert cruft["commit"] == (template_log.stdout.strip() if in_git else None)


def test_python_version_and_license_are_applied(baked):
    _, project, answers = baked
    pyproject = (project / "pyproject.toml").read_text()
    assert f'requires-python = ">={answers["python_version"]}"' in pyproject
    assert (project / ".python-version").read_text().strip() == answers["python_version"]
    license_text = (project / "LICENSE").read_text()
    first_line = {
        "MIT": "MIT License",
        "BSD-3-Clause": "BSD 3-Clause License",
        "Apache-2.0": "Apache License",
        "Proprietary": "All rights reserved.",
    }[answers["license"]]
    assert first_line in license_text
    assert answers["author_name"] in license_text


def test_dvc_remote_is_configured(baked):
    _, project, answers = baked
    config = (project / ".dvc/config").read_text()
    scheme = {"local": "../", "s3": "s3://", "gcs": "gs://", "azure": "azure://"}
    assert f"url = {scheme[answers['dvc_remote']]}" in config.replace("../../", "../")
    assert "remote = storage" in config
    assert "enabled = true" in config  # hydra integration for `dvc exp run -S`
    assert not (project / ".dvc/config.local").exists()


def test_make_help_lists_the_targets(baked):
    _, project, _ = baked
    out = run(["make", "help"], project).stdout
    for target in MAKE_TARGETS:
        assert re.search(rf"^\s+{target}\s", out, re.MULTILINE), target


# The jobs a push runs up to the image, and what each ends with in the runner's log.
CI_JOBS = ["lint", "test", "pipeline", "notebooks"]


def test_project_tests_pass_and_ci_runs_them(baked):
    """With CI, its lint, test, pipeline and notebooks jobs under the provider's real
    runner (act, gitlab-ci-local): `make test` then runs as CI runs it, on the sample."""
    _, project, answers = baked
    if answers["ci"] == "github":  # `-j notebooks` runs the jobs it needs first
        done = act(project, "push", "-j", CI_JOBS[-1])
        passed(done)
        assert act_jobs(done.log) == {job: "succeeded" for job in CI_JOBS}
        out = done.log
    elif answers["ci"] == "gitlab":
        done = gitlab_ci_local(project, *CI_JOBS)
        passed(done)
        assert gitlab_jobs(done.log) == {job: "PASS" for job in CI_JOBS}
        out = done.log
    else:
        out = run(["make", "test"], project).stdout
    assert re.search(r" \d+ passed", out) and not re.search(r" \d+ (failed|error)", out)
    assert "TOTAL" in out  # coverage is reported
    # Every skip is listed with its reason, and the raw data is there, so its tests ran.
    skips = [line for line in out.splitlines() if "SKIPPED [" in line]
    assert not [line for line in skips if "test_data.py" in line], skips


def test_pipeline_reproduces(baked):
    _, project, answers = baked
    run(["make", "pipeline"], project)
    metrics = run(["uv", "run", "dvc", "metrics", "show", "--json"], project).stdout
    assert METRICS[answers["task"]] in metrics
    plots = run(["uv", "run", "dvc", "plots", "show", "--json"], project).stdout
    assert all(name in plots for name in PLOTS[answers["task"]])
    again = run(["uv", "run", "dvc", "repro"], project)
    assert "Running stage" not in again.stdout + again.stderr
    lineage = json.loads((project / "models/candidate/lineage.json").read_text())
    assert lineage["onnx"]["verified"] is True, lineage["onnx"]


def test_make_sample_data_writes_the_tracked_sample(baked):
    """CI's smoke jobs start with `make sample-data`: it writes the very file DVC tracks."""
    _, project, answers = baked
    sample = project / SAMPLE_DATA[answers["task"]]
    sample.unlink()
    run(["make", "sample-data"], project)
    status = run(["uv", "run", "--frozen", "dvc", "status", f"{sample}.dvc"], project).stdout
    assert "up to date" in status


def test_make_e2e_serves_the_package_over_http_and_scores_the_sample(baked):
    """The project's own end-to-end target, over the package the pipeline wrote: the API
    over HTTP predicts its OpenAPI example, and batch scoring scores every row."""
    _, project, _ = baked
    run(["make", "pipeline"], project)  # nothing to do when test_pipeline_reproduces ran
    out = run(["make", "e2e"], project).stdout
    assert re.search(r"\b2 passed, \d+ deselected", out), out[-2000:]


def test_pre_commit_passes(baked):
    _, project, _ = baked
    run(["make", "lint"], project)
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], project).stdout == ""
