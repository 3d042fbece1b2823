"""The generated CI, run by the real runners: the release job resolving the promoted
model, the scheduled retrain on a shipped prediction log (its drift and business reports,
and its gate verdict deciding whether `promote` asks anyone), the audit, and a broken
Makefile failing its job. (The lint, test, pipeline and notebooks jobs run under the
runners for every baked combination with CI, in tests/test_bake.py.)

Jobs that need what cannot exist here are not run past that point: pushing an image
(a container registry: `make image CONTAINER=podman` is built for real in
tests/test_container.py) and deploying (a cluster: `make deploy` is rendered with kubectl
there). The promote jobs' steps run on a real candidate in tests/test_container.py.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from ci_runners import act, act_jobs, gitlab_ci_local, gitlab_jobs, log_end, passed
from conftest import ENV, bake, run, running_api
from test_remote_s3 import BUCKET, CREDENTIALS, s3_endpoint  # noqa: F401 (a fixture)

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
    # The raw data, where CI's `make data` pulls it (a cloud remote's bake left it local).
    raw = [str(path.relative_to(project)) for path in project.glob("data/raw/*.dvc")]
    run(["uv", "run", "--frozen", "dvc", "push", "--quiet", *raw], project)
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
    # An S3 bake (its DVC reads s3://), the remote itself moved to a folder CI reaches:
    # the production prediction log is shipped to the S3 server the suite starts.
    return promoted(cookies_session, ci="gitlab", dvc_remote="s3")


def production_log(project: Path, log: Path) -> int:
    """The production model behind uvicorn, sent the test split as a client sends it, ten
    records a request; its prediction log is `log`. Returns the number of records sent."""
    test = pd.read_parquet(project / "data/processed/test.parquet")
    with running_api(project, env={**ENV, "PREDICTION_LOG": str(log)}) as url:
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as response:
            fields = list(json.load(response)["components"]["schemas"]["Record"]["properties"])
        records = test[fields].to_dict("records")
        for start in range(0, len(records), 10):
            body = json.dumps(records[start : start + 10]).encode()
            headers = {"Content-Type": "application/json"}
            request = urllib.request.Request(f"{url}/predict", body, headers)
            urllib.request.urlopen(request, timeout=30).close()
    return len(records)


def shipped(log: Path) -> dict[str, bytes]:
    """The log as a collector ships it: objects named by time, each a run of whole lines."""
    lines = log.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    return {"2026/03/02/0600-1.jsonl": b"".join(lines[:half]),
            "2026/03/02/0610-2.jsonl": b"".join(lines[half:])}  # fmt: skip


def check_reports(monitoring: Path, business: Path, sent: int) -> None:
    """`make monitor` judged every shipped prediction, and `make report` shows them."""
    summary = json.loads((monitoring / "drift.json").read_text())
    assert summary["rows"] == sent and summary["malformed_lines"] == 0, summary
    assert summary["log_files"] == ["logs/production.jsonl"]
    assert summary["model_versions"] == ["v0.0.1"] == [summary["reference"]["model_version"]]
    assert summary["status"] in ("drift", "no_drift"), summary  # judged: not too few rows
    assert summary["columns"] and "drifted" in summary["prediction"]
    assert "<html" in (monitoring / "drift.html").read_text()[:2000].lower()
    page = (business / "index.html").read_text()
    assert "Version v0.0.1 serves predictions." in page
    assert f"{sent} predictions in " in page


def check_nothing_promoted(project: Path, origin_before: str) -> None:
    """Origin and the registry are as the first promotion left them."""
    assert run(["git", "ls-remote", "origin"], project).stdout == origin_before
    tags = run(["git", "ls-remote", "--tags", "origin", "model*"], project).stdout
    assert "model@v0.0.2" not in tags and "model#prod#2" not in tags


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
def test_github_retrain_reports_on_production_and_promotes_only_a_new_model(
    github_promoted, tmp_path
):
    """The scheduled workflow on its own, both jobs: the retrain fetches the prediction log
    shipped to a folder, reports on it and gates the candidate. Retrained on the data that
    production was, the candidate is production: the verdict says so, and `promote`, which
    would wait in the `production` environment for a reviewer, does not run."""
    project = github_promoted
    log = production_log(project, tmp_path / "predictions.jsonl")
    folder = tmp_path / "shipped"
    for name, content in shipped(tmp_path / "predictions.jsonl").items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    origin_before = run(["git", "ls-remote", "origin"], project).stdout
    artifacts = tmp_path / "artifacts"
    done = act(project, "workflow_dispatch", "-W", ".github/workflows/retrain.yml",
               "--var", f"PREDICTION_LOG_URL={folder}", artifacts=artifacts)  # fmt: skip
    passed(done)
    assert act_jobs(done.log) == {"retrain": "succeeded"}, log_end(done)
    assert GATED.search(done.log)
    assert "::set-output:: verdict=identical" in done.log
    check_reports(artifacts / "reports/reports/monitoring", artifacts / "reports/reports/business",
                  log)  # fmt: skip
    # Nothing to promote, so no candidate is handed on, and origin is untouched.
    assert not (artifacts / "candidate").exists()
    check_nothing_promoted(project, origin_before)


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
def test_gitlab_retrain_reports_on_production_and_promotes_only_a_new_model(
    gitlab_promoted, request, tmp_path
):
    """A RETRAIN pipeline, its manual `promote` started as a person would: the retrain
    fetches the prediction log shipped to S3, reports on it and gates the candidate,
    which is production retrained on the same data. `promote` then stops at its first line,
    saying there is nothing to promote, and commits nothing."""
    project = gitlab_promoted
    endpoint, client = request.getfixturevalue("s3_endpoint")  # the S3 server, imported
    log = production_log(project, tmp_path / "predictions.jsonl")
    for name, content in shipped(tmp_path / "predictions.jsonl").items():
        client.put_object(Bucket=BUCKET, Key=f"predictions/{name}", Body=content)
    origin_before = run(["git", "ls-remote", "origin"], project).stdout
    head_before = run(["git", "rev-parse", "HEAD"], project).stdout
    # CI/CD variables; AWS_ENDPOINT_URL points the S3 client at the suite's server.
    variables = {"RETRAIN": "1", "PREDICTION_LOG_URL": f"s3://{BUCKET}/predictions/",
                 "AWS_ENDPOINT_URL": endpoint, **CREDENTIALS}  # fmt: skip
    options = [option for name, value in variables.items()
               for option in ("--variable", f"{name}={value}")]  # fmt: skip
    done = gitlab_ci_local(project, *options, "--manual", "promote")
    passed(done)
    assert gitlab_jobs(done.log) == {"retrain": "PASS", "promote": "PASS"}, log_end(done)
    assert GATED.search(done.log)
    assert "Nothing to promote: the gate's verdict is 'identical'" in done.log
    check_reports(project / "reports/monitoring", project / "reports/business", log)
    assert run(["git", "rev-parse", "HEAD"], project).stdout == head_before
    check_nothing_promoted(project, origin_before)
    # `promote` is manual: the listing of a RETRAIN pipeline shows it waiting for a person.
    listing = gitlab_ci_local(project, "--variable", "RETRAIN=1", "--list").log
    [promote] = [line for line in listing.splitlines() if line.startswith("promote ")]
    assert "manual" in promote


def check_unaudited(done, jobs: dict, failed: dict) -> None:
    """No advisory database answers here (PyPI's per-version JSON and OSV are not served),
    so the audit job must fail, saying so, rather than pass unaudited."""
    assert done.returncode != 0 and jobs == failed, log_end(done)
    assert "uv run --frozen python -m groundwork.tools.audit" in done.log
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
