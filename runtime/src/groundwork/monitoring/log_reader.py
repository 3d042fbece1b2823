"""The prediction log as a table: every rotated file, oldest first; bad lines counted.

A line that is not a whole prediction event (cut off by a crash, hand-edited, another
program's output on a shared stdout) is skipped and counted, never fatal: one bad line
must not hide a week of predictions. A log with no readable line at all, or a file that
cannot be read, is an error: it is not a quiet week.
"""

from __future__ import annotations

import datetime
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from ..errors import UserFacingError

DURATION = re.compile(r"^(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
CHUNK_ROWS = 50_000
PROBABILITY = "probability_"  # the column prefix of each class's logged probability
GZIP_MAGIC = b"\x1f\x8b"
SHOWN_CHARS = 200  # of a malformed line, in the error that shows one


@dataclass(frozen=True)
class LoggedPredictions:
    rows: pd.DataFrame  # one row per prediction: the inputs, `prediction`, and the event's fields
    files: list[Path]
    malformed: int


def parse_since(since: str | None, now: datetime.datetime) -> datetime.datetime | None:
    """`7d`, `12h`, `30m`, `2w` before `now`, or an ISO 8601 timestamp (UTC if no zone)."""
    if not since:
        return None
    if found := DURATION.match(since.strip()):
        return now - datetime.timedelta(**{UNITS[found.group(2)]: int(found.group(1))})
    try:
        moment = datetime.datetime.fromisoformat(since.strip())
    except ValueError:
        raise UserFacingError(
            f"--since {since!r} is neither a duration nor a timestamp: give one like 7d, 12h, "
            "30m, 2w, or 2026-01-31T00:00:00+00:00."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def log_files(path: Path) -> list[Path]:
    """`path` and its rotated files (path.1 is newer than path.2), oldest first."""
    rotated = sorted(
        (p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
        reverse=True,
    )
    return [*rotated, *([path] if path.exists() else [])]


def event_row(line: str) -> dict | None:
    """The row of one log line, or None when it is not a whole prediction event."""
    try:
        event = json.loads(line)
        inputs, outputs = event["inputs"], event["outputs"]
        if event.get("event") != "prediction" or not isinstance(inputs, dict):
            return None
        row = {
            **inputs,
            "prediction": outputs["prediction"],
            "timestamp": event["timestamp"],
            "request_id": event["request_id"],
            "client_request_id": event.get("client_request_id"),
            "record": event.get("record", 0),
            "model_version": event["model_version"],
            "latency_ms": event.get("latency_ms"),
        }
        # Flat columns, not a dict per row: a frame keeps floats in a fraction of the memory.
        for label, probability in (outputs.get("probabilities") or {}).items():
            row[f"{PROBABILITY}{label}"] = probability
        return row
    except (ValueError, KeyError, TypeError):
        return None


def open_log(file: Path) -> TextIO:
    """A log file's text; a file shipped gzip-compressed is read as it is."""
    with file.open("rb") as head:
        compressed = head.read(2) == GZIP_MAGIC
    if compressed:
        return gzip.open(file, "rt", encoding="utf-8", errors="replace")
    return file.open(encoding="utf-8", errors="replace")


def unreadable(file: Path, error: Exception) -> UserFacingError:
    """The error of a log file that cannot be opened or decompressed, and what to give."""
    if isinstance(error, IsADirectoryError):
        why = "it is a directory; pass the log file with --log PATH"
    else:
        why = (
            f"{getattr(error, 'strerror', None) or error}; give the JSON-lines log the service "
            "writes (or a gzip of it), readable by this user"
        )
    return UserFacingError(f"cannot read the prediction log {file}: {why}.")


def nonblank_lines(files: list[Path]) -> Iterator[tuple[Path, int, str]]:
    """(file, line number, line) of every line with text, file after file."""
    for file in files:
        try:
            with open_log(file) as lines:
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        yield file, number, line
        except (OSError, EOFError) as exc:  # EOFError: a gzip file cut off
            raise unreadable(file, exc) from None


def read_prediction_log(
    path: Path | str, since: datetime.datetime | None = None
) -> LoggedPredictions:
    """Every prediction in the log at `path` (and its rotated files), from `since` on."""
    path = Path(path)
    files = log_files(path)
    if not files:
        raise UserFacingError(
            f"no prediction log at {path}: serve the model (`make serve`) and send requests, "
            "or pass the log's path with --log PATH."
        )
    chunks, rows, malformed, example = [], [], 0, ""
    for file, number, line in nonblank_lines(files):
        row = event_row(line)
        if row is None:
            malformed += 1
            example = example or f"line {number} of {file}: {line.strip()[:SHOWN_CHARS]}"
            continue
        rows.append(row)
        if len(rows) == CHUNK_ROWS:  # a frame holds them in a fraction of the memory
            chunks.append(pd.DataFrame(rows))
            rows = []
    chunks.append(pd.DataFrame(rows))
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    if frame.empty and malformed:
        raise UserFacingError(
            f"none of the {malformed} lines in {path} is a prediction event, e.g. {example}\n"
            "Give the log as the service writes it, one JSON event a line (a log collector "
            "may have prefixed or wrapped each line)."
        )
    if not frame.empty:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
        if since is not None:
            frame = frame[frame["timestamp"] >= since].reset_index(drop=True)
    return LoggedPredictions(rows=frame, files=files, malformed=malformed)
