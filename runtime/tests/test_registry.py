"""Promotion and rollback in a scratch git repository: the gate, GTO's tags, DVC's copies."""

import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, make_package, write_raw
from sklearn.base import BaseEstimator

from groundwork.cli import main
from groundwork.errors import UserFacingError
from groundwork.release import registry
from groundwork.release.gate import (
    BASELINE_SETTING,
    SETTING,
    BaselineCheck,
    BudgetCheck,
    MetricCheck,
    SlowdownCheck,
    check_baseline,
    check_cost,
    check_gate,
    skipped_metrics,
)
from groundwork.release.package import (
    load_package,
)

PIPELINE = ["validate", "features", "train", "evaluate", "package"]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def test_gate_passes_a_drop_within_the_margin():
    checks = check_gate({"roc_auc": 0.985}, {"roc_auc": 0.99}, {"roc_auc": 0.01})
    assert checks == [MetricCheck("roc_auc", 0.985, 0.99, 0.01, higher_is_better=True)]
    assert checks[0].passed


def test_gate_passes_a_drop_of_exactly_the_margin():
    assert check_gate({"f1": 0.88}, {"f1": 0.9}, {"f1": 0.02})[0].passed


def test_gate_fails_a_larger_drop_and_shows_the_numbers():
    (check,) = check_gate(
        {"roc_auc": 0.9, "f1": 0.5}, {"roc_auc": 0.95, "f1": 0.1}, {"roc_auc": 0.01}
    )
    assert not check.passed
    assert str(check) == (
        "roc_auc: candidate 0.9000, production 0.9500, allowed drop 0.0100 -> FAILED"
    )


def test_an_error_metric_may_rise_by_its_allowance_only():
    """rmse is lower-is-better: a fall always passes, a rise beyond the allowance fails."""
    better, worse = check_gate(
        {"rmse": 40.0, "mae": 33.0}, {"rmse": 50.0, "mae": 30.0}, {"rmse": 1.0, "mae": 2.0}
    )
    assert better.passed and not better.higher_is_better
    assert not worse.passed
    assert str(worse) == "mae: candidate 33.0000, production 30.0000, allowed rise 2.0000 -> FAILED"


def test_an_allowance_can_be_a_share_of_production():
    (check,) = check_gate({"rmse": 52.4}, {"rmse": 50.0}, {"rmse": "5%"})
    assert check.allowance == pytest.approx(2.5) and check.passed
    (check,) = check_gate({"rmse": 52.6}, {"rmse": 50.0}, {"rmse": "5%"})
    assert not check.passed
    with pytest.raises(UserFacingError, match="'lots' is not an allowance"):
        check_gate({"rmse": 1.0}, {"rmse": 1.0}, {"rmse": "lots"})


def test_gate_refuses_a_metric_it_does_not_know():
    with pytest.raises(UserFacingError, match=r"unknown metrics \['auc'\].*roc_auc"):
        check_gate({"roc_auc": 0.9}, {"roc_auc": 0.9}, {"auc": 0.01})


ABSENT = {"roc_auc": "class(es) ['rare'] have no row in this split; ROC AUC needs every class"}


def test_a_metric_the_split_cannot_score_is_skipped_with_why_and_the_rest_decide():
    """ROC AUC without a class in the test split: named as skipped, not as a config error."""
    allowances = {"roc_auc": 0.01, "f1": 0.02}
    (f1,) = check_gate({"f1": 0.5}, {"f1": 0.6}, allowances, ABSENT)
    assert not f1.passed  # the metric left decides
    (skipped,) = skipped_metrics(allowances, {"f1": 0.5}, ABSENT, SETTING)
    assert skipped.passed and str(skipped) == (
        "roc_auc: not computed on this split (class(es) ['rare'] have no row in this split; "
        "ROC AUC needs every class) -> skipped"
    )
    (baseline_f1,) = check_baseline({"f1": 0.5}, {"f1": 0.4}, allowances, ABSENT)
    assert baseline_f1.passed
    (skipped,) = skipped_metrics(allowances, {"f1": 0.5}, ABSENT, BASELINE_SETTING, "baseline ")
    assert str(skipped).startswith("baseline roc_auc: not computed on this split")
    # A name no metric has is still the config's error.
    with pytest.raises(UserFacingError, match=r"unknown metrics \['auc'\]"):
        check_gate({"f1": 0.5}, {"f1": 0.6}, {"auc": 0.01}, ABSENT)


