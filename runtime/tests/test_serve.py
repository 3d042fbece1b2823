"""The API in-process (FastAPI's TestClient): health, metadata, predictions, errors, the log."""

import dataclasses
import json
import math
import multiprocessing

import joblib
import pandas as pd
import pytest
from conftest import breaking_value, checked_feature, make_package, records
from fastapi.testclient import TestClient
from omegaconf import OmegaConf

from groundwork.cli import main
from groundwork.data.spec import (
    Column,
)
from groundwork.release.package import (
    MODEL_FILE,
    ModelPackageError,
    load_package,
)
from groundwork.release.predictor import (
    Predictor,
)
from groundwork.serving.api import create_app
from groundwork.serving.prediction_log import (
    PredictionLog,
)


@pytest.fixture
def log_file(tmp_path):
    return tmp_path / "logs" / "predictions.jsonl"


@pytest.fixture
def client(model_package, log_file):
    with TestClient(create_app(model_package, prediction_log=log_file)) as client:
        yield client


def test_health_and_metadata_show_the_version_and_lineage(client, model_package):
    package = load_package(model_package)
    assert client.get("/health").json() == {"status": "ok", "model_version": package.version}
    response = client.get("/metadata")
    metadata = response.json()
    assert metadata["model_version"] == package.version
    # The package's name, not where the server keeps it.
    assert metadata["package"] == model_package.name
    assert "path" not in metadata and str(model_package.parent) not in response.text
    assert metadata["engine"] == "onnxruntime"
    assert metadata["checksum"] == package.lineage["checksum"]
    assert metadata["metrics"] == package.lineage["metrics"]
    assert metadata["params"]["model"] == package.lineage["params"]["model"]
    assert {"git_sha", "data", "libraries", "created_at", "onnx"} <= set(metadata)


def test_one_record_and_many_give_the_predictor_results(client, model_package, sample, spec):
    expected = Predictor(load_package(model_package)).predict_frame(sample.head(5))
    one = client.post("/predict", json=records(sample, spec, 1)[0])
    many = client.post("/predict", json=records(sample, spec, 5))
    assert one.status_code == many.status_code == 200, one.text
    assert len(one.json()["predictions"]) == 1
    predictions = many.json()["predictions"]
    assert [p["prediction"] for p in predictions] == expected["prediction"].tolist()
    if spec.is_classification:
        for p in predictions:
            assert set(p["probabilities"]) == {str(c) for c in spec.target.classes}
            assert sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    else:
        assert all(isinstance(p["prediction"], float) for p in predictions)
    assert one.json()["predictions"][0] == predictions[0]


def test_the_openapi_example_is_the_data_config_s_and_is_predicted(
    client, cfg, model_package, spec
):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    [example] = schemas["Record"]["examples"]
    # Read from conf/data itself: each feature's `example`, else a value its rules allow.
    columns = OmegaConf.to_container(cfg.data.columns)
    roles = ("numeric", "categorical")  # the roles that are features; identifiers are not
    features = {name: rules for name, rules in columns.items() if rules["role"] in roles}
    # A personal-data feature's value is withheld from the document: the client supplies it.
    withheld = {column.name: column.example_value for column in spec.features if column.pii}
    assert set(example) == set(features) - set(withheld)
    for name, rules in features.items():
        if name in withheld:
            continue
        if "example" in rules:
            assert example[name] == rules["example"], name
        elif rules["role"] == "categorical":
            assert example[name] in rules["values"], name
        else:
            assert rules.get("min", -math.inf) <= example[name] <= rules.get("max", math.inf)
    example |= withheld
    response = client.post("/predict", json=example)
    assert response.status_code == 200, response.text
    [predicted] = response.json()["predictions"]
    # What the packaged scikit-learn pipeline says of that row, called directly.
    pipeline = joblib.load(model_package / MODEL_FILE)
    [expected] = pipeline.predict(pd.DataFrame([example])).tolist()
    if spec.is_classification:
        assert predicted["prediction"] == expected
    else:  # ONNX computes in float32
        assert predicted["prediction"] == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_every_prediction_is_logged_as_one_json_line(client, sample, spec, log_file):
    sent = records(sample, spec, 3)
    response = client.post("/predict", json=sent, headers={"X-Request-ID": "abc"})
    # The request's id is the server's own; the client's is kept beside it in the log.
    request_id = response.json()["request_id"]
    assert response.headers["x-request-id"] == request_id != "abc"
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(events) == 3
    outputs = response.json()["predictions"]
    for event, record, output in zip(events, sent, outputs, strict=True):
        assert event["request_id"] == request_id and event["client_request_id"] == "abc"
        assert event["model_version"] == response.json()["model_version"]
        assert event["inputs"] == record and event["outputs"] == output
        assert event["latency_ms"] >= 0 and event["timestamp"]


