"""Step 5: package the model with its lineage and what it costs to serve.

`release.package` writes and checks a package; `release.cost` measures one through the
`Predictor`, which reads packages. This step joins them, so neither imports the other:
the cost is measured on the new package in its temporary folder, before it replaces the
previous one, so a failure anywhere leaves the previous package as it was.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from .cost import measure
from .package import build_package, collect_lineage, load_package

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = structlog.get_logger(__name__)


def run(cfg: DictConfig) -> Path:
    import pandas as pd

    from ..data.load import data_spec
    from ..model.derived import project_source
    from ..project import own_package

    spec = data_spec(cfg)
    test = pd.read_parquet(cfg.data.test_path)
    target = build_package(
        cfg.artifacts.model,
        cfg.artifacts.package,
        collect_lineage(cfg),
        spec,
        test,
        threshold=float(cfg.evaluate.threshold),
        tolerance=float(cfg.package.onnx_tolerance),
        measure=partial(measure, frame=test),
        features_source=project_source(own_package()) if spec.derived else None,
    )
    package = load_package(target)
    log.info(
        "model packaged",
        path=str(target),
        version=package.version,
        onnx=package.has_onnx,
        **package.lineage["cost"],
    )
    return target
