"""The pipeline end to end through the CLI, as `dvc repro` runs it, on the sample data."""

import hashlib
import json

import pytest

from {{ cookiecutter.module_name }}.cli import main

STEPS = ["validate", "features", "train", "evaluate", "package"]


@pytest.fixture
def project(workdir):
    assert main(["params"]) == 0
    assert main(["sample-data"]) == 0
    return workdir


def test_sample_data_runs_end_to_end(project):
    for step in STEPS:
        assert main([step]) == 0, step
    metrics = json.loads((project / "reports/evaluation/metrics.json").read_text())
    assert metrics["roc_auc"] > 0.95
    plots = project / "reports/evaluation/plots/sklearn"
    assert (plots / "roc.json").exists() and (plots / "confusion_matrix.json").exists()
    assert (project / "models/model.joblib").stat().st_size > 0
    lineage = json.loads((project / "models/candidate/lineage.json").read_text())
    assert lineage["metrics"] == metrics
    assert lineage["params"]["model"]["_target_"].startswith("sklearn.")
    assert (
        lineage["data"]["md5"]
        == hashlib.md5((project / "data/raw/breast_cancer.csv").read_bytes()).hexdigest()
    )
    assert (
        lineage["checksum"]
        == hashlib.sha256((project / "models/candidate/model.joblib").read_bytes()).hexdigest()
    )
    assert {"python", "scikit-learn", "pandas", "numpy"} <= set(lineage["libraries"])
    assert lineage["git_sha"] and lineage["created_at"]


def test_bad_data_fails_clearly_and_keeps_previous_outputs(project, capsys):
    for step in STEPS:
        assert main([step]) == 0
    validated = project / "data/interim/validated.parquet"
    before = validated.read_bytes()
    raw = project / "data/raw/breast_cancer.csv"
    lines = raw.read_text().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[0], "-3.5", 1)
    raw.write_text("\n".join(lines) + "\n")

    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert "'mean_radius'" in err and "in_range" in err and "rows 5 " in err
    assert "Traceback" not in err
    assert validated.read_bytes() == before


def test_step_without_params_says_what_to_run(workdir, capsys):
    assert main(["train"]) == 1
    assert "params" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ["params", "sample-data", *STEPS]:
        assert command in out
