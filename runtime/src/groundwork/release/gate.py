"""The promotion gate: pure rules over metrics and cost figures, no files, no models.

Three rules, each one line of the gate's table:
- against production: each metric has an allowance, how much worse than production the
  candidate may score. The direction comes from `HIGHER_IS_BETTER`: a higher-is-better
  metric may drop by the allowance, an error metric may rise by it;
- `baseline`: the candidate must beat the trivial model (most frequent class; mean) by
  a margin on each metric listed;
- cost: `budget` caps a figure (latency p95, package size); `slowdown` caps the ratio of
  the candidate's latency to production's, measured side by side.
An allowance or a margin is a number in the metric's own units, or a share of the
reference's value such as "5%" (the way to bound an error whose scale depends on the
data, like rmse).

A listed metric that cannot be computed on the test split (ROC AUC when a class has no
row in it) is shown as skipped, with the reason, and the rule decides on the other
metrics it lists; a rule left with no metric to decide on refuses the candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ..errors import UserFacingError
from ..model.evaluate import HIGHER_IS_BETTER

SETTING = "promotion.allowance in conf/config.yaml"
BASELINE_SETTING = "promotion.baseline in conf/config.yaml"


@dataclass(frozen=True)
class MetricCheck:
    """One metric of the gate: candidate against production, with its allowance."""

    rule: ClassVar[str] = "worse than production by more than promotion.allowance allows"
    metric: str
    candidate: float
    production: float
    allowance: float
    higher_is_better: bool = True

    @property
    def worse_by(self) -> float:
        change = self.production - self.candidate
        return change if self.higher_is_better else -change

    @property
    def passed(self) -> bool:
        # A tiny tolerance so that a change of exactly the allowance passes despite rounding.
        return self.worse_by <= self.allowance + 1e-12

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        move = "drop" if self.higher_is_better else "rise"
        return (
            f"{self.metric}: candidate {self.candidate:.4f}, production {self.production:.4f}, "
            f"allowed {move} {self.allowance:.4f} -> {verdict}"
        )


@dataclass(frozen=True)
class BaselineCheck:
    """One metric of the baseline rule: the candidate must beat the trivial model by `margin`."""

    rule: ClassVar[str] = "not better than the trivial baseline by promotion.baseline's margin"
    metric: str
    candidate: float
    baseline: float
    margin: float
    higher_is_better: bool = True

    @property
    def better_by(self) -> float:
        change = self.candidate - self.baseline
        return change if self.higher_is_better else -change

    @property
    def passed(self) -> bool:
        return self.better_by >= self.margin - 1e-12

    def __str__(self) -> str:
        move = "gain" if self.higher_is_better else "fall"
        verdict = "ok" if self.passed else f"FAILED, short by {self.margin - self.better_by:.4f}"
        return (
            f"baseline {self.metric}: candidate {self.candidate:.4f}, baseline "
            f"{self.baseline:.4f}, required {move} {self.margin:.4f} -> {verdict}"
        )


@dataclass(frozen=True)
class BudgetCheck:
    """One cost figure of the candidate against its cap in conf/."""

    rule: ClassVar[str] = "costlier to serve than promotion.budget allows"
    figure: str
    candidate: float
    limit: float
    unit: str

    @property
    def passed(self) -> bool:
        return self.candidate <= self.limit

    def __str__(self) -> str:
        verdict = "ok" if self.passed else f"FAILED, over by {self.candidate - self.limit:.2f}"
        return (
            f"budget {self.figure}: candidate {self.candidate:.2f} {self.unit}, "
            f"limit {self.limit:g} {self.unit} -> {verdict}"
        )


@dataclass(frozen=True)
class SlowdownCheck:
    """The candidate's latency against production's, measured side by side."""

    rule: ClassVar[str] = BudgetCheck.rule
    figure: str
    candidate: float
    production: float
    max_ratio: float

    @property
    def ratio(self) -> float:
        return self.candidate / self.production if self.production > 0 else float("inf")

    @property
    def passed(self) -> bool:
        return self.ratio <= self.max_ratio

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"slowdown {self.figure}: candidate {self.candidate:.3f} ms, production "
            f"{self.production:.3f} ms, {self.ratio:.2f}x, allowed {self.max_ratio:g}x -> {verdict}"
        )


@dataclass(frozen=True)
class SkippedCheck:
    """A listed metric that the test split cannot score: shown with why, decides nothing."""

    rule: ClassVar[str] = "not scored"
    metric: str
    reason: str
    passed: ClassVar[bool] = True

    def __str__(self) -> str:
        return f"{self.metric}: not computed on this split ({self.reason}) -> skipped"


Check = MetricCheck | BaselineCheck | BudgetCheck | SlowdownCheck | SkippedCheck


def allowance_value(
    metric: str, allowance, production: float, setting: str = SETTING, noun: str = "an allowance"
) -> float:
    """A number, or "N%" of the reference's (production's or the baseline's) value."""
    if isinstance(allowance, str) and allowance.strip().endswith("%"):
        try:
            return abs(production) * float(allowance.strip()[:-1]) / 100
        except ValueError:
            pass
    elif isinstance(allowance, int | float) and not isinstance(allowance, bool):
        return float(allowance)
    raise UserFacingError(
        f"{setting}: {metric}: {allowance!r} is not {noun}: give a number, or a share "
        "of the reference's value such as '5%'."
    )


