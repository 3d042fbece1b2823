"""Monitoring: reading the prediction log, judging drift, the `monitor` command."""

import datetime
import json

import pandas as pd
import pytest
from conftest import checked_feature

from {{ cookiecutter.module_name }}.cli import (
    DRIFT_EXIT,
    main,
)
from {{ cookiecutter.module_name }}.config import (
    compose_config,
    write_params,
)
from {{ cookiecutter.module_name }}.data.load import (
    read_table,
)
from {{ cookiecutter.module_name }}.errors import (
    UserFacingError,
)
from {{ cookiecutter.module_name }}.monitoring.drift import (
    drift_frames,
    measure_drift,
)
from {{ cookiecutter.module_name }}.monitoring.log_reader import (
    log_files,
    parse_since,
    read_prediction_log,
)
from {{ cookiecutter.module_name }}.monitoring.monitor import (
    training_reference,
)
from {{ cookiecutter.module_name }}.monitoring.performance import (
    join_labels,
    performance,
)
from {{ cookiecutter.module_name }}.release.package import (
    load_package,
)
from {{ cookiecutter.module_name }}.release.predictor import (
    Predictor,
)

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)


def event_line(n: int, version: str, inputs: dict, output: dict, start=NOW) -> str:
    """One prediction as the service logs it: request r<n>, one minute after the last."""
    moment = (start + datetime.timedelta(minutes=n)).isoformat()
    return json.dumps({"event": "prediction", "timestamp": moment, "request_id": f"r{n}",
                       "model_version": version, "latency_ms": 1.0, "record": 0,
                       "inputs": inputs, "outputs": output})  # fmt: skip


def log_lines(frame, spec, package) -> list[str]:
    """The lines the service writes for `frame`'s rows, a request each."""
    predictor = Predictor(load_package(package))
    records = frame[spec.feature_names].astype(object).where(frame.notna(), None)
    rows = records.to_dict("records")
    outputs = predictor.records(rows)
    return [
        event_line(n, predictor.version, record, output)
        for n, (record, output) in enumerate(zip(rows, outputs, strict=True))
    ]


def shifted(frame, spec):
    """`frame` with one feature moved far from where the training data has it."""
    column = checked_feature(spec)
    moved = frame.copy()
    if column.role == "numeric":  # every value at the top tenth: still valid input
        moved[column.name] = frame[column.name].clip(lower=frame[column.name].quantile(0.9))
    else:
        moved[column.name] = column.values[-1]
    return moved, column.name


def test_durations_and_timestamps_bound_the_window():
    assert parse_since("7d", NOW) == NOW - datetime.timedelta(days=7)
    assert parse_since("12h", NOW) == NOW - datetime.timedelta(hours=12)
    assert parse_since("2w", NOW) == NOW - datetime.timedelta(weeks=2)
    assert parse_since("2026-05-01T00:00:00", NOW).tzinfo == datetime.UTC
    assert parse_since(None, NOW) is None
    with pytest.raises(UserFacingError, match="7d, 12h"):
        parse_since("last week", NOW)


def test_rotated_files_are_read_oldest_first_and_bad_lines_counted(
    tmp_path, sample, spec, model_package
):
    lines = log_lines(sample.head(30), spec, model_package)
    log = tmp_path / "predictions.jsonl"
    (tmp_path / "predictions.jsonl.2").write_text("\n".join(lines[:10]) + "\n")
    (tmp_path / "predictions.jsonl.1").write_text("\n".join(lines[10:20]) + '\n{"cut off\n')
    log.write_text("\n".join(lines[20:]) + "\nnot json\n" + '{"event": "startup"}\n\n')
    assert [path.name for path in log_files(log)] == [
        "predictions.jsonl.2", "predictions.jsonl.1", "predictions.jsonl"
    ]  # fmt: skip
    logged = read_prediction_log(log)
    assert logged.malformed == 3  # cut off, not JSON, not a prediction; blank lines ignored
    assert logged.rows["request_id"].tolist() == [f"r{n}" for n in range(30)]
    assert set(spec.feature_names) <= set(logged.rows.columns)
    window = read_prediction_log(log, since=NOW + datetime.timedelta(minutes=25))
    assert window.rows["request_id"].tolist() == [f"r{n}" for n in range(25, 30)]


def test_a_missing_log_names_the_way_to_make_one(tmp_path):
    with pytest.raises(UserFacingError, match="make serve"):
        read_prediction_log(tmp_path / "predictions.jsonl")


def test_drift_is_found_in_the_moved_column_only(sample, spec, fitted, model_package):
    _, train, test = fitted
    predictor = Predictor(load_package(model_package))
    frames = {}
    moved, name = shifted(test, spec)
    for key, frame in {"train": train, "test": test, "moved": moved}.items():
        frame = frame.copy()
        frame["prediction"] = predictor.predict_frame(frame)["prediction"].to_numpy()
        frames[key] = drift_frames(frame, spec)
    settings = {"drift_share": 0.5, "columns": {}}
    calm, _ = measure_drift(frames["train"], frames["test"], spec, settings)
    assert calm["dataset_drift"] is False
    assert set(calm["columns"]) == set(spec.feature_names)
    moved_summary, _ = measure_drift(frames["train"], frames["moved"], spec, settings)
    assert moved_summary["columns"][name]["drifted"] is True
    # One column of several is not a data set drift at 0.5; at a lower share it is.
    share = 1 / len(spec.feature_names)
    low = {"drift_share": share, "columns": {}}
    assert measure_drift(frames["train"], frames["moved"], spec, low)[0]["dataset_drift"] is True
    # A per-column test and threshold from the config replace Evidently's default.
    own = {"drift_share": 0.5, "columns": {name: {"method": "psi", "threshold": 0.2}}}
    chosen = measure_drift(frames["train"], frames["moved"], spec, own)[0]["columns"][name]
    assert chosen["test"].lower().startswith("psi") and chosen["threshold"] == 0.2


