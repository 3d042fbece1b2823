"""The pipeline end to end through the CLI, as `dvc repro` runs it, on the project's data."""

import hashlib
import json

import pytest
from conftest import breaking_value, checked_feature, rule_name, write_raw

from {{ cookiecutter.module_name }}.cli import main
from {{ cookiecutter.module_name }}.model.evaluate import (
    HIGHER_IS_BETTER,
)

STEPS = ["validate", "features", "train", "evaluate", "package"]
METRICS = {
    "classification": {"accuracy", "precision", "recall", "f1", "log_loss"},
    "regression": {"rmse", "mae", "r2"},
}


@pytest.fixture
def project(workdir, cfg, sample):
    """A scratch project whose raw file holds the sample rows."""
    assert main(["params"]) == 0
    write_raw(sample, workdir / cfg.data.raw_path)
    return workdir


def test_the_data_runs_end_to_end(project, cfg, spec):
    for step in STEPS:
        assert main([step]) == 0, step
    metrics = json.loads((project / "reports/evaluation/metrics.json").read_text())
    baseline = metrics["baseline"]
    model_metrics = set(metrics) - {"baseline"}
    assert METRICS[spec.task] <= model_metrics <= set(HIGHER_IS_BETTER)
    # The trivial model's scores, beside the model's: known without the code under test.
    assert set(baseline) == model_metrics
    if spec.is_classification:
        assert baseline["roc_auc"] == 0.5 and metrics["roc_auc"] > 0.5
    else:
        assert baseline["r2"] <= 0.01 and metrics["rmse"] < baseline["rmse"]
    plots = project / "reports/evaluation/plots"
    if spec.is_classification:
        binary = len(spec.target.classes) == 2
        assert (plots / "sklearn/confusion_matrix.json").exists()
        assert (plots / "sklearn/roc.json").exists() == binary
        images = {"confusion_matrix.png", "roc.png"} if binary else {"confusion_matrix.png"}
    else:
        assert (plots / "custom/predicted_vs_actual.json").exists()
        assert (plots / "custom/residuals.json").exists()
        images = {"predicted_vs_actual.png", "residuals.png"}
    assert {path.name for path in (plots / "images").iterdir()} == images
    lineage = json.loads((project / "models/candidate/lineage.json").read_text())
    assert lineage["metrics"] == metrics
    assert lineage["params"]["model"]["_target_"].startswith("sklearn.")
    raw = project / cfg.data.raw_path
    assert lineage["data"]["md5"] == hashlib.md5(raw.read_bytes()).hexdigest()
    assert (
        lineage["checksum"]
        == hashlib.sha256((project / "models/candidate/model.joblib").read_bytes()).hexdigest()
    )
    assert lineage["onnx"]["verified"] is True
    assert {"python", "scikit-learn", "pandas", "numpy"} <= set(lineage["libraries"])
    assert lineage["git_sha"] and lineage["created_at"]


def test_bad_data_fails_clearly_and_keeps_previous_outputs(project, cfg, spec, sample, capsys):
    for step in STEPS:
        assert main([step]) == 0
    validated = project / "data/interim/validated.parquet"
    before = validated.read_bytes()
    column = checked_feature(spec)
    broken = sample.astype({column.name: object})
    broken.loc[4, column.name] = breaking_value(column)
    write_raw(broken, project / cfg.data.raw_path)

    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert f"'{column.name}'" in err and rule_name(column) in err and "rows 5 " in err
    assert "Traceback" not in err
    assert validated.read_bytes() == before


def test_step_without_params_says_what_to_run(workdir, capsys):
    assert main(["train"]) == 1
    assert "params" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ["params", "sample-data", "adopt-data", *STEPS]:
        assert command in out