def skipped_metrics(
    listed: Mapping[str, object],
    candidate: Mapping[str, float],
    unscorable: Mapping[str, str],
    setting: str,
    prefix: str = "",
) -> list[SkippedCheck]:
    """The lines of the listed metrics this split cannot score; refuse a name no task
    computes, and a rule whose every metric is unscorable here (it would decide on nothing)."""
    unknown = sorted(set(listed) - set(candidate) - set(unscorable))
    if unknown:
        choices = sorted({*candidate, *unscorable})
        raise UserFacingError(f"{setting} names unknown metrics {unknown}; choose from {choices}.")
    skipped = [
        SkippedCheck(prefix + name, unscorable[name]) for name in listed if name in unscorable
    ]
    if listed and len(skipped) == len(listed):
        reasons = "; ".join(f"{check.metric}: {check.reason}" for check in skipped)
        raise UserFacingError(
            f"none of the metrics {setting} lists can be computed on the test split "
            f"({reasons}): list a metric it can score, or give the test split the rows it "
            "lacks (more data, or a larger data.test_size)."
        )
    return skipped


def check_gate(
    candidate: Mapping[str, float],
    production: Mapping[str, float],
    allowances: Mapping[str, object],
    unscorable: Mapping[str, str] | None = None,
) -> list[MetricCheck]:
    """Compare candidate and production metric by metric, for every metric the gate lists
    that the split can score (`unscorable`, from `evaluate.unscorable`, names the others:
    `skipped_metrics` gives their lines)."""
    if not allowances:
        raise UserFacingError(f"{SETTING} lists no metric for this task.")
    skipped_metrics(allowances, candidate, unscorable or {}, SETTING)
    return [
        MetricCheck(
            name,
            candidate[name],
            production[name],
            allowance_value(name, allowance, production[name]),
            HIGHER_IS_BETTER[name],
        )
        for name, allowance in allowances.items()
        if name in candidate
    ]


def check_baseline(
    candidate: Mapping[str, float],
    baseline: Mapping[str, float],
    margins: Mapping[str, object],
    unscorable: Mapping[str, str] | None = None,
) -> list[BaselineCheck]:
    """Each listed metric the split can score: the candidate against the trivial model,
    with its margin (see `check_gate` for `unscorable`)."""
    skipped_metrics(margins, candidate, unscorable or {}, BASELINE_SETTING)
    return [
        BaselineCheck(
            name,
            candidate[name],
            baseline[name],
            allowance_value(name, margin, baseline[name], BASELINE_SETTING, noun="a margin"),
            HIGHER_IS_BETTER[name],
        )
        for name, margin in margins.items()
        if name in candidate
    ]


def check_cost(
    candidate: Mapping[str, float],
    budget: Mapping[str, float],
    production: Mapping[str, float] | None = None,
) -> list[BudgetCheck | SlowdownCheck]:
    """The candidate's cost against `promotion.budget`: latency p95 and package size caps,
    and, when production was measured beside it, its latency p50 as a ratio of production's
    (the median: the ratio of two tails would swing with a single stall)."""
    checks: list[BudgetCheck | SlowdownCheck] = [
        BudgetCheck("latency_p95", candidate["latency_p95_ms"], budget["latency_p95_ms"], "ms"),
        BudgetCheck("package_size", candidate["package_mb"], budget["package_mb"], "MB"),
    ]
    if production is not None:
        checks.append(
            SlowdownCheck(
                "latency_p50",
                candidate["latency_p50_ms"],
                production["latency_p50_ms"],
                budget["max_slowdown"],
            )
        )
    return checks