def test_monitor_command_writes_the_reports_and_exits_as_told(
    workdir, sample, spec, fitted, model_package, capsys
):
    _, train, _ = fitted
    train.to_parquet(workdir / "train.parquet")
    moved, name = shifted(sample, spec)  # more rows than monitoring.min_rows
    log = workdir / "predictions.jsonl"
    log.write_text("\n".join(log_lines(moved, spec, model_package)) + "\n")
    share = 1 / len(spec.feature_names)  # one drifted column is a data set drift
    write_params(compose_config([f"monitoring.drift_share={share}"]), workdir / "params.yaml")
    args = ["monitor", "--log", str(log), "--reference", "train.parquet", "--out", "out",
            "--model", str(model_package)]  # fmt: skip
    assert main([*args, "--fail-on-drift"]) == DRIFT_EXIT
    summary = json.loads((workdir / "out/drift.json").read_text())
    assert summary["dataset_drift"] is True and summary["columns"][name]["drifted"] is True
    assert summary["rows"] == len(moved) and summary["malformed_lines"] == 0
    html = (workdir / "out/drift.html").read_text()
    assert "<html" in html.lower() and "<script src=" not in html
    assert main(args) == 0  # drift without --fail-on-drift is a finding, not a failure
    assert "data set drift: yes" in capsys.readouterr().out

    before = (workdir / "out/drift.html").read_bytes()
    log.write_text("\n".join(log_lines(moved.head(5), spec, model_package)) + "\n")
    assert main([*args, "--fail-on-drift"]) == 0
    assert "too few to judge drift" in capsys.readouterr().out
    assert json.loads((workdir / "out/drift.json").read_text())["status"] == "too_few_rows"
    assert (workdir / "out/drift.html").read_bytes() == before  # the last report stays


def hand_made_log(path, spec, package, predictions) -> None:
    """A log of requests r0, r1, ... of one record each, with the given predictions (for
    classification, the class at probability 0.9)."""
    outputs = [{"prediction": prediction} for prediction in predictions]
    if spec.is_classification:
        rest = 0.1 / (len(package.classes) - 1)
        for output in outputs:
            output["probabilities"] = {
                str(label): 0.9 if label == output["prediction"] else rest
                for label in package.classes
            }
    lines = [event_line(n, package.version, {}, output) for n, output in enumerate(outputs)]
    path.write_text("\n".join(lines) + "\n")


def test_labels_joined_by_request_give_the_hand_checked_metrics(
    workdir, spec, fitted, model_package, capsys
):
    package = load_package(model_package)
    log, labels = workdir / "predictions.jsonl", workdir / "labels.csv"
    target = spec.target.name
    if spec.is_classification:
        first, second = package.classes[:2]
        hand_made_log(log, spec, package, [first, second, first, second])
        # Three of four right: accuracy 0.75 (the third was `second`).
        truth, expected = [first, second, second, second], {"accuracy": 0.75}
    else:
        hand_made_log(log, spec, package, [1.0, 2.0, 3.0, 4.0])
        # Errors 0, 0, 0, 2: mae 0.5, rmse sqrt(4 / 4) = 1.
        truth, expected = [1.0, 2.0, 3.0, 6.0], {"mae": 0.5, "rmse": 1.0}
    rows = [{"request_id": f"r{n}", target: value} for n, value in enumerate(truth)]
    rows.append({"request_id": "never-logged", target: truth[0]})
    pd.DataFrame(rows).to_csv(labels, index=False)
    logged = read_prediction_log(log).rows
    packaged = package.lineage["metrics"]
    allowances = compose_config().promotion.allowance[spec.task]
    found = performance(
        logged, read_table(labels), spec, package.classes, package.threshold, packaged,
        dict(allowances),
    )  # fmt: skip
    assert found["labelled"] == 4 and found["unmatched_labels"] == 1
    for name, value in expected.items():
        assert found["metrics"][name] == pytest.approx(value)
    for check in found["checks"]:
        assert check["dropped"] is (check["worse_by"] > check["allowance"] + 1e-12)
    assert found["performance_drop"] is any(check["dropped"] for check in found["checks"])

    # Through the command: the summary carries it, and a drop fails a --fail-on-drift run.
    write_params(compose_config(), workdir / "params.yaml")
    args = ["monitor", "--log", str(log), "--labels", str(labels), "--out", "out",
            "--model", str(model_package), "--fail-on-drift"]  # fmt: skip
    code = main(args)
    summary = json.loads((workdir / "out/drift.json").read_text())
    assert summary["status"] == "too_few_rows"
    assert summary["performance"]["labelled"] == 4
    assert code == (DRIFT_EXIT if summary["performance"]["performance_drop"] else 0)
    assert "4 predictions labelled (1 labels matched no logged prediction)" in (
        capsys.readouterr().out
    )


def test_a_split_dvc_cannot_reach_falls_back_to_the_workspace_and_says_so(
    model_package, sample, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # not a git repository: no commit's split to read
    sample.to_parquet("train.parquet")
    registered = load_package(model_package)
    registered.lineage["source_commit"] = "0" * 40
    frame, source = training_reference("train.parquet", registered)
    assert source == {"path": "train.parquet", "commit": None} and len(frame) == len(sample)


def test_labels_without_the_target_column_are_a_clear_error(spec):
    with pytest.raises(UserFacingError, match=spec.target.name):
        join_labels(pd.DataFrame({"request_id": ["r0"], "record": [0]}),
                    pd.DataFrame({"request_id": ["r0"]}), spec)  # fmt: skip
