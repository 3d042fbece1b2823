"""The promotion gate: pure rules over two sets of metrics, no files, no models.

Each metric of the gate has an allowance: how much worse than production the
candidate may score. The direction comes from `HIGHER_IS_BETTER`: a higher-is-better
metric may drop by the allowance, an error metric may rise by it. An allowance is a
number in the metric's own units, or a share of production's value such as "5%"
(the way to bound an error whose scale depends on the data, like rmse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UserFacingError
from ..model.evaluate import HIGHER_IS_BETTER

SETTING = "promotion.allowance in conf/config.yaml"


@dataclass(frozen=True)
class MetricCheck:
    """One metric of the gate: candidate against production, with its allowance."""

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


def allowance_value(metric: str, allowance, production: float) -> float:
    """A number, or "N%" of production's value."""
    if isinstance(allowance, str) and allowance.strip().endswith("%"):
        try:
            return abs(production) * float(allowance.strip()[:-1]) / 100
        except ValueError:
            pass
    elif isinstance(allowance, int | float) and not isinstance(allowance, bool):
        return float(allowance)
    raise UserFacingError(
        f"{SETTING}: {metric}: {allowance!r} is not an allowance: give a number, or a share "
        "of production's value such as '5%'."
    )


def check_gate(
    candidate: Mapping[str, float],
    production: Mapping[str, float],
    allowances: Mapping[str, object],
) -> list[MetricCheck]:
    """Compare candidate and production metric by metric, for every metric the gate lists."""
    if not allowances:
        raise UserFacingError(f"{SETTING} lists no metric for this task.")
    unknown = sorted(set(allowances) - set(candidate))
    if unknown:
        raise UserFacingError(
            f"{SETTING} names unknown metrics {unknown}; choose from {sorted(candidate)}."
        )
    return [
        MetricCheck(
            name,
            candidate[name],
            production[name],
            allowance_value(name, allowance, production[name]),
            HIGHER_IS_BETTER[name],
        )
        for name, allowance in allowances.items()
    ]
