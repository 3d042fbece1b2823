"""Promotion and rollback: which packaged model is in production, recorded in git.

The registry is GTO's: versions and stage assignments are git tags (`model@v0.0.2`,
`model#prod#3`), so `gto show`, `gto history` and `git tag` tell anyone who promoted
what and when. A promoted package is copied to models/registry/<version>/ and tracked
by DVC: git holds its pointer, the DVC remote holds its files, and every version stays
retrievable for a rollback. Promotion and rollback push both to their remotes, so a
colleague's clone can serve what was promoted.

A candidate is promoted only from a committed run (see `worktree`): the registered
commit then holds the code, config and dvc.lock that built it.

GTO decides which version is in production: the highest version whose latest `prod`
event is an assignment. Rollback therefore unassigns the versions above its target,
then assigns the target again, so the trail keeps both moves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from .. import COMMAND, remote, worktree
from ..artifacts import atomic_dir
from ..errors import UserFacingError
from .package import LINEAGE_FILE, load_package, write_lineage

if TYPE_CHECKING:
    import pandas as pd

    from ..settings import PromotionSettings
    from .gate import Check
    from .package import ModelPackage

log = structlog.get_logger(__name__)

ARTIFACT = "model"  # the name declared in artifacts.yaml
STAGE = "prod"  # the stage declared in .gto
REGISTRY_DIR = Path("models/registry")
PROMOTE_HINT = f"run `uv run {COMMAND} promote`"


class PromotionRefused(UserFacingError):
    """The candidate failed the gate; the message shows the numbers."""


@dataclass(frozen=True)
class Promotion:
    version: str | None
    previous: str | None
    checks: list[Check]
    candidate_scores: dict[str, float]


def score(package: ModelPackage, test: pd.DataFrame) -> dict[str, float]:
    """The package's metrics on a labelled split, scored as the API and batch scoring do."""
    # Imported here: `production_path` (what the API asks) needs none of the scoring code.
    from ..model.evaluate import task_metrics
    from .predictor import Predictor

    predictor = Predictor(package)
    spec = predictor.spec
    missing = [name for name in [*spec.feature_names, spec.target.name] if name not in test]
    if missing:
        raise PromotionRefused(
            f"model {package.version} needs columns {missing} that the test split lacks: it "
            "was trained on other data, so the gate cannot compare it on this split."
        )
    columns = {name: test[name].to_numpy() for name in spec.feature_names}
    outputs = predictor.outputs(columns, len(test))
    y_true = test[spec.target.name].to_numpy()
    return task_metrics(spec, y_true, outputs, predictor.classes, predictor.threshold)


def resolve_package_path(explicit: Path | str | None = None) -> Path:
    """The package to serve or score with: --model, else $MODEL_PATH, else production's."""
    chosen = explicit or os.environ.get("MODEL_PATH")
    return Path(chosen) if chosen else production_path()


# --- GTO and git ---------------------------------------------------------------------


def _gto():
    """GTO's API, imported on use: it belongs to the pipeline tools, not the runtime."""
    try:
        import gto.api
    except ImportError as exc:
        raise UserFacingError(
            "the model registry needs GTO (dependency group `pipeline`): run `uv sync`, "
            "or name the model package with --model or MODEL_PATH."
        ) from exc
    return gto.api


def _registry_call(function, *args, **kwargs):
    """Call GTO; its errors (no git repository, unknown version) become one clear message."""
    from gto.exceptions import GTOException
    from scmrepo.exceptions import SCMError

    try:
        return function(".", *args, **kwargs)
    except (GTOException, SCMError) as exc:
        raise UserFacingError(f"model registry (GTO): {exc}") from exc


def semver(version: str):
    from gto.versions import SemVer

    return SemVer(version)


def active_versions() -> list[str]:
    """Versions whose latest `prod` event is an assignment, highest first."""
    vstages = _registry_call(_gto().find_versions_in_stage, ARTIFACT, STAGE, versions_per_stage=-1)
    versions = {vstage.version for vstage in vstages or []}
    return sorted(versions, key=semver, reverse=True)


def registered_versions() -> list[str]:
    """Every registered version of the model, highest first."""
    versions = _registry_call(_gto().find_latest_version, ARTIFACT, all=True)
    return sorted((v.version for v in versions), key=semver, reverse=True)


def production_version() -> str | None:
    """The version GTO shows in `prod`, or None before the first promotion."""
    active = active_versions()
    return active[0] if active else None


