"""A smoke run: the pipeline's stages in this process, on a few hundred rows of the
project's data in a scratch folder, then the API's contract on the model they packaged."""

import json

import pytest
from conftest import ROOT, records
from fastapi.testclient import TestClient
from groundwork.cli import main
from groundwork.serving.api import create_app

STAGES = ["validate", "features", "train", "evaluate", "package"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, cfg, spec, sample):
    """The stages of dvc.yaml, in order, in a scratch copy of the project's settings."""
    folder = tmp_path_factory.mktemp("smoke")
    (folder / "conf").symlink_to(ROOT / "conf", target_is_directory=True)
    raw = folder / cfg.data.raw_path
    raw.parent.mkdir(parents=True)
    derived = [column.name for column in spec.derived]  # computed by the features stage
    sample.drop(columns=derived).to_parquet(raw.with_suffix(".parquet"), index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        # The scratch raw file is Parquet whatever the project's is: no CSV round trip.
        assert main(["params", f"data.raw_path={raw.with_suffix('.parquet')}"]) == 0
        for stage in STAGES:
            assert main([stage]) == 0, f"the {stage} stage failed: see its log above"
    return folder


def test_the_stages_write_metrics_and_a_package_with_its_lineage(run, cfg, spec):
    metrics = json.loads((run / cfg.artifacts.evaluation / "metrics.json").read_text())
    lineage = json.loads((run / cfg.artifacts.package / "lineage.json").read_text())
    assert lineage["metrics"] == metrics
    assert set(metrics["baseline"]) <= set(metrics)
    assert lineage["params"]["data"]["target"]["name"] == spec.target.name


@pytest.fixture(scope="module")
def client(run, cfg):
    with TestClient(create_app(run / cfg.artifacts.package, run / "predictions.jsonl")) as client:
        yield client


def test_the_api_answers_one_prediction_per_record(client, sample, spec):
    rows = records(sample, spec, rows=5)
    response = client.post("/predict", json=rows)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(rows)
    if spec.is_classification:
        assert {p["prediction"] for p in predictions} <= set(spec.target.classes)


def test_the_api_asks_for_the_raw_inputs_the_data_config_declares(client, spec):
    record = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert set(spec.inputs) <= set(record["properties"])
    # Derived features are computed from the raw inputs, never asked for; nor is the target.
    assert not {column.name for column in spec.derived} & set(record["properties"])
    assert spec.target.name not in record["properties"]


def test_a_field_the_data_config_does_not_declare_is_refused_by_name(client, sample, spec):
    (row,) = records(sample, spec, rows=1)
    response = client.post("/predict", json=row | {"not_a_declared_column": 1})
    assert response.status_code == 422
    assert "not_a_declared_column" in response.text
