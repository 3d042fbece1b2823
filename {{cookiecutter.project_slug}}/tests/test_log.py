import io
import json
import logging

import structlog

from {{ cookiecutter.module_name }}.log import (
    configure_logging,
    run_context,
    wants_json,
)

CONTEXT = {"run_id": "r1", "git_sha": "abc", "data_version": "d1", "config_hash": "c1"}


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_records_carry_the_run_context():
    stream = io.StringIO()
    configure_logging(json_output=True, context=CONTEXT, stream=stream)
    structlog.get_logger("test").info("trained", rows=3)
    (record,) = lines(stream)
    assert record["event"] == "trained" and record["rows"] == 3
    assert {k: record[k] for k in CONTEXT} == CONTEXT
    assert record["level"] == "info" and "timestamp" in record


def test_stdlib_loggers_use_the_same_renderer():
    stream = io.StringIO()
    configure_logging(json_output=True, context=CONTEXT, stream=stream)
    logging.getLogger("hydra").warning("composed %s", "config")
    (record,) = lines(stream)
    assert record["event"] == "composed config"
    assert record["logger"] == "hydra" and record["run_id"] == "r1"


def test_console_output_for_a_person():
    stream = io.StringIO()
    configure_logging(json_output=False, context=CONTEXT, stream=stream)
    structlog.get_logger("test").info("hello")
    text = stream.getvalue()
    assert "hello" in text and "run_id" in text
    assert not text.lstrip().startswith("{")


def test_format_choice():
    assert wants_json({"LOG_FORMAT": "json"}) is True
    assert wants_json({"LOG_FORMAT": "console", "CI": "true"}) is False
    assert wants_json({"CI": "true"}) is True
    assert wants_json({}, stream=io.StringIO()) is True  # not a terminal


def test_run_context_reads_the_project(tmp_path, monkeypatch):
    monkeypatch.delenv("RUN_ID", raising=False)
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/a.csv.dvc").write_text("outs:\n- md5: 1234\n")
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    context = run_context(tmp_path)
    assert len(context["run_id"]) == 12
    assert context["data_version"] != "unknown" and context["config_hash"] != "unknown"
    (tmp_path / "params.yaml").write_text("seed: 2\n")
    assert run_context(tmp_path)["config_hash"] != context["config_hash"]