def package_dir(version: str) -> Path:
    return REGISTRY_DIR / version


def production_path() -> Path:
    """The package directory of the model in production."""
    version = production_version()
    if version is None:
        raise UserFacingError(f"no model is in production yet: {PROMOTE_HINT}.")
    path = package_dir(version)
    if not path.is_dir():
        raise UserFacingError(
            f"production model {version} is not in {path}: "
            f"run `uv run {COMMAND} pull {path}.dvc` to fetch it from the DVC remote."
        )
    return path


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserFacingError(f"`git {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def history() -> list[dict]:
    """The registry's events, newest first: who registered, promoted or rolled back what."""
    return _registry_call(_gto().history, ARTIFACT)


def _after_last_event() -> None:
    """Wait until the clock is past the newest registry event.

    GTO orders a version's events by tag time, to the second; two events on one
    version within one second would leave its state ambiguous.
    """
    events = _registry_call(_gto().history, ARTIFACT)
    if events:
        wait = events[0]["timestamp"].timestamp() + 1 - datetime.now(UTC).timestamp()
        if wait > 0:
            time.sleep(wait)


def _store(package: ModelPackage, version: str, provenance: dict) -> str:
    """Copy the package to the registry, track it with DVC, commit the pointer; return the sha."""
    from dvc.repo import Repo

    target = package_dir(version)
    with atomic_dir(target) as tmp:
        shutil.copytree(package.path, tmp, dirs_exist_ok=True)
        # The version and provenance go into the copy's lineage, so /metadata names them;
        # the model files stay byte for byte the same, and the lineage is sealed again.
        write_lineage(tmp / LINEAGE_FILE, package.lineage | {"version": version} | provenance)
    with Repo(".") as repo:
        repo.scm_context.quiet = True  # the commit below stages the pointer, not the user
        repo.add(str(target))
    pointers = [f"{target}.dvc", str(REGISTRY_DIR / ".gitignore")]
    _git("add", "--", *pointers)
    if _git("status", "--porcelain", "--", *pointers):
        # Only the pointer files go into this commit; whatever else is staged stays staged.
        # The hooks are skipped: the commit holds nothing but files DVC generated.
        message = f"Register {ARTIFACT} {version}"
        _git("commit", "--no-verify", "--quiet", "-m", message, "--", *pointers)
    # Unchanged pointers: an interrupted promotion committed them already.
    return _git("log", "-1", "--format=%H", "--", pointers[0])


def share() -> list[str]:
    """Push the registry's packages to the DVC remote, then its commits and tags to git's
    origin; return what could not be shared (nothing: all shared).

    DVC goes first: a colleague who pulls the git tags must find the files they point to.
    """
    pointers = [str(pointer) for pointer in sorted(REGISTRY_DIR.glob("*.dvc"))]
    try:
        remote.push(pointers)
    except remote.RemoteError as exc:
        return [f"the model packages did not reach the DVC remote, so git was not pushed "
                f"either: {exc}"]  # fmt: skip
    origin = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True)
    if origin.returncode != 0:
        return ["git has no remote 'origin': add it with `git remote add origin URL`."]
    pushed = subprocess.run(
        ["git", "push", "--quiet", "--follow-tags", "origin", "HEAD"],
        capture_output=True,
        text=True,
    )
    if pushed.returncode != 0:
        return [f"`git push --follow-tags origin HEAD` failed: {pushed.stderr.strip()}"]
    return []


def check_committed(allow_dirty: bool) -> dict:
    """Refuse a candidate whose run git does not hold; return the provenance to record."""
    changes = worktree.changed_files()
    if changes is None:
        raise UserFacingError("the registry lives in git: run `git init` and commit first.")
    stale = worktree.stale_stages()
    if allow_dirty:
        return {"source_commit": worktree.head_sha(), "allow_dirty": True,
                "uncommitted": changes, "stale_stages": stale}  # fmt: skip
    if changes:
        files = "\n".join(f"  {path}" for path in changes)
        raise PromotionRefused(
            "promotion refused: the candidate's run is not committed, so the registered "
            f"commit would not hold what built it:\n{files}\n"
            f"Commit the run, then promote: {worktree.COMMIT_HINT} && make promote\n"
            "(or `make promote ALLOW_DIRTY=1` to promote anyway; the lineage and the "
            "registry's tags then say so)."
        )
    if stale:
        lines = "\n".join(f"  {line}" for line in stale)
        raise PromotionRefused(
            "promotion refused: the candidate is out of date with the committed code and "
            f"config (`uv run dvc status`):\n{lines}\n"
            f"Rebuild it and commit the run: make pipeline && {worktree.COMMIT_HINT} "
            "&& make promote"
        )
    return {"source_commit": worktree.head_sha()}