def test_a_rule_left_with_no_metric_to_decide_on_refuses():
    for check in (check_gate, check_baseline):
        with pytest.raises(UserFacingError) as refused:
            check({"f1": 0.5}, {"f1": 0.6}, {"roc_auc": 0.01}, ABSENT)
        message = str(refused.value)
        assert "can be computed on the test split" in message and "['rare']" in message
        assert "unknown" not in message


def test_the_baseline_rule_wants_a_gain_of_the_margin_at_least():
    passed, short = check_baseline(
        {"f1": 0.45, "roc_auc": 0.52}, {"f1": 0.4, "roc_auc": 0.5}, {"f1": 0.05, "roc_auc": 0.05}
    )
    assert passed == BaselineCheck("f1", 0.45, 0.4, 0.05) and passed.passed
    assert not short.passed
    assert str(short) == (
        "baseline roc_auc: candidate 0.5200, baseline 0.5000, required gain 0.0500 "
        "-> FAILED, short by 0.0300"
    )


def test_an_error_metric_must_fall_below_the_baseline_by_a_share_of_it():
    (check,) = check_baseline({"rmse": 45.0}, {"rmse": 50.0}, {"rmse": "10%"})
    assert check.margin == pytest.approx(5.0) and check.passed
    (check,) = check_baseline({"rmse": 46.0}, {"rmse": 50.0}, {"rmse": "10%"})
    assert str(check) == (
        "baseline rmse: candidate 46.0000, baseline 50.0000, required fall 5.0000 "
        "-> FAILED, short by 1.0000"
    )
    with pytest.raises(UserFacingError, match=r"promotion.baseline.*'much' is not a margin"):
        check_baseline({"rmse": 1.0}, {"rmse": 2.0}, {"rmse": "much"})
    with pytest.raises(UserFacingError, match=r"promotion.baseline in conf.* unknown .*rsme"):
        check_baseline({"rmse": 1.0}, {"rmse": 2.0}, {"rsme": 1})


BUDGET = {"latency_p95_ms": 50, "package_mb": 100, "max_slowdown": 1.5}


def test_the_budget_caps_latency_and_size_alone_without_production():
    cheap = {"latency_p50_ms": 1.0, "latency_p95_ms": 2.0, "package_mb": 3.0}
    assert check_cost(cheap, BUDGET) == [
        BudgetCheck("latency_p95", 2.0, 50, "ms"),
        BudgetCheck("package_size", 3.0, 100, "MB"),
    ]
    latency, size = check_cost({**cheap, "latency_p95_ms": 62.5, "package_mb": 100.0}, BUDGET)
    assert str(latency) == (
        "budget latency_p95: candidate 62.50 ms, limit 50 ms -> FAILED, over by 12.50"
    )
    assert size.passed  # exactly the cap


def test_the_slowdown_is_the_ratio_of_median_latencies_measured_together():
    candidate = {"latency_p50_ms": 3.0, "latency_p95_ms": 4.0, "package_mb": 1.0}
    *_, slowdown = check_cost(candidate, BUDGET, {"latency_p50_ms": 2.0, "latency_p95_ms": 9.0})
    assert slowdown == SlowdownCheck("latency_p50", 3.0, 2.0, 1.5) and slowdown.passed
    *_, slowdown = check_cost(candidate, BUDGET, {"latency_p50_ms": 1.5})
    assert slowdown.ratio == pytest.approx(2.0) and not slowdown.passed
    assert str(slowdown) == (
        "slowdown latency_p50: candidate 3.000 ms, production 1.500 ms, 2.00x, allowed 1.5x "
        "-> FAILED"
    )