def test_the_log_is_bounded_by_rotation(model_package, sample, spec, log_file, tmp_path):
    batch = records(sample, spec, 2)
    # The bound holds about three requests, whatever the width of the data's records.
    with TestClient(create_app(model_package, prediction_log=tmp_path / "one.jsonl")) as client:
        client.post("/predict", json=batch)
    max_bytes = 7 * (tmp_path / "one.jsonl").stat().st_size // 2
    app = create_app(model_package, prediction_log=log_file, log_max_bytes=max_bytes, log_backups=2)
    with TestClient(app) as client:
        for _ in range(20):
            assert client.post("/predict", json=batch).status_code == 200
    files = sorted(path.name for path in log_file.parent.glob("predictions.jsonl*"))
    assert files == ["predictions.jsonl", "predictions.jsonl.1", "predictions.jsonl.2"]
    sizes = [path.stat().st_size for path in log_file.parent.glob("predictions*")]
    assert all(0 < size <= max_bytes for size in sizes), (sizes, max_bytes)


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


STDOUT_WRITER = """
import json, sys
from groundwork.serving import prediction_log
log = prediction_log.PredictionLog("-")
worker = int(sys.argv[1])
for batch in range(40):
    log.write([json.dumps({"worker": worker, "line": batch * 5 + n, "pad": "x" * 3000})
               for n in range(5)])
"""


def test_the_log_can_go_to_stdout_with_whole_lines_from_every_worker():
    """`-` (the Kubernetes setting): two processes share one stdout pipe, each writing
    batches far above the 4 KiB a pipe keeps whole by itself; every line arrives whole."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    writers = [
        subprocess.Popen([sys.executable, "-c", STDOUT_WRITER, str(n)], stdout=write_end)
        for n in (1, 2)
    ]
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        lines = pipe.read().splitlines()
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    events = [json.loads(line) for line in lines]
    assert sorted((event["worker"], event["line"]) for event in events) == [
        (worker, line) for worker in (1, 2) for line in range(200)
    ]


def test_the_api_writes_predictions_to_stdout_when_told(model_package, sample, spec, capfd):
    with TestClient(create_app(model_package, prediction_log="-")) as client:
        capfd.readouterr()
        answer = client.post("/predict", json=records(sample, spec, 2)).json()
    out = capfd.readouterr().out
    events = [json.loads(line) for line in out.splitlines() if '"prediction"' in line]
    assert [event["request_id"] for event in events] == [answer["request_id"]] * 2
    assert all(event["event"] == "prediction" for event in events)


def scrape(client) -> dict[tuple, float]:
    """GET /metrics, parsed by Prometheus' own text parser: {(sample, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_requests_predictions_and_the_model_version(client, sample, spec):
    version = client.get("/health").json()["model_version"]
    rows = records(sample, spec, 7)
    for row in rows[:5]:
        assert client.post("/predict", json=row).status_code == 200
    predicted = client.post("/predict", json=rows[5:]).json()["predictions"]
    column = checked_feature(spec)
    broken = client.post("/predict", json=rows[0] | {column.name: breaking_value(column)})
    assert broken.status_code == 422

    found = scrape(client)
    label = ("model_version", version)
    assert found[("predict_requests_total", (label, ("status", "200")))] == 6
    assert found[("predict_requests_total", (label, ("status", "422")))] == 1
    assert found[("predict_latency_seconds_count", (label,))] == 7
    assert found[("model_info", (label,))] == 1
    if spec.is_classification:
        by_class = {
            dict(labels)["label"]: value
            for (name, labels), value in found.items()
            if name == "predictions_total"
        }
        assert sum(by_class.values()) == 7
        assert set(by_class) <= {str(c) for c in spec.target.classes}
        for prediction in predicted:
            assert by_class[str(prediction["prediction"])] >= 1
    else:
        assert found[("predicted_value_count", (label,))] == 7
        total = found[("predicted_value_sum", (label,))]
        assert total > sum(p["prediction"] for p in predicted)  # 5 more were counted
        bounds = [dict(labels)["le"] for (name, labels), _ in found.items()
                  if name == "predicted_value_bucket"]  # fmt: skip
        assert len(bounds) > 2, "the buckets come from the package's target deciles"


def test_metrics_can_be_left_out(model_package, log_file):
    with TestClient(create_app(model_package, prediction_log=log_file, metrics=False)) as off:
        assert off.get("/metrics").status_code == 404


def test_metrics_count_the_answer_a_failed_log_write_gave(model_package, sample, spec, log_file):
    """The log cannot rotate (a folder stands where its first backup goes), so the second
    request fails writing its lines: it is answered 500, and counted as a 500."""
    (log_file.parent / f"{log_file.name}.1" / "kept").mkdir(parents=True)
    app = create_app(model_package, prediction_log=log_file, log_max_bytes=1, log_backups=1)
    rows = records(sample, spec, 3)
    with TestClient(app, raise_server_exceptions=False) as client:
        answered = client.post("/predict", json=rows[0])  # an empty log takes any line
        failed = client.post("/predict", json=rows[1:])
        found = scrape(client)
    assert (answered.status_code, failed.status_code) == (200, 500)
    label = ("model_version", answered.json()["model_version"])
    assert found[("predict_requests_total", (label, ("status", "200")))] == 1
    assert found[("predict_requests_total", (label, ("status", "500")))] == 1
    counted = sum(
        value
        for (name, _), value in found.items()
        if name in ("predictions_total", "predicted_value_count")
    )
    assert counted == 1, "only the answered request's prediction is counted"