def gate(settings: PromotionSettings) -> Promotion:
    """Score the candidate and production on the test split and apply the gate; refuse a
    candidate that fails it. Registers nothing: `promote` does that once this passes.

    The gate's rules: no worse than production (`promotion.allowance`), better than the
    trivial model fitted on the train split (`promotion.baseline`), and within the cost
    budget (`promotion.budget`), its latency timed beside production's in this process.

    `Promotion.version` is production's version when the candidate is production already
    (same checksum), else None; `candidate_scores` are the candidate's metrics.
    """
    # Imported here: the gate needs the metrics code, which serving leaves out.
    import pandas as pd

    candidate = load_package(settings.candidate)
    for path in (settings.test_path, settings.train_path):
        if not path.exists():
            raise UserFacingError(f"{path} not found: run `make pipeline` first.")
    test = pd.read_parquet(settings.test_path)
    candidate_scores = score(candidate, test)
    previous = production_version()
    production = load_package(_fetch(previous)) if previous else None
    if production and production.lineage["checksum"] == candidate.lineage["checksum"]:
        return Promotion(previous, previous, [], candidate_scores)
    unscorable = _unscorable(candidate, test)
    checks: list[Check] = []
    if production:
        checks += _production_checks(
            candidate, candidate_scores, production, test, settings, unscorable
        )
    checks += _baseline_checks(candidate, candidate_scores, test, settings, unscorable)
    checks += _cost_checks(candidate, production, test, settings.budget)
    failed = [check for check in checks if not check.passed]
    if failed:
        rules = "; ".join(dict.fromkeys(check.rule for check in failed))
        against = f"production {previous}" if previous else "no production model yet"
        lines = "\n".join(f"  {check}" for check in checks)
        raise PromotionRefused(
            f"promotion refused ({against}, on {settings.test_path}): the candidate is {rules} "
            f"(conf/config.yaml):\n{lines}"
        )
    return Promotion(None, previous, checks, candidate_scores)


def _production_checks(
    candidate: ModelPackage,
    candidate_scores: dict[str, float],
    production: ModelPackage,
    test: pd.DataFrame,
    settings: PromotionSettings,
    unscorable: dict[str, str],
) -> list[Check]:
    """No worse than production, metric by metric, on the same test split. A metric that
    either model cannot score on this split is skipped, and says why."""
    from .gate import SETTING, check_gate, skipped_metrics

    task = candidate.spec.task
    if production.spec.task != task:
        raise PromotionRefused(
            f"the candidate is a {task} model and production {production.path.name} a "
            f"{production.spec.task} model: they cannot be compared on one test split."
        )
    allowances = settings.allowance[task]
    unscorable |= _unscorable(production, test)
    checks: list[Check] = []
    checks += check_gate(candidate_scores, score(production, test), allowances, unscorable)
    return checks + skipped_metrics(allowances, candidate_scores, unscorable, SETTING)


def _baseline_checks(
    candidate: ModelPackage,
    candidate_scores: dict[str, float],
    test: pd.DataFrame,
    settings: PromotionSettings,
    unscorable: dict[str, str],
) -> list[Check]:
    """Better than the trivial model fitted on the train split, by the configured margins."""
    from .gate import BASELINE_SETTING, check_baseline, skipped_metrics

    baseline = _baseline_scores(candidate, settings.train_path, test)
    margins = settings.baseline[candidate.spec.task]
    checks: list[Check] = []
    checks += check_baseline(candidate_scores, baseline, margins, unscorable)
    return checks + skipped_metrics(
        margins, candidate_scores, unscorable, BASELINE_SETTING, "baseline "
    )