@pytest.fixture
def repo(workdir, monkeypatch):
    """A scratch project under git and DVC, with its own git and DVC remotes."""
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "Grace Hopper")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "grace@example.com")
    for name in (".gto", "artifacts.yaml"):
        shutil.copy(ROOT / name, workdir / name)
    git("init", "--quiet", "--initial-branch=main")
    # The remotes live in the test's own folder, ignored by git.
    git("init", "--quiet", "--bare", "--initial-branch=main", ".remotes/origin.git")
    git("remote", "add", "origin", str(workdir / ".remotes/origin.git"))
    (workdir / ".remotes/dvc").mkdir()
    for dvc_args in (["init", "--quiet"], ["remote", "add", "-d", "storage", ".remotes/dvc"]):
        subprocess.run(["dvc", *dvc_args], check=True, capture_output=True)
    # The pipeline is run step by step here, without DVC tracking its outputs.
    ignored = ["/.remotes/", "/data/", "/models/candidate/", "/models/*.joblib", "/reports/"]
    (workdir / ".gitignore").write_text("\n".join(ignored) + "\n")
    git("add", ".gto", "artifacts.yaml", ".dvc", ".gitignore", "conf")
    git("commit", "--quiet", "-m", "scratch project")
    return workdir


@pytest.fixture
def data(repo, cfg, sample):
    write_raw(sample, repo / cfg.data.raw_path)
    return repo


def build_candidate(*overrides: str, commit: bool = True) -> None:
    assert main(["params", *overrides]) == 0
    for step in PIPELINE:
        assert main([step]) == 0, step
    if commit:
        assert main(["commit-run"]) == 0


def registry_tags() -> set[str]:
    """The registry's git tags: versions, prod assignments (#N) and unassignments (!#N)."""
    return set(git("tag", "--list", "model*").split())


def test_production_path_before_any_promotion_says_to_promote(repo):
    with pytest.raises(UserFacingError, match="no model is in production yet.*promote"):
        registry.production_path()


def test_rollback_before_any_promotion_is_refused(repo, capsys):
    assert main(["rollback"]) == 1
    assert "nothing to roll back" in capsys.readouterr().err


def gate(metrics: dict) -> list[str]:
    """Overrides that set the gate of the data's task, as `dvc exp run -S` would."""
    from groundwork.config import (
        compose_config,
    )

    task = compose_config(conf_dir=ROOT / "conf").data.task
    default = compose_config(conf_dir=ROOT / "conf").promotion.allowance[task]
    overrides = [f"~promotion.allowance.{task}.{name}" for name in default]
    return overrides + [
        f"+promotion.allowance.{task}.{name}={value}" for name, value in metrics.items()
    ]


def metric_of(task_metrics: dict) -> str:
    return "accuracy" if "accuracy" in task_metrics else "r2"


