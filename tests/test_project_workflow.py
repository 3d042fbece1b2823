"""A baked default project used the way a person uses it: edit, rerun, commit, clone."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ENV, bake, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(cookies_session) -> Path:
    """A project of its own, since these tests change it."""
    project = bake(cookies_session, project_name="Workflow Check")
    run(["make", "pipeline"], project)
    return project


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


def test_editing_conf_reruns_exactly_the_dependent_stages(project):
    model_conf = project / "conf/model/random_forest.yaml"
    model_conf.write_text(model_conf.read_text().replace("n_estimators: 200", "n_estimators: 40"))
    done = run(["make", "pipeline"], project)
    stages = ran_stages(done.stdout + done.stderr)
    assert {"train", "evaluate"} <= stages
    assert not stages & {"validate", "features"}
    assert "n_estimators: 40" in (project / "params.yaml").read_text()
    # The package says it was built from config the commit it names does not have.
    lineage = json.loads((project / "models/candidate/lineage.json").read_text())
    assert lineage["git_dirty"] is True
    assert {"conf/model/random_forest.yaml", "params.yaml"} <= set(lineage["git_changes"])
    assert "conf/model/random_forest.yaml" in done.stdout  # and `make pipeline` says so

    unchanged = run(["make", "pipeline"], project)
    assert ran_stages(unchanged.stdout + unchanged.stderr) == set()

    split_conf = project / "conf/data/breast_cancer.yaml"
    split_conf.write_text(split_conf.read_text().replace("test_size: 0.25", "test_size: 0.3"))
    done = run(["make", "pipeline"], project)
    stages = ran_stages(done.stdout + done.stderr)
    assert "features" in stages and "validate" not in stages


def test_experiments_with_overrides_are_listed(project):
    run(["make", "commit-run"], project)
    assert not run(["git", "status", "--porcelain", "dvc.lock", "params.yaml"], project).stdout
    run(
        ["uv", "run", "dvc", "exp", "run", "-S", "model.n_estimators=25", "-n", "small-forest"],
        project,
    )
    run(["uv", "run", "dvc", "exp", "run", "-S", "experiment=baseline", "-n", "baseline"], project)
    shown = json.loads(run(["uv", "run", "dvc", "exp", "show", "--json"], project).stdout)
    [main] = [row for row in shown if row["name"] == "main"]
    experiments = {rev["name"]: rev for exp in main["experiments"] for rev in exp["revs"]}
    assert set(experiments) == {"small-forest", "baseline"}

    def model_params(row: dict) -> dict:
        return row["data"]["params"]["params.yaml"]["data"]["model"]

    committed = yaml.safe_load(run(["git", "show", "HEAD:params.yaml"], project).stdout)
    assert model_params(main) == committed["model"]
    assert committed["model"]["n_estimators"] != 25
    assert model_params(experiments["small-forest"]) == committed["model"] | {"n_estimators": 25}
    baseline = model_params(experiments["baseline"])
    assert baseline["_target_"] == "sklearn.linear_model.LogisticRegression"
    assert baseline["C"] == 0.5  # from conf/experiment/baseline.yaml
    # Each row has its metrics; main's because dvc.lock and metrics.json are in the commit.
    for name, row in {"main": main, **experiments}.items():
        metrics = row["data"]["metrics"]["reports/evaluation/metrics.json"]["data"]
        assert 0.5 < metrics["roc_auc"] <= 1.0, name


def test_pre_commit_blocks_a_planted_aws_key(project):
    secret = project / "src/settings_local.py"
    secret.write_text('AWS_ACCESS_KEY_ID = "AKIAZ7Q3LJ5XW2KD9PRT"\n')
    run(["git", "add", str(secret)], project)
    try:
        done = run(["uv", "run", "pre-commit", "run", "--files", str(secret)], project, check=False)
        assert done.returncode != 0
        assert "AWS Access Key" in done.stdout
    finally:
        run(["git", "rm", "-qf", str(secret)], project)


def test_pre_commit_blocks_a_large_csv_outside_dvc(project):
    big = project / "exports/big.csv"
    big.parent.mkdir()
    row = "1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0\n"
    big.write_text("a,b,c,d,e,f,g,h\n" + row * (5 * 1024 * 1024 // len(row)))
    assert big.stat().st_size >= 5_000_000
    run(["git", "add", "exports/big.csv"], project)
    try:
        done = run(
            ["uv", "run", "pre-commit", "run", "--files", "exports/big.csv"], project, check=False
        )
        assert done.returncode != 0
        assert "exports/big.csv" in done.stdout
        assert "dvc add exports/big.csv" in done.stdout  # data outside DVC
        assert "exceeds 500 KB" in done.stdout  # large file
    finally:
        run(["git", "rm", "-qf", "--cached", "exports/big.csv"], project)
        shutil.rmtree(big.parent)


def test_bad_raw_data_stops_the_pipeline_and_keeps_outputs(project):
    raw = project / "data/raw/breast_cancer.csv"
    model = project / "models/model.joblib"
    good_raw, good_model = raw.read_bytes(), model.read_bytes()
    lines = good_raw.decode().splitlines()
    lines[10] = "oops," + lines[10].split(",", 1)[1]
    raw.chmod(0o644)
    raw.write_text("\n".join(lines) + "\n")
    try:
        done = run(["make", "pipeline"], project, check=False)
        assert done.returncode != 0
        output = done.stdout + done.stderr
        assert "'mean_radius'" in output and "row(s): rows 10 " in output
        assert "Traceback" not in output
        assert model.read_bytes() == good_model
        assert (project / "data/interim/validated.parquet").exists()
    finally:
        raw.write_bytes(good_raw)
    run(["make", "pipeline"], project)


def test_notebooks_execute(project):
    """`make notebooks` keeps the executed copies, git-ignored, without the kernel's TCP
    warning; a failing cell fails it and shows the error; JupyterLab opens them."""
    import json

    done = run(["make", "notebooks"], project)
    assert "without encryption" not in done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr
    copy = "reports/notebooks/01-exploration.ipynb"
    cells = json.loads((project / copy).read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and all(cell["execution_count"] for cell in code)
    assert all(cell["outputs"] for cell in code), "the executed copy lost its outputs"
    run(["git", "check-ignore", "--quiet", copy], project)

    broken = project / "notebooks/99-broken.ipynb"
    cell = {"cell_type": "code", "execution_count": None, "id": "broken", "metadata": {},
            "outputs": [], "source": ['raise ValueError("broken on purpose")']}  # fmt: skip
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4}
    broken.write_text(json.dumps({**notebook, "nbformat_minor": 5}))
    try:
        failed = run(["make", "notebooks"], project, check=False)
    finally:
        broken.unlink()
    assert failed.returncode != 0
    assert "ValueError" in failed.stderr and "broken on purpose" in failed.stderr

    version = run(["uv", "run", "--frozen", "jupyter", "lab", "--version"], project).stdout
    assert version.strip().split(".")[0].isdigit()


def test_cli_help_lists_the_steps(project):
    out = run(["uv", "run", "workflow-check", "--help"], project).stdout
    for step in ["validate", "features", "train", "evaluate", "params", "sample-data"]:
        assert step in out


def test_fresh_clone_runs_the_quick_start(project, tmp_path_factory):
    """The README's two commands work in a clone, with the data pulled from the local remote."""
    clone = project.parent / "workflow-check-clone"
    run(["git", "clone", "-q", str(project), str(clone)], project.parent)
    assert not (clone / "data/raw/breast_cancer.csv").exists()
    env = {**ENV, "UV_PROJECT_ENVIRONMENT": str(clone / ".venv")}
    # The runtime installs from the index the lock names, into the clone's own environment.
    run(["uv", "sync", "--locked"], clone, env=env)
    show = "import groundwork; print(groundwork.__file__)"
    where = run(["uv", "run", "--frozen", "python", "-c", show], clone, env=env).stdout.strip()
    assert Path(where).is_relative_to(clone / ".venv"), where
    run(["make", "pipeline"], clone, env=env)
    assert (clone / "data/raw/breast_cancer.csv").exists()
    assert (clone / "models/model.joblib").exists()
    run(["make", "test"], clone, env=env)


def test_bake_without_git_identity_uses_the_author_answers(cookies, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in ("NAME", "EMAIL"):
        for role in ("AUTHOR", "COMMITTER"):
            monkeypatch.delenv(f"GIT_{role}_{key}", raising=False)
    project = bake(cookies, author_name="Grace Hopper", author_email="grace@example.com")
    env = {**os.environ}
    author = run(["git", "log", "-1", "--format=%an <%ae>"], project, env=env).stdout.strip()
    assert author == "Grace Hopper <grace@example.com>"