def test_a_broken_value_is_a_422_naming_the_field(client, sample, spec):
    column = checked_feature(spec)
    record = records(sample, spec, 1)[0] | {column.name: breaking_value(column)}
    response = client.post("/predict", json=record)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == column.name
    if column.role == "categorical":
        assert error["type"] == "literal_error"
        # The allowed values, unless they are personal data (tests/test_pii.py).
        assert all((repr(value) in error["msg"]) != column.pii for value in column.values)
    many = client.post("/predict", json=[records(sample, spec, 1)[0], record])
    assert many.status_code == 422
    assert many.json()["detail"][0]["loc"][-2:] == [1, column.name]


def test_a_missing_value_is_accepted_where_the_config_allows_it(client, sample, spec):
    for column in spec.features:
        record = records(sample, spec, 1)[0] | {column.name: None}
        response = client.post("/predict", json=record)
        assert response.status_code == (200 if column.nullable else 422), column.name


def test_wrong_types_and_unknown_fields_are_422(client, sample, spec):
    record = records(sample, spec, 1)[0]
    changes = [{"colour": 1.0}]
    if spec.numeric:
        changes.append({spec.numeric[0]: "1.5"})
    for change in changes:
        response = client.post("/predict", json=record | change)
        assert response.status_code == 422, change


@pytest.fixture(scope="module")
def declared_package(fitted, spec, tmp_path_factory):
    """The project's model, packaged with a data config that also declares an identifier
    and an ignored column (free text): columns a client's row holds, the model does not use."""
    model, _, test = fitted
    extra = (Column("ticket_ref", "identifier"), Column("job_title", "ignored"))
    assert not {column.name for column in extra} & {column.name for column in spec.columns}
    declared = dataclasses.replace(spec, columns=(*spec.columns, *extra))
    return make_package(model, declared, test, tmp_path_factory.mktemp("declared"))


def test_every_declared_column_is_accepted_and_only_features_are_used(
    declared_package, sample, spec, tmp_path
):
    log = tmp_path / "predictions.jsonl"
    [row] = records(sample, spec, 1)
    extra = {"ticket_ref": "T-1", "job_title": "Senior data plumber"}
    with TestClient(create_app(declared_package, prediction_log=log)) as client:
        plain = client.post("/predict", json=row)
        declared = client.post("/predict", json=row | extra)
        undeclared = client.post("/predict", json=row | extra | {"colour": "red"})
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    assert plain.status_code == declared.status_code == 200, declared.text
    assert declared.json()["predictions"] == plain.json()["predictions"]
    assert [(e["loc"][-1], e["type"]) for e in undeclared.json()["detail"]] == [
        ("colour", "extra_forbidden")
    ]
    assert "not used by the model" in schema["properties"]["job_title"]["description"]
    # Batch scoring reads the same row, with the same columns, from a file: it agrees.
    frame = sample.head(1).assign(**extra)
    batch = Predictor(load_package(declared_package)).predict_frame(frame)
    assert batch["prediction"].tolist() == [p["prediction"] for p in plain.json()["predictions"]]
    # The identifier is logged to join on; the ignored column is not kept at all.
    event = json.loads(log.read_text().splitlines()[-1])
    assert event["ids"]["ticket_ref"] == "T-1" and "job_title" not in event["inputs"]
    assert extra["job_title"] not in log.read_text()


def test_a_left_out_field_is_422_unless_it_may_be_missing(client, sample, spec):
    for column in spec.features:
        record = records(sample, spec, 1)[0]
        del record[column.name]
        response = client.post("/predict", json=record)
        if column.nullable:  # left out means missing, as null does
            assert response.status_code == 200, column.name
        else:
            errors = [(e["loc"][-1], e["type"]) for e in response.json()["detail"]]
            assert errors == [(column.name, "missing")]
    assert client.post("/predict", json=[]).status_code == 422


def test_request_model_is_derived_from_the_data_config(client, spec):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    record = schemas["Record"]
    assert set(record.get("required", [])) == {c.name for c in spec.features if not c.nullable}
    for column in spec.features:
        field = record["properties"][column.name]
        choices = field.get("anyOf", [field])
        assert any(choice.get("type") == "null" for choice in choices) == column.nullable
        [rule] = [choice for choice in choices if choice.get("type") != "null"]
        if column.role == "numeric":
            assert rule.get("minimum") == column.min and rule.get("maximum") == column.max
        else:  # a personal-data feature's values are withheld (tests/test_pii.py)
            assert rule.get("enum") == (None if column.pii else list(column.values))


def test_app_refuses_to_start_with_an_altered_model(package_copy, log_file):
    (package_copy / MODEL_FILE).write_bytes(b"tampered")
    with pytest.raises(ModelPackageError, match="checksum"):
        create_app(package_copy, prediction_log=log_file)


def test_serve_command_refuses_a_missing_model_cleanly(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "nowhere not found" in err and "Traceback" not in err
