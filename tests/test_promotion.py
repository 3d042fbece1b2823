"""Promotion and rollback in a baked project: a committed run, the gate, GTO's git tags,
the API serving whichever version is in production, and a colleague's clone serving it."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from conftest import ENV, bake, missing_tool, run, running_api
from test_monitoring import send
from test_offline_pages import CHROMIUM, evaluate_offline

PROMOTER = {
    "GIT_AUTHOR_NAME": "Rita Reviewer",
    "GIT_AUTHOR_EMAIL": "rita@example.com",
    "GIT_COMMITTER_NAME": "Rita Reviewer",
    "GIT_COMMITTER_EMAIL": "rita@example.com",
}
ENV_AS_PROMOTER = {**ENV, **PROMOTER}


# What the business report shows, once its images are decoded, and what it would load.
REPORT_INSPECT = """(async () => {
  const images = [...document.images];
  await Promise.all(images.map((image) => image.decode().catch(() => null)));
  const loads = [...document.querySelectorAll("script[src], link[href], img[src], iframe[src]")]
    .map((element) => element.getAttribute("src") || element.getAttribute("href"));
  return {
    headings: [...document.querySelectorAll("h1, h2")].map((h) => h.textContent),
    drawn: images.filter((image) => image.naturalWidth > 0).map((image) => image.alt),
    remote: loads.filter((url) => /^(https?:)?\\/\\//i.test(url)),
    text: document.body.innerText,
  };
})()"""


def served_version(project: Path) -> str:
    with running_api(project) as url, urllib.request.urlopen(f"{url}/metadata", timeout=10) as r:
        return json.load(r)["model_version"]


def promote(project: Path, check: bool = True):
    return run(["make", "promote"], project, check=check, env=ENV_AS_PROMOTER)


def retrain(project: Path, *overrides: str) -> None:
    """An experiment through DVC's Hydra integration; its results land in the workspace
    and are committed, as a promotion requires."""
    args = [arg for override in overrides for arg in ("-S", override)]
    run(["uv", "run", "--frozen", "dvc", "exp", "run", "--quiet", *args], project)
    run(["make", "commit-run"], project)


@pytest.mark.slow
def test_promote_gate_rollback_and_serving(cookies):
    project = bake(cookies)
    origin = project.parent / "origin.git"
    run(["git", "init", "-q", "--bare", "--initial-branch=main", str(origin)], project)
    run(["git", "remote", "add", "origin", str(origin)], project)
    pipeline = run(["make", "pipeline"], project).stdout
    assert "not committed yet" in pipeline and "  dvc.lock" in pipeline
    assert "make commit-run" in pipeline

    # A run git does not hold cannot be promoted: the lineage would name the wrong commit.
    dirty = promote(project, check=False)
    assert dirty.returncode != 0 and "the candidate's run is not committed" in dirty.stderr
    assert "  dvc.lock" in dirty.stderr and "make commit-run && make promote" in dirty.stderr
    assert not run(["git", "tag"], project).stdout.strip()
    run(["make", "commit-run"], project)
    run_commit = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    assert "dvc.lock" in run(["git", "show", "--name-only", "HEAD"], project).stdout
    run(["uv", "run", "--frozen", "dvc", "metrics", "diff", "HEAD"], project)

    # The first candidate: nothing in production, so it is promoted as v0.0.1, and shared.
    first = promote(project)
    assert "promoted v0.0.1 to production (previous: none)" in first.stdout
    assert "shared: the packages are on the DVC remote" in first.stdout
    lineage = json.loads((project / "models/registry/v0.0.1/lineage.json").read_text())
    assert lineage["git_dirty"] is False and lineage["source_commit"] == run_commit

    # A deliberately weak model fails the gate, which names each metric and its numbers.
    retrain(project, "model.max_depth=1", "model.n_estimators=1")
    refused = promote(project, check=False)
    assert refused.returncode != 0
    assert "promotion refused" in refused.stderr and "production v0.0.1" in refused.stderr
    for metric in ("roc_auc", "f1", "recall"):
        assert f"{metric}: candidate 0." in refused.stderr
    assert "allowed drop 0.0100 -> FAILED" in refused.stderr
    assert "Traceback" not in refused.stderr

    # A model about as good (within the margins) passes and becomes v0.0.2.
    retrain(project, "model=logistic_regression")
    second = promote(project)
    assert "promoted v0.0.2 to production (previous: v0.0.1)" in second.stdout
    assert "roc_auc: candidate" in second.stdout and "-> ok" in second.stdout
    assert served_version(project) == "v0.0.2"

    # One command restores the previous version. A server already running loaded v0.0.2
    # at start and keeps serving it, whole; the command says what to restart, and a
    # restarted server serves v0.0.1.
    with running_api(project) as url:
        back = run(["make", "rollback"], project, env=ENV_AS_PROMOTER)
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            assert json.load(response)["model_version"] == "v0.0.2"
    assert "production is now v0.0.1 (was v0.0.2)" in back.stdout
    assert "still serves v0.0.2: stop `make serve` and run it again" in back.stdout
    assert "`make image deploy`" in back.stdout
    assert served_version(project) == "v0.0.1"
    again = run(["make", "rollback"], project, check=False, env=ENV_AS_PROMOTER)
    assert again.returncode != 0 and "nothing to roll back to: v0.0.1" in again.stderr

    # A colleague's clone beside the first copy finds the shared model and serves it.
    colleague = project.parent / "colleague"
    run(["git", "clone", "-q", str(origin), str(colleague)], project.parent)
    run(["make", "data"], colleague)
    assert served_version(colleague) == "v0.0.1"

    # Files nobody pushed: `make data` fails and names them.
    shutil.rmtree(colleague / "models/registry/v0.0.1")
    shutil.rmtree(colleague / ".dvc/cache")
    shutil.rmtree(project.parent / f"{project.name}-dvc-storage" / "files")
    missing = run(["make", "data"], colleague, check=False)
    assert missing.returncode != 0
    assert "not in the DVC remote 'storage'" in missing.stderr
    assert "models/registry/v0.0.1" in missing.stderr and "Traceback" not in missing.stderr
    run(["uv", "run", "--frozen", "dvc", "push", "--quiet"], project)  # as the hint says

    # A clone placed elsewhere is told where the remote should be, and the way out runs.
    moved = project.parent / "elsewhere" / "deeper" / project.name
    run(["git", "clone", "-q", str(origin), str(moved)], project.parent)
    lost = run(["make", "pipeline"], moved, check=False)
    assert lost.returncode != 0 and "which does not exist" in lost.stderr
    assert "sample-data" in lost.stderr
    (hint,) = [line.strip() for line in lost.stderr.splitlines() if "remote modify" in line]
    storage = project.parent / f"{project.name}-dvc-storage"
    run(hint.replace(f"/path/to/{storage.name}", str(storage)), moved)
    run(["make", "data"], moved)
    assert (moved / "data/raw/breast_cancer.csv").exists()

    # Who promoted what and when: the project's table, GTO's view and the git tags.
    table = run(["make", "history"], project).stdout
    assert "Rita Reviewer <rita@example.com>" in table and "author" in table
    show = json.loads(run(["uv", "run", "--frozen", "gto", "show", "--json"], project).stdout)
    assert show["model"]["version"] == "v0.0.2"  # the latest registered
    assert show["model"]["stage"] == {"prod": "v0.0.1"}
    history = json.loads(run(["uv", "run", "--frozen", "gto", "history", "--json"], project).stdout)
    moves = [(e["event"], e["version"]) for e in history if e["event"] != "registration"]
    assert moves == [
        ("assignment", "v0.0.1"),  # the rollback: v0.0.1 assigned again...
        ("unassignment", "v0.0.2"),  # ...after v0.0.2 left prod
        ("assignment", "v0.0.2"),
        ("assignment", "v0.0.1"),
    ]
    assert {(e["author"], e["author_email"]) for e in history} == {
        ("Rita Reviewer", "rita@example.com")
    }
    tags = run(
        ["git", "tag", "--list", "--format=%(refname:short)|%(taggername)|%(contents:subject)"],
        project,
    ).stdout.splitlines()
    assert "model#prod#4|Rita Reviewer|Restore v0.0.1 to production (was v0.0.2)" in tags
    log = run(["git", "log", "--format=%an|%s", "--grep=^Register"], project).stdout.splitlines()
    assert log == ["Rita Reviewer|Register model v0.0.2", "Rita Reviewer|Register model v0.0.1"]

    # Production traffic, the drift verdict on it, and the business report over both: one
    # page that opens offline and tells a reader what serves, who put it there, how it
    # compares with the version before, how much it served and how fast, and whether
    # production data still looks like the training data.
    test = pd.read_parquet(project / "data/processed/test.parquet")
    with running_api(project) as url:
        fields = json.load(urllib.request.urlopen(f"{url}/openapi.json", timeout=10))
        send(url, test[list(fields["components"]["schemas"]["Record"]["properties"])]
             .to_dict("records"))  # fmt: skip
    run(["make", "monitor"], project)
    # The reference is the train split of the commit that built v0.0.1, read through DVC.
    reference = json.loads((project / "reports/monitoring/drift.json").read_text())["reference"]
    lineage = json.loads((project / "models/registry/v0.0.1/lineage.json").read_text())
    assert reference["commit"] == lineage["source_commit"] and reference["rows"] > 0
    said = run(["make", "report"], project).stdout
    page = project / "reports/business/index.html"
    assert "wrote reports/business/index.html" in said
    if CHROMIUM is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: .ci/run installs it", pytrace=False)
        missing_tool(message)
    shown = evaluate_offline(page, REPORT_INSPECT)
    assert shown["remote"] == [], shown["remote"]
    assert all(url.startswith(("file:", "data:")) for url in shown["requests"]), shown
    assert shown["headings"][1:] == [
        "Production model",
        "Metrics by version",
        "Predictions and latency",
        "Drift",
    ]
    assert shown["drawn"] == ["metrics by version", "predictions and latency over time"]
    text = shown["text"]
    assert "Version v0.0.1 serves predictions." in text
    assert "by Rita Reviewer <rita@example.com>: Restore v0.0.1 to production" in text
    assert "earlier production model" in text  # v0.0.2, with its metrics beside v0.0.1's
    assert f"{len(test)} predictions in {-(-len(test) // 10)} requests" in text
    assert "served by v0.0.1" in text
    assert "No drift: production data looks like the training data." in text