def test_promote_gate_and_rollback(data, capsys):
    repo = data
    # No production yet: the first candidate is promoted without a comparison.
    build_candidate()
    assert main(["promote"]) == 0
    assert registry.production_path() == registry.REGISTRY_DIR / "v0.0.1"
    assert load_package(registry.production_path()).version == "v0.0.1"
    capsys.readouterr()
    assert main(["production"]) == 0
    assert capsys.readouterr().out.strip() == "models/registry/v0.0.1"
    assert registry_tags() == {"model@v0.0.1", "model#prod#1"}
    assert (repo / "models/registry/v0.0.1.dvc").exists()
    assert "models/registry/v0.0.1.dvc" in git("show", "--name-only", "model@v0.0.1")
    assert "model#prod#1" in git("ls-remote", "--tags", "origin")
    assert any((repo / ".remotes/dvc").rglob("*")), "the package reached the DVC remote"

    # The same candidate again: nothing new to register.
    assert main(["promote"]) == 0
    assert "already in production as v0.0.1" in capsys.readouterr().out
    # The gate's verdict, for CI to act on: a line appended to a file, as GitHub's
    # $GITHUB_OUTPUT and a GitLab dotenv report read it. The same model is no promotion.
    verdicts = repo / "verdict.env"
    assert main(["gate", "--verdict-file", str(verdicts)]) == 0
    assert "already in production as v0.0.1, nothing to promote" in capsys.readouterr().out

    # A gate that demands a gain no model can make refuses the candidate; the message has
    # the numbers, and nothing changes. (The template's own suite shows a weak model refused.)
    metric = metric_of(load_package(repo / "models/candidate").lineage["metrics"])
    build_candidate("seed=7", *gate({metric: -2}))
    capsys.readouterr()
    assert main(["promote"]) == 1
    err = capsys.readouterr().err
    assert "promotion refused" in err and "production v0.0.1" in err
    assert f"{metric}: candidate " in err and "-> FAILED" in err
    assert registry_tags() == {"model@v0.0.1", "model#prod#1"}
    # `gate` alone judges the same way, and needs no committed run.
    assert main(["gate", "--verdict-file", str(verdicts)]) == 1
    assert "promotion refused" in capsys.readouterr().err

    # Within the allowance, another model passes and becomes production.
    build_candidate("experiment=baseline", *gate({metric: 1}))
    assert main(["gate", "--verdict-file", str(verdicts)]) == 0
    assert "the candidate passes the gate (production v0.0.1)" in capsys.readouterr().out
    assert verdicts.read_text() == "verdict=identical\nverdict=refused\nverdict=promote\n"
    assert registry_tags() == {"model@v0.0.1", "model#prod#1"}  # the gate registers nothing
    assert main(["promote"]) == 0
    assert f"{metric}: candidate" in capsys.readouterr().out
    assert registry.production_version() == "v0.0.2"

    # Rollback: v0.0.1 again, by a new assignment; the trail keeps every move.
    assert main(["rollback"]) == 0
    said = capsys.readouterr().out
    assert "production is now v0.0.1 (was v0.0.2)" in said
    assert "A server started before this still serves v0.0.2" in said
    assert registry.production_path() == registry.REGISTRY_DIR / "v0.0.1"
    assert registry_tags() == {
        *("model@v0.0.1", "model#prod#1", "model@v0.0.2", "model#prod#2"),
        *("model#prod!#3", "model#prod#4"),  # v0.0.2 unassigned, v0.0.1 assigned again
    }
    tagger = git("tag", "--list", "--format=%(taggername) %(contents:subject)", "model#prod#4")
    assert tagger.strip() == "Grace Hopper Restore v0.0.1 to production (was v0.0.2)"

    # Nothing older is left in production: a second rollback is refused, and says what to do.
    assert main(["rollback"]) == 1
    assert "nothing to roll back to: v0.0.1" in capsys.readouterr().err

    # Any registered version can be restored by name; the package is fetched if missing.
    shutil.rmtree(repo / "models/registry/v0.0.2")
    shutil.rmtree(repo / ".dvc/cache")
    assert main(["rollback", "--to", "v0.0.2"]) == 0
    assert registry.production_path() == registry.REGISTRY_DIR / "v0.0.2"
    assert main(["rollback", "--to", "v9.9.9"]) == 1
    assert "v9.9.9 is not a registered version" in capsys.readouterr().err

    # The business report tells the same story from the registry: who put which version in
    # production and when, and each version's packaged metrics; no log and no drift yet.
    assert main(["report", "--log", "no-such.jsonl"]) == 0
    text = (repo / "reports/business/index.html").read_text()
    assert "Version v0.0.2 serves predictions." in text
    assert "by Grace Hopper &lt;grace@example.com&gt;: Restore v0.0.2 to production" in text
    assert "<td>v0.0.1</td>" in text and "earlier production model" in text
    assert f"<th>{metric}</th>" in text  # the headline metrics are the gate's, set above
    assert "No traffic to show: no prediction log at no-such.jsonl" in text
    assert "No drift report yet" in text


