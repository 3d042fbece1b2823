"""The settings each command reads from the project's composed config, as plain values.

The CLI (the edge) reads params.yaml once and builds these; the code they are handed to
sees typed fields, never the whole config, so what a step depends on is in its signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from .config import as_dict


def per_task(section: Any) -> dict[str, dict[str, Any]]:
    """A config section keyed by task (classification, regression), each a mapping."""
    return {str(task): as_dict(section[task]) for task in section}


@dataclass(frozen=True)
class PromotionSettings:
    """What the promotion gate reads (`promote`, `gate`): the candidate's package, the
    splits it is scored on and fitted against, and the rules of `promotion` in conf/."""

    candidate: Path
    train_path: Path
    test_path: Path
    # task -> metric -> how much worse than production the candidate may be
    allowance: dict[str, dict[str, Any]]
    # task -> metric -> by how much the candidate must beat the trivial model
    baseline: dict[str, dict[str, Any]]
    budget: dict[str, Any]  # latency_p95_ms, package_mb, max_slowdown

    @classmethod
    def from_config(cls, cfg: DictConfig) -> PromotionSettings:
        return cls(
            candidate=Path(cfg.artifacts.package),
            train_path=Path(cfg.data.train_path),
            test_path=Path(cfg.data.test_path),
            allowance=per_task(cfg.promotion.allowance),
            baseline=per_task(cfg.promotion.baseline),
            budget=as_dict(cfg.promotion.budget),
        )


@dataclass(frozen=True)
class MonitoringSettings:
    """What `monitor` and `report` read: `monitoring` in conf/ (the log, the report folders,
    the drift rules), the candidate's package and train split (the reference), and the
    promotion allowances (how far the window's metrics may drop)."""

    log: Path
    out: Path
    business: Path
    min_rows: int
    drift_share: float
    key_columns: list[str]
    columns: dict[str, Any]  # per-column drift tests: {name: {method, threshold}}
    candidate: Path
    train_path: Path
    task: str
    allowance: dict[str, dict[str, Any]]

    @classmethod
    def from_config(cls, cfg: DictConfig) -> MonitoringSettings:
        monitoring = as_dict(cfg.monitoring)
        return cls(
            log=Path(monitoring["log"]),
            out=Path(monitoring["out"]),
            business=Path(monitoring["business"]),
            min_rows=int(monitoring["min_rows"]),
            drift_share=float(monitoring["drift_share"]),
            key_columns=list(monitoring.get("key_columns") or []),
            columns=dict(monitoring.get("columns") or {}),
            candidate=Path(cfg.artifacts.package),
            train_path=Path(cfg.data.train_path),
            task=str(cfg.data.task),
            allowance=per_task(cfg.promotion.allowance),
        )

    @property
    def drift_rules(self) -> dict[str, Any]:
        """The drift tests' settings, as `measure_drift` takes them."""
        return {"drift_share": self.drift_share, "columns": self.columns}
