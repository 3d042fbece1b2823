"""The API in-process (FastAPI's TestClient): health, metadata, predictions, errors, the log."""

import json
import multiprocessing

import numpy as np
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.module_name }}.cli import main
from {{ cookiecutter.module_name }}.package import MODEL_FILE, ModelPackageError, load_package
from {{ cookiecutter.module_name }}.predict import Predictor
from {{ cookiecutter.module_name }}.schema import FEATURE_SCHEMA, FEATURES
from {{ cookiecutter.module_name }}.serve import EXAMPLE, PredictionLog, create_app


@pytest.fixture
def log_file(tmp_path):
    return tmp_path / "logs" / "predictions.jsonl"


@pytest.fixture
def client(model_package, log_file):
    with TestClient(create_app(model_package, prediction_log=log_file)) as client:
        yield client


def records(sample, rows):
    return sample[FEATURES].head(rows).to_dict(orient="records")


def test_health_and_metadata_show_the_version_and_lineage(client, model_package):
    package = load_package(model_package)
    assert client.get("/health").json() == {"status": "ok", "model_version": package.version}
    metadata = client.get("/metadata").json()
    assert metadata["model_version"] == package.version
    assert metadata["checksum"] == package.lineage["checksum"]
    assert metadata["metrics"] == package.lineage["metrics"]
    assert metadata["params"]["model"] == package.lineage["params"]["model"]
    assert {"git_sha", "data", "libraries", "created_at"} <= set(metadata)


def test_one_record_and_many_give_the_predictor_results(client, model_package, sample):
    expected = Predictor(load_package(model_package)).predict_frame(sample.head(5))
    one = client.post("/predict", json=records(sample, 1)[0])
    many = client.post("/predict", json=records(sample, 5))
    assert one.status_code == many.status_code == 200
    assert len(one.json()["predictions"]) == 1
    got = [p["probability"] for p in many.json()["predictions"]]
    np.testing.assert_allclose(got, expected["probability"], atol=1e-12)
    assert [p["prediction"] for p in many.json()["predictions"]] == list(expected["prediction"])
    assert one.json()["predictions"][0] == many.json()["predictions"][0]


def test_every_prediction_is_logged_as_one_json_line(client, sample, log_file):
    response = client.post("/predict", json=records(sample, 3), headers={"X-Request-ID": "abc"})
    assert response.headers["x-request-id"] == "abc" == response.json()["request_id"]
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(events) == 3
    outputs = response.json()["predictions"]
    for event, record, output in zip(events, records(sample, 3), outputs, strict=True):
        assert event["request_id"] == "abc"
        assert event["model_version"] == response.json()["model_version"]
        assert event["inputs"] == record and event["outputs"] == output
        assert event["latency_ms"] >= 0 and event["timestamp"]


def test_the_log_is_bounded_by_rotation(model_package, sample, log_file):
    app = create_app(model_package, prediction_log=log_file, log_max_bytes=2000, log_backups=2)
    with TestClient(app) as client:
        for _ in range(20):
            client.post("/predict", json=records(sample, 2))
    files = sorted(path.name for path in log_file.parent.glob("predictions.jsonl*"))
    assert files == ["predictions.jsonl", "predictions.jsonl.1", "predictions.jsonl.2"]
    assert all(path.stat().st_size <= 2000 for path in log_file.parent.glob("predictions*"))


def _append_lines(path, worker: int) -> None:
    log = PredictionLog(path, max_bytes=4000, backups=100)
    for line in range(300):
        log.write([json.dumps({"worker": worker, "line": line, "pad": "x" * 40})])
    log.close()


def test_workers_share_the_log_without_losing_or_breaking_lines(log_file):
    """Two processes, as two uvicorn workers, append and rotate the same file."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_lines, args=(log_file, n)) for n in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    lines = [
        json.loads(line)
        for path in log_file.parent.glob("predictions.jsonl*")
        for line in path.read_text().splitlines()
    ]
    assert sorted((event["worker"], event["line"]) for event in lines) == [
        (worker, line) for worker in (1, 2) for line in range(300)
    ]
    assert all(path.stat().st_size <= 4000 for path in log_file.parent.glob("predictions*"))


def test_out_of_range_value_is_a_422_naming_field_and_rule(client, sample):
    record = records(sample, 1)[0] | {"mean_radius": -1.0}
    response = client.post("/predict", json=record)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == "mean_radius" and error["type"] == "greater_than_equal"
    many = client.post("/predict", json=[records(sample, 1)[0], record])
    assert many.status_code == 422
    assert many.json()["detail"][0]["loc"][-2:] == [1, "mean_radius"]


@pytest.mark.parametrize(
    "change, rule",
    [
        ({"mean_area": None}, "float_type"),
        ({"mean_area": "1.5"}, "float_type"),
        ({"colour": 1.0}, "extra_forbidden"),
    ],
)
def test_wrong_types_and_unknown_fields_are_422(client, sample, change, rule):
    response = client.post("/predict", json=records(sample, 1)[0] | change)
    assert response.status_code == 422
    assert rule in {error["type"] for error in response.json()["detail"]}


def test_missing_field_and_empty_list_are_422(client, sample):
    record = records(sample, 1)[0]
    del record["mean_area"]
    missing = client.post("/predict", json=record).json()["detail"]
    assert [(e["loc"][-1], e["type"]) for e in missing] == [("mean_area", "missing")]
    assert client.post("/predict", json=[]).status_code == 422


def test_request_model_is_derived_from_the_schema(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    record = schemas["Record"]
    assert record["examples"] == [EXAMPLE]
    assert set(record["required"]) == set(FEATURE_SCHEMA.columns)
    for name, column in FEATURE_SCHEMA.columns.items():
        [check] = column.checks
        field = record["properties"][name]
        assert field["minimum"] == check.statistics["min_value"]
        assert field["maximum"] == check.statistics["max_value"]
        assert field["description"] == column.description
        assert field["examples"] == [column.metadata["example"]]


def test_app_refuses_to_start_with_an_altered_model(package_copy, log_file):
    (package_copy / MODEL_FILE).write_bytes(b"tampered")
    app = create_app(package_copy, prediction_log=log_file)
    with pytest.raises(ModelPackageError, match="checksum"), TestClient(app):
        pass


def test_serve_command_refuses_a_missing_model_cleanly(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "nowhere not found" in err and "Traceback" not in err
