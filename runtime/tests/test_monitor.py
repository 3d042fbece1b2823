"""Monitoring: reading the prediction log, judging drift, the `monitor` command."""

import dataclasses
import datetime
import gzip
import json
import shutil

import pandas as pd
import pytest
from conftest import checked_feature, records
from fastapi.testclient import TestClient

from groundwork.cli import (
    DRIFT_EXIT,
    main,
)
from groundwork.config import (
    compose_config,
    write_params,
)
from groundwork.data.load import (
    read_table,
)
from groundwork.errors import (
    UserFacingError,
)
from groundwork.monitoring.drift import (
    drift_frames,
    drift_reasons,
    measure_drift,
    monitored,
)
from groundwork.monitoring.log_reader import (
    log_files,
    parse_since,
    read_prediction_log,
)
from groundwork.monitoring.monitor import (
    training_reference,
)
from groundwork.monitoring.performance import (
    join_labels,
    performance,
)
from groundwork.monitoring.report import (
    traffic,
)
from groundwork.release.package import (
    load_package,
)
from groundwork.release.predictor import (
    Predictor,
)
from groundwork.serving.api import (
    create_app,
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
    """`frame` with one feature moved far from where the data has it, whatever its values
    (still valid input): every value at the largest seen, or at the rarest category seen."""
    column = checked_feature(spec)
    moved = frame.copy()
    if column.role == "numeric":
        moved[column.name] = frame[column.name].max()
    else:
        moved[column.name] = frame[column.name].value_counts().idxmin()
    return moved, column.name


def few_features(spec, keep: str):
    """`spec` narrowed to `keep` and up to two other monitored features of each role:
    Evidently's report costs a fraction of a second per column, which a wide table's
    hundred columns would multiply for no further claim."""
    chosen = {keep}
    for role in ("numeric", "categorical"):
        chosen.update([c.name for c in monitored(spec) if c.role == role and c.name != keep][:2])
    return dataclasses.replace(spec, columns=tuple(c for c in spec.columns if c.name in chosen))


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
    """The training rows against themselves, then against themselves with one column
    moved: no verdict here rests on chance, however few the rows."""
    _, train, _ = fitted
    predictor = Predictor(load_package(model_package))
    moved, name = shifted(train, spec)
    spec = few_features(spec, name)
    frames = {}
    for key, frame in {"train": train, "moved": moved}.items():
        frame = frame.copy()
        frame["prediction"] = predictor.predict_frame(frame)["prediction"].to_numpy()
        frames[key] = drift_frames(frame, spec)
    settings = {"drift_share": 0.5, "columns": {}}
    calm, _ = measure_drift(frames["train"], frames["train"], spec, settings)
    assert calm["dataset_drift"] is False and not calm["prediction"]["drifted"]
    assert set(calm["columns"]) == {c.name for c in monitored(spec)}
    assert not [column for column, found in calm["columns"].items() if found["drifted"]]
    moved_summary, _ = measure_drift(frames["train"], frames["moved"], spec, settings)
    drifted = [column for column, found in moved_summary["columns"].items() if found["drifted"]]
    assert drifted == [name]
    # One column of several is not a data set drift at 0.5; at a share of one column it is.
    assert moved_summary["dataset_drift"] is (len(calm["columns"]) <= 2)
    share = 1 / len(calm["columns"])
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


def test_a_reused_client_request_id_is_two_requests_joined_by_the_server_s_id(
    workdir, sample, spec, model_package, capsys
):
    log, labels = workdir / "predictions.jsonl", workdir / "labels.csv"
    sent = records(sample, spec, 5)
    with TestClient(create_app(model_package, prediction_log=log)) as client:
        answers = [
            client.post("/predict", json=rows, headers={"X-Request-ID": client_id}).json()
            for rows, client_id in [(sent[:2], "order-7"), (sent[2:4], "order-7"),
                                    (sent[4:], "order-8")]
        ]  # fmt: skip
    ids = [answer["request_id"] for answer in answers]
    assert len(set(ids)) == 3 and not {"order-7", "order-8"} & set(ids)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [event["client_request_id"] for event in events] == ["order-7"] * 4 + ["order-8"]
    table, _ = traffic(read_prediction_log(log).rows)
    assert table["requests"].sum() == 3 and table["predictions"].sum() == 5

    # Labels by the server's ids, and by a client id used once, join to every record.
    target = spec.target.name
    keys = [(ids[0], 0), (ids[0], 1), (ids[1], 0), (ids[1], 1), ("order-8", 0)]
    truth = sample[target].head(5).tolist()
    pd.DataFrame({"request_id": [k for k, _ in keys], "record": [n for _, n in keys],
                  target: truth}).to_csv(labels, index=False)  # fmt: skip
    write_params(compose_config(), workdir / "params.yaml")
    args = ["monitor", "--log", str(log), "--labels", str(labels), "--out", "out",
            "--model", str(model_package)]  # fmt: skip
    assert main(args) == 0
    found = json.loads((workdir / "out/drift.json").read_text())["performance"]
    assert found["labelled"] == 5 and found["unmatched_labels"] == 0

    # By the reused client id, a label cannot tell which request it is for: refused.
    pd.DataFrame({"request_id": ["order-7"], "record": [0], target: truth[:1]}).to_csv(
        labels, index=False
    )
    capsys.readouterr()
    assert main(args) == 1
    said = capsys.readouterr().err
    assert "order-7" in said and ids[0] in said and ids[1] in said


def test_labels_that_match_a_logged_prediction_twice_are_refused_by_name(spec):
    target = spec.target.name
    # A log written before requests had their own ids: the client's id names two requests.
    logged = pd.DataFrame({"request_id": ["r1", "r1", "r2"], "record": [0, 0, 0]})
    labels = pd.DataFrame({"request_id": ["r1", "r2"], target: [1, 1]})
    with pytest.raises(UserFacingError, match="r1"):
        join_labels(logged, labels, spec)
    twice = pd.DataFrame({"request_id": ["r2", "r2"], target: [1, 1]})
    with pytest.raises(UserFacingError, match="twice.*r2|r2.*twice"):
        join_labels(logged, twice, spec)


def test_a_log_that_cannot_be_read_is_an_error_not_too_few_rows(
    workdir, sample, spec, model_package, capsys
):
    lines = log_lines(sample.head(3), spec, model_package)
    text = "".join(line + "\n" for line in lines)
    (workdir / "folder.jsonl").mkdir()
    with pytest.raises(UserFacingError, match="folder.jsonl.*directory"):
        read_prediction_log(workdir / "folder.jsonl")
    # A log shipped compressed is read as it is; a cut-off one is an error that names it.
    (workdir / "shipped.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    assert len(read_prediction_log(workdir / "shipped.jsonl.gz").rows) == 3
    (workdir / "cut.jsonl.gz").write_bytes(gzip.compress(text.encode())[:-12])
    with pytest.raises(UserFacingError, match="cut.jsonl.gz"):
        read_prediction_log(workdir / "cut.jsonl.gz")

    # A collector that prefixes every line: nothing readable is an error, not too few rows.
    wrapped = workdir / "wrapped.jsonl"
    wrapped.write_text("".join(f"2026-06-01T12:00:00Z stdout F {line}\n" for line in lines))
    write_params(compose_config(), workdir / "params.yaml")
    args = ["monitor", "--log", str(wrapped), "--out", "out", "--model", str(model_package)]
    assert main([*args, "--fail-on-drift"]) == 1
    said = capsys.readouterr().err
    assert "3 lines" in said and "stdout F {" in said
    assert not (workdir / "out/drift.json").exists()
    # One readable line among them: too few to judge, and the skipped lines are said.
    with wrapped.open("a") as log:
        log.write(lines[0] + "\n")
    assert main(args) == 0
    assert "3 malformed log lines skipped" in capsys.readouterr().out


def test_drifted_predictions_fail_the_check_when_no_input_drifted(
    workdir, spec, fitted, model_package, capsys
):
    _, train, _ = fitted
    train.to_parquet(workdir / "train.parquet")
    package = load_package(model_package)
    predicted = Predictor(package).predict_frame(train)["prediction"]
    # The inputs are the reference's own rows, so no input drifts; every prediction is the
    # reference's rarest one (classification) or its highest (regression).
    if spec.is_classification:
        counts = predicted.value_counts()
        one = min((label for label in package.classes if counts.get(label)), key=counts.get)
        rest = 0.1 / (len(package.classes) - 1)
        output = {"prediction": one, "probabilities": {
            str(label): 0.9 if label == one else rest for label in package.classes}}  # fmt: skip
    else:
        output = {"prediction": float(predicted.max())}
    inputs = train[spec.feature_names].astype(object).where(train.notna(), None)
    log = workdir / "predictions.jsonl"
    log.write_text("".join(event_line(n, package.version, row, output) + "\n"
                           for n, row in enumerate(inputs.to_dict("records"))))  # fmt: skip
    write_params(compose_config(), workdir / "params.yaml")
    args = ["monitor", "--log", str(log), "--reference", "train.parquet", "--out", "out",
            "--model", str(model_package), "--fail-on-drift"]  # fmt: skip
    assert main(args) == DRIFT_EXIT
    summary = json.loads((workdir / "out/drift.json").read_text())
    assert summary["dataset_drift"] is False and summary["prediction"]["drifted"] is True
    assert summary["status"] == "drift" and summary["drift_reasons"] == ["prediction"]
    assert "prediction drift: yes" in capsys.readouterr().out


def test_a_key_column_s_drift_alone_fails_the_check(workdir, spec, model_package, capsys):
    found = {"dataset_drift": False, "prediction": {"drifted": False},
             "columns": {"a": {"drifted": True}, "b": {"drifted": False}}}  # fmt: skip
    assert drift_reasons(found, []) == []
    assert drift_reasons(found, ["b"]) == []
    assert drift_reasons(found, ["a", "b"]) == ["key column a"]
    both = found | {"dataset_drift": True, "prediction": {"drifted": True}}
    assert drift_reasons(both, ["a"]) == ["data set", "prediction", "key column a"]
    # A key column that is no monitored feature is a mistake in the config: said before any work.
    write_params(compose_config(["monitoring.key_columns=[no_such_column]"]),
                 workdir / "params.yaml")  # fmt: skip
    (workdir / "predictions.jsonl").write_text("")
    args = ["monitor", "--log", "predictions.jsonl", "--out", "out", "--model", str(model_package)]
    assert main(args) == 1
    assert "no_such_column" in capsys.readouterr().err


def test_a_log_of_the_candidate_is_judged_against_the_candidate(
    workdir, sample, spec, model_package, capsys
):
    shutil.copytree(model_package, workdir / "models/candidate")
    log = workdir / "predictions.jsonl"
    log.write_text("\n".join(log_lines(sample.head(5), spec, model_package)) + "\n")
    write_params(compose_config(), workdir / "params.yaml")
    # No --model and nothing in production: the log names the version that served it.
    assert main(["monitor", "--log", str(log), "--out", "out"]) == 0
    summary = json.loads((workdir / "out/drift.json").read_text())
    assert summary["reference"]["model_version"] == load_package(model_package).version
    # A version whose package is not at hand: the message names it, and --model.
    log.write_text(log.read_text().replace(summary["reference"]["model_version"], "v9.9.9"))
    capsys.readouterr()
    assert main(["monitor", "--log", str(log), "--out", "out"]) == 1
    said = capsys.readouterr().err
    assert "v9.9.9" in said and "--model" in said
