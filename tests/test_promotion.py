"""Promotion and rollback in a baked project: the gate, GTO's git tags, and the API serving
whichever version is in production."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from conftest import ENV, bake, run, running_api

PROMOTER = {
    "GIT_AUTHOR_NAME": "Rita Reviewer",
    "GIT_AUTHOR_EMAIL": "rita@example.com",
    "GIT_COMMITTER_NAME": "Rita Reviewer",
    "GIT_COMMITTER_EMAIL": "rita@example.com",
}
ENV_AS_PROMOTER = {**ENV, **PROMOTER}


def served_version(project: Path) -> str:
    with running_api(project) as url, urllib.request.urlopen(f"{url}/metadata", timeout=10) as r:
        return json.load(r)["model_version"]


def promote(project: Path, check: bool = True):
    return run(["make", "promote"], project, check=check, env=ENV_AS_PROMOTER)


def retrain(project: Path, *overrides: str) -> None:
    """An experiment through DVC's Hydra integration; its results land in the workspace."""
    args = [arg for override in overrides for arg in ("-S", override)]
    run(["uv", "run", "--frozen", "dvc", "exp", "run", "--quiet", *args], project)


@pytest.mark.slow
def test_promote_gate_rollback_and_serving(cookies):
    project = bake(cookies)
    run(["make", "pipeline"], project)

    # The first candidate: nothing in production, so it is promoted as v0.0.1.
    first = promote(project)
    assert "promoted v0.0.1 to production (previous: none)" in first.stdout

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

    # One command restores the previous version; the API serves it after a restart.
    back = run(["make", "rollback"], project, env=ENV_AS_PROMOTER)
    assert "production is now v0.0.1 (was v0.0.2)" in back.stdout
    assert served_version(project) == "v0.0.1"
    again = run(["make", "rollback"], project, check=False, env=ENV_AS_PROMOTER)
    assert again.returncode != 0 and "nothing to roll back to: v0.0.1" in again.stderr

    # Who promoted what and when: GTO's view and the git tags behind it.
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
    log = run(["git", "log", "--format=%an|%s", "-2"], project).stdout.splitlines()
    assert log == ["Rita Reviewer|Register model v0.0.2", "Rita Reviewer|Register model v0.0.1"]