def _cost_checks(
    candidate: ModelPackage,
    production: ModelPackage | None,
    test: pd.DataFrame,
    budget: dict[str, Any],
) -> list[Check]:
    """Within the serving budget, the candidate's latency timed beside production's in this
    process (only latency: the batch figures stay in each package's lineage)."""
    from .cost import feature_records, latency_figures, package_mb, side_by_side
    from .gate import check_cost
    from .predictor import Predictor

    predictors = [Predictor(candidate)] + ([Predictor(production)] if production else [])
    timings = side_by_side(predictors, feature_records(test, candidate.spec))
    costs = [latency_figures(latencies) for latencies in timings]
    costs[0]["package_mb"] = package_mb(candidate.path)
    checks: list[Check] = []
    return checks + check_cost(costs[0], budget, costs[1] if production else None)


def _unscorable(package: ModelPackage, test: pd.DataFrame) -> dict[str, str]:
    """The metrics the test split cannot score for this model's classes, with why."""
    from ..model.evaluate import unscorable

    return unscorable(test[package.spec.target.name].to_numpy(), package.classes)


def _baseline_scores(candidate: ModelPackage, train_path: Path, test: pd.DataFrame) -> dict:
    """The trivial model's metrics, fitted on the train split and scored on `test`."""
    import pandas as pd

    from ..model.evaluate import baseline_metrics

    target = candidate.spec.target.name
    y_train = pd.read_parquet(train_path, columns=[target])[target].to_numpy()
    return baseline_metrics(candidate.spec, y_train, test[target].to_numpy(), candidate.threshold)


def promote(settings: PromotionSettings, allow_dirty: bool = False) -> Promotion:
    """Gate the candidate against production on the test split; register and assign it.

    The candidate's run must be committed (or `allow_dirty` given, which is recorded), so
    that the registered commit holds the code, config and dvc.lock that built it.
    """
    provenance = check_committed(allow_dirty)
    gated = gate(settings)
    if gated.version is not None:
        return gated
    candidate = load_package(settings.candidate)
    previous, checks, candidate_scores = gated.previous, gated.checks, gated.candidate_scores

    registered = registered_versions()
    version = semver(registered[0]).bump_patch().version if registered else "v0.0.1"
    commit = _store(candidate, version, provenance)
    summary = ", ".join(f"{name} {value:.4f}" for name, value in candidate_scores.items())
    reason = f"passed the gate against {previous}" if previous else "first production model"
    if provenance.get("allow_dirty"):
        unheld = [*provenance["uncommitted"], *provenance["stale_stages"]]
        note = f" (--allow-dirty: built from what git does not hold: {', '.join(unheld)})"
        summary, reason = summary + note, reason + note
    gto = _gto()
    _registry_call(
        gto.register, ARTIFACT, commit, version=version, message=f"Register {version}: {summary}"
    )
    _registry_call(
        gto.assign, ARTIFACT, STAGE, version=version, message=f"Promote {version}: {reason}"
    )
    log.info("model promoted", version=version, previous=previous, **candidate_scores)
    return Promotion(version, previous, checks, candidate_scores)


def _fetch(version: str) -> Path:
    """A version's package in the workspace, pulled from DVC if needed."""
    path = package_dir(version)
    if path.is_dir():
        return path
    pointer = Path(f"{path}.dvc")
    if not pointer.exists():
        raise UserFacingError(f"{pointer} not found: pull the commits that registered {version}.")
    remote.pull([str(pointer)])
    return path


def rollback(to: str | None = None) -> tuple[str, str]:
    """Put an earlier version back in production; return (previous, restored)."""
    active = active_versions()
    if not active:
        raise UserFacingError(f"nothing to roll back: no model is in production ({PROMOTE_HINT}).")
    current = active[0]
    if to is None:
        if len(active) < 2:
            raise UserFacingError(
                f"nothing to roll back to: {current} is the only production version left. "
                "Use `--to VERSION` to choose any registered version."
            )
        target = active[1]
    else:
        registered = registered_versions()
        if to not in registered:
            raise UserFacingError(f"{to} is not a registered version; choose from {registered}.")
        if to == current:
            raise UserFacingError(f"{to} is already in production.")
        target = to
    _fetch(target)
    load_package(package_dir(target))  # refuses a package whose checksum does not match

    gto = _gto()
    message = f"Restore {target} to production (was {current})"
    for version in active:
        if semver(version) > semver(target):
            _after_last_event()
            _registry_call(gto.unassign, ARTIFACT, version=version, stage=STAGE, message=message)
    _after_last_event()
    _registry_call(
        gto.assign, ARTIFACT, STAGE, version=target, message=message, force=target in active
    )
    log.info("model rolled back", previous=current, version=target)
    return current, target