def test_the_gate_names_the_class_the_test_split_lacks(data, cfg, spec, few_calls, capsys):
    """ROC AUC needs every class: on a test split without one, the gate says which metric it
    skipped and why, and decides on the other metrics it lists."""
    if not spec.is_classification:
        pytest.skip("a regression split has no classes")
    build_candidate(commit=False)
    test = pd.read_parquet(cfg.data.test_path)
    target = spec.target.name
    # The majority class goes: the candidate is then judged on the classes left.
    majority = pd.read_parquet(cfg.data.train_path)[target].mode().tolist()[0]
    test[test[target] != majority].to_parquet(cfg.data.test_path, index=False)
    capsys.readouterr()
    main(["gate"])
    said = "".join(capsys.readouterr())
    assert "unknown metrics" not in said
    expected = f"roc_auc: not computed on this split (class(es) [{majority!r}] have no row"
    assert expected in said and "-> skipped" in said
    assert "f1: candidate" in said  # the other metrics decided


def test_a_run_git_does_not_hold_is_refused_unless_allowed_and_then_recorded(data, capsys):
    build_candidate("seed=3", commit=False)  # params.yaml changed, not committed
    capsys.readouterr()
    assert main(["promote", "--no-push"]) == 1
    err = capsys.readouterr().err
    assert "the candidate's run is not committed" in err and "  params.yaml" in err
    assert "make commit-run && make promote" in err
    assert registry_tags() == set()

    assert main(["promote", "--no-push", "--allow-dirty"]) == 0
    assert "not shared (--no-push)" in capsys.readouterr().out
    lineage = load_package(registry.production_path()).lineage
    assert lineage["allow_dirty"] is True and "params.yaml" in lineage["uncommitted"]
    assert lineage["git_dirty"] is True and "params.yaml" in lineage["git_changes"]
    message = git("tag", "--list", "--format=%(contents:subject)", "model#prod#1")
    assert "--allow-dirty: built from what git does not hold: params.yaml" in message
    assert "model#prod#1" not in git("ls-remote", "--tags", "origin")


def test_commit_run_commits_the_run_and_says_when_nothing_is_left(data, capsys):
    build_candidate(commit=False)
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "not committed yet" in capsys.readouterr().out
    assert main(["commit-run"]) == 0
    assert git("log", "-1", "--format=%s").startswith("Run the pipeline: ")
    assert main(["status"]) == 0
    assert "the run is committed" in capsys.readouterr().out
    assert main(["commit-run"]) == 0
    assert "nothing to commit" in capsys.readouterr().out
    lineage = load_package(data / "models/candidate").lineage
    assert lineage["git_dirty"] is True  # built before params.yaml was committed


def test_history_names_who_promoted_what(data, capsys):
    build_candidate()
    assert main(["promote", "--no-push"]) == 0
    capsys.readouterr()
    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["when", "(UTC)", "event", "version", "stage", "author", "message"]
    assert "assignment" in lines[1] and "v0.0.1" in lines[1]
    assert "Grace Hopper <grace@example.com>" in lines[1]


def test_a_moved_clone_is_told_where_the_remote_should_be(data, capsys):
    from groundwork.remote import pull

    (data / ".remotes/dvc").rmdir()
    with pytest.raises(UserFacingError, match="does not exist") as refused:
        pull(["data/raw/anything.dvc"])
    message = str(refused.value)
    assert "uv run dvc remote modify --local storage url" in message
    assert "sample-data" in message


