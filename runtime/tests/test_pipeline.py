"""The pipeline end to end through the CLI, as `dvc repro` runs it, on the project's data."""

import hashlib
import json
import subprocess

import pytest
from conftest import breaking_value, checked_feature, dvc_add, rule_name, write_raw

import groundwork
from groundwork.cli import main
from groundwork.model.evaluate import (
    HIGHER_IS_BETTER,
)

STEPS = ["validate", "features", "train", "evaluate", "package"]
METRICS = {
    "classification": {"accuracy", "precision", "recall", "f1", "log_loss"},
    "regression": {"rmse", "mae", "r2"},
}


@pytest.fixture
def project(workdir, cfg, sample, commit):
    """A scratch project as a new one is: a git repository whose raw file, the sample
    rows, is under DVC, all committed."""
    assert main(["params"]) == 0
    commit(workdir)
    write_raw(sample, workdir / cfg.data.raw_path)
    dvc_add(workdir, cfg.data.raw_path)
    commit(workdir)
    return workdir


def head(root) -> str:
    return subprocess.run(
        ["git", "log", "-1", "--format=%H"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def lineage_of(project) -> dict:
    return json.loads((project / "models/candidate/lineage.json").read_text())


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
    assert lineage["libraries"]["groundwork-runtime"] == groundwork.__version__
    assert lineage["created_at"]
    # The commit that holds the code, config and data pointer of the run.
    assert lineage["git_sha"] == head(project)[:12]
    assert lineage["git_dirty"] is False and lineage["git_changes"] == []


def test_the_lineage_data_hash_changes_exactly_when_the_data_does(project, cfg, commit):
    for step in STEPS:
        assert main([step]) == 0, step
    raw = project / cfg.data.raw_path
    first = lineage_of(project)["data"]["md5"]
    assert first == hashlib.md5(raw.read_bytes()).hexdigest()

    # Packaged again, after a commit that changes no data: the same hash, the new commit.
    (project / "notes.md").write_text("an unrelated file\n")
    sha = commit(project)
    assert main(["package"]) == 0
    assert lineage_of(project)["data"]["md5"] == first
    assert lineage_of(project)["git_sha"] == sha[:12]

    # One digit of one value changed, before `dvc add` updates the pointer: the lineage
    # names the data as it is, not the md5 the pointer still records.
    data = bytearray(raw.read_bytes())
    at = next(i for i in range(data.index(b"\n") + 1, len(data)) if chr(data[i]).isdigit())
    data[at] = ord("1") if data[at] != ord("1") else ord("2")
    raw.write_bytes(bytes(data))
    assert main(["package"]) == 0  # only the hash is under test: no retraining needed
    changed = lineage_of(project)["data"]["md5"]
    assert changed != first and changed == hashlib.md5(bytes(data)).hexdigest()


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
