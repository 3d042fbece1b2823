"""The generated CI, run by the real runners: the release job resolving the promoted
model, the scheduled retrain up to its approval, the audit, and a broken Makefile failing
its job. (The lint, test, pipeline and notebooks jobs run under the runners for every
baked combination with CI, in tests/test_bake.py.)

Jobs that need what cannot exist here are not run past that point: pushing an image
(a container registry: `make image CONTAINER=podman` is built for real in
tests/test_container.py) and deploying (a cluster: `make deploy` is rendered with kubectl
there); the retrain's `promote` waits for a person's approval, which is its point.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ci_runners import act, act_jobs, gitlab_ci_local, gitlab_jobs, log_end, passed
from conftest import ENV, bake, run

pytestmark = pytest.mark.slow

PROMOTER = {
    "GIT_AUTHOR_NAME": "Rita Reviewer",
    "GIT_AUTHOR_EMAIL": "rita@example.com",
    "GIT_COMMITTER_NAME": "Rita Reviewer",
    "GIT_COMMITTER_EMAIL": "rita@example.com",
}
REPOSITORY = "acme/tumour-classifier"
# The gate, on the retrained candidate: scored against production, or found to be it.
GATED = re.compile(r"production (as )?v0\.0\.1")
# Each provider's tests share a promoted bake; the two run side by side under xdist.
GITHUB = pytest.mark.xdist_group("ci-github")
GITLAB = pytest.mark.xdist_group("ci-gitlab")


def promoted(cookies, **answers) -> Path:
    """A bake whose first run is committed and promoted, pushed to a bare origin, and
    whose DVC remote is a folder CI can reach (an absolute path, committed)."""
    project = bake(cookies, **answers)
    origin = project.parent / "origin.git"
    run(["git", "init", "-q", "--bare", "--initial-branch=main", str(origin)], project)
    run(["git", "remote", "add", "origin", str(origin)], project)
    # act names the repository after a remote's URL (ci_runners.act reads this one).
    run(["git", "remote", "add", "github", f"https://github.com/{REPOSITORY}.git"], project)
    storage = project.parent / f"{project.name}-dvc-storage"
    run(["uv", "run", "--frozen", "dvc", "remote", "modify", "storage", "url", str(storage)],
        project)  # fmt: skip
    run(["git", "commit", "-qam", "Point the DVC remote where CI reaches it"], project)
    run(["make", "pipeline"], project)
    run(["make", "commit-run"], project)
    done = run(["make", "promote"], project, env={**ENV, **PROMOTER})
    assert "promoted v0.0.1 to production" in done.stdout
    return project


@pytest.fixture(scope="module")
def github_promoted(cookies_session) -> Path:
    return promoted(cookies_session)


@pytest.fixture(scope="module")
def gitlab_promoted(cookies_session) -> Path:
    return promoted(cookies_session, ci="gitlab")


@GITHUB
def test_github_model_package_job_resolves_the_production_model(github_promoted):
    project = github_promoted
    done = act(project, "push", "-j", "model-package")
    passed(done)
    sha = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    image = f"ghcr.io/{REPOSITORY}:v0.0.1-{sha[:12]}"
    assert f"Production model: models/registry/v0.0.1, image: {image}" in done.log
    assert f"::set-output:: image={image}" in done.log
    assert act_jobs(done.log) == {"model-package": "succeeded"}


@GITHUB
def test_github_retrain_runs_up_to_its_approval(github_promoted, tmp_path):
    """The scheduled workflow's retrain job: data, pipeline, report, gate, artifacts. Its
    promote job waits in the `production` environment for a reviewer, so it is not run."""
    artifacts = tmp_path / "artifacts"
    done = act(github_promoted, "workflow_dispatch", "-W", ".github/workflows/retrain.yml",
               "-j", "retrain", artifacts=artifacts)  # fmt: skip
    passed(done)
    assert act_jobs(done.log) == {"retrain": "succeeded"}
    assert "No production prediction log is configured" in done.log
    assert GATED.search(done.log)
    page = (artifacts / "reports/reports/business/index.html").read_text()
    assert "v0.0.1" in page
    candidate = artifacts / "candidate"
    assert (candidate / "dvc.lock").is_file() and (candidate / "models/model.joblib").is_file()
    lineage = json.loads((candidate / "models/candidate/lineage.json").read_text())
    head = run(["git", "log", "-1", "--format=%H"], github_promoted).stdout.strip()
    assert lineage["git_sha"] == head[:12]  # the job's checkout is the pushed commit


@GITLAB
def test_gitlab_model_package_job_resolves_the_production_model(gitlab_promoted):
    project = gitlab_promoted
    (project / "model.env").unlink(missing_ok=True)
    done = gitlab_ci_local(project, "model-package")
    passed(done)
    assert gitlab_jobs(done.log) == {"model-package": "PASS"}
    short = run(["git", "rev-parse", "--short=8", "HEAD"], project).stdout.strip()
    dotenv = dict(
        line.split("=", 1) for line in (project / "model.env").read_text().splitlines()
    )  # fmt: skip
    assert dotenv["MODEL_DIR"] == "models/registry/v0.0.1"
    assert dotenv["MODEL_VERSION"] == "v0.0.1"
    assert dotenv["IMAGE"].endswith(f":v0.0.1-{short}"), dotenv


@GITLAB
def test_gitlab_retrain_runs_up_to_its_manual_promote(gitlab_promoted):
    done = gitlab_ci_local(gitlab_promoted, "--variable", "RETRAIN=1", "retrain")
    passed(done)
    assert gitlab_jobs(done.log) == {"retrain": "PASS"}
    assert "No production prediction log is configured" in done.log
    assert GATED.search(done.log)
    assert "v0.0.1" in (gitlab_promoted / "reports/business/index.html").read_text()
    # `promote` is manual: the listing of a RETRAIN pipeline shows it waiting for a person.
    listing = gitlab_ci_local(gitlab_promoted, "--variable", "RETRAIN=1", "--list").log
    [promote] = [line for line in listing.splitlines() if line.startswith("promote ")]
    assert "manual" in promote


def check_unaudited(done, jobs: dict, failed: dict) -> None:
    """No advisory database answers here (PyPI's per-version JSON and OSV are not served),
    so the audit job must fail, saying so, rather than pass unaudited."""
    assert done.returncode != 0 and jobs == failed, log_end(done)
    assert "uv run --frozen python tools/audit.py" in done.log
    assert "could not be" in done.log or "not auditable" in done.log, log_end(done)


@GITHUB
def test_github_audit_job_fails_unaudited(github_promoted):
    done = act(github_promoted, "push", "-j", "audit")
    check_unaudited(done, act_jobs(done.log), {"audit": "failed"})


@GITLAB
def test_gitlab_audit_job_fails_unaudited(gitlab_promoted):
    done = gitlab_ci_local(gitlab_promoted, "audit")
    check_unaudited(done, gitlab_jobs(done.log), {"audit": "FAIL"})


@pytest.mark.parametrize(
    "provider", [pytest.param("github", marks=GITHUB), pytest.param("gitlab", marks=GITLAB)]
)
def test_a_job_fails_when_its_make_target_is_gone(provider, cookies):
    """The runners can fail: with `lint` removed from the Makefile, the lint job fails."""
    project = bake(cookies, ci=provider)
    makefile = project / "Makefile"
    recipe = (
        "lint: ## Run every pre-commit check on all files\n\tuv run pre-commit run --all-files\n"  # noqa: E501
    )
    phony = ".PHONY: help setup lint "
    text = makefile.read_text()
    assert recipe in text and phony in text
    # Gone altogether: a phony name without a recipe would do nothing, and pass.
    makefile.write_text(text.replace(recipe, "").replace(phony, ".PHONY: help setup "))
    if provider == "github":
        done = act(project, "push", "-j", "lint")
        jobs, failed = act_jobs(done.log), {"lint": "failed"}
    else:
        done = gitlab_ci_local(project, "lint")
        jobs, failed = gitlab_jobs(done.log), {"lint": "FAIL"}
    assert done.returncode != 0 and jobs == failed, log_end(done)
    assert "No rule to make target 'lint'" in done.log