class Sleepy(BaseEstimator):
    """A fitted model that waits before it answers: the same predictions, slower."""

    def __init__(self, model=None, seconds: float = 0.0):
        self.model, self.seconds = model, seconds

    @property
    def classes_(self):
        return self.model.classes_

    def predict_proba(self, x):
        time.sleep(self.seconds)
        return self.model.predict_proba(x)

    def predict(self, x):
        time.sleep(self.seconds)
        return self.model.predict(x)


@pytest.fixture
def few_calls(monkeypatch):
    """The gate times 60 calls per model, not 300: scikit-learn serves these models."""
    from groundwork.release import (
        cost,
    )

    monkeypatch.setattr(cost, "LATENCY_CALLS", 60)
    monkeypatch.setattr(cost, "WARMUP_CALLS", 5)


def split_data(cfg, *overrides: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The train and test splits, written where the pipeline writes them."""
    assert main(["params", *overrides]) == 0
    for step in ("validate", "features"):
        assert main([step]) == 0, step
    return pd.read_parquet(cfg.data.train_path), pd.read_parquet(cfg.data.test_path)


def candidate(model, spec, test) -> Path:
    """`model` packaged where the gate looks for the candidate."""
    shutil.rmtree("models/candidate", ignore_errors=True)
    return make_package(model, spec, test, Path("models"))


def test_a_candidate_that_predicts_a_constant_is_refused_by_the_baseline_rule(
    data, cfg, spec, few_calls, capsys
):
    from sklearn.dummy import (
        DummyClassifier,
        DummyRegressor,
    )

    from groundwork.model.train import (
        build_model,
    )

    train, test = split_data(cfg)
    constant = build_model(spec, compose_baseline_model())
    dummy = DummyClassifier() if spec.is_classification else DummyRegressor()
    constant.steps[-1] = ("model", dummy)
    constant.fit(train[spec.feature_names], train[spec.target.name])
    candidate(constant, spec, test)
    capsys.readouterr()
    assert main(["gate"]) == 1
    err = capsys.readouterr().err
    assert "promotion refused (no production model yet, on " in err
    assert "not better than the trivial baseline by promotion.baseline's margin" in err
    for metric, margin in cfg.promotion.baseline[spec.task].items():
        line = next(line for line in err.splitlines() if f"baseline {metric}: candidate" in line)
        assert "-> FAILED, short by" in line
        if not isinstance(margin, str):  # the same constant as the baseline: short by it all
            assert line.endswith(f"short by {margin:.4f}"), line
    assert "budget latency_p95: candidate" in err  # one table: every rule's line
    assert "Traceback" not in err


def compose_baseline_model():
    """The fast linear model of `experiment=baseline`, of the data's task."""
    from groundwork.config import (
        compose_config,
    )

    return compose_config(["experiment=baseline"], conf_dir=ROOT / "conf").model


def test_a_candidate_slowed_on_purpose_is_refused_by_the_cost_rule(
    data, cfg, spec, few_calls, capsys
):
    from groundwork.model.train import (
        fit,
    )

    # The latency cap out of the way: scikit-learn's own time per call varies with the load.
    train, test = split_data(cfg, "promotion.budget.latency_p95_ms=10000")
    model = fit(train, spec, compose_baseline_model())
    # Both served by scikit-learn (no ONNX for a custom estimator): only the wait differs.
    candidate(Sleepy(model), spec, test)
    assert main(["promote", "--allow-dirty", "--no-push"]) == 0
    assert "budget latency_p95: candidate" in capsys.readouterr().out

    candidate(Sleepy(model, seconds=0.05), spec, test)
    assert main(["gate"]) == 1
    err = capsys.readouterr().err
    assert "promotion refused (production v0.0.1, on " in err
    assert "costlier to serve than promotion.budget allows" in err
    slowdown = next(line for line in err.splitlines() if "slowdown latency_p50:" in line)
    assert slowdown.endswith("allowed 1.5x -> FAILED"), slowdown
    assert "roc_auc: candidate" in err or "r2: candidate" in err  # the same table
    assert "trivial baseline by" not in err  # the same predictions as production's
