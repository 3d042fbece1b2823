import io
import json
import logging

import structlog
from conftest import dvc_add

from groundwork.log import (
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


def test_run_context_names_the_commit_the_data_and_the_config(tmp_path, monkeypatch, commit):
    """In a real repository with a real DVC pointer: the sha is the commit's, the data
    version changes exactly when DVC records other data, the config hash exactly when
    params.yaml changes."""
    monkeypatch.delenv("RUN_ID", raising=False)
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    (tmp_path / "notes.md").write_text("notes\n")
    commit(tmp_path)
    raw = tmp_path / "data/raw/a.csv"
    raw.parent.mkdir(parents=True)
    raw.write_text("x,y\n1,2\n3,4\n")

    def add_and_commit() -> str:
        dvc_add(tmp_path, "data/raw/a.csv")
        return commit(tmp_path)

    sha = add_and_commit()
    context = run_context(tmp_path)
    assert len(context["run_id"]) == 12
    assert context["git_sha"] == sha[:12]
    data, config = context["data_version"], context["config_hash"]
    assert "unknown" not in (data, config)

    (tmp_path / "notes.md").write_text("other notes\n")  # neither data nor config
    sha = add_and_commit()  # the data added again, unchanged
    assert run_context(tmp_path) | {"run_id": None} == {
        "run_id": None, "git_sha": sha[:12], "data_version": data, "config_hash": config
    }  # fmt: skip

    raw.write_text("x,y\n1,2\n3,5\n")  # one byte of data
    add_and_commit()
    changed = run_context(tmp_path)
    assert changed["data_version"] != data and changed["config_hash"] == config
    raw.write_text("x,y\n1,2\n3,4\n")  # and back
    add_and_commit()
    assert run_context(tmp_path)["data_version"] == data

    (tmp_path / "params.yaml").write_text("seed: 2\n")
    again = run_context(tmp_path)
    assert again["config_hash"] != config and again["data_version"] == data


def test_run_context_outside_a_repository_says_unknown(tmp_path, monkeypatch):
    monkeypatch.delenv("GIT_SHA", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above it
    (tmp_path / "project").mkdir()
    context = run_context(tmp_path / "project")
    assert context["git_sha"] == context["data_version"] == context["config_hash"] == "unknown"
