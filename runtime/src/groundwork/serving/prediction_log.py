"""The prediction log: one JSON line per prediction, bounded by rotation, shared by workers.

`-` as the path sends the lines to standard output instead, for a cluster's log collector.
A personal-data (pii) value is never written raw: `logged_fields` replaces it by its keyed
hash (HMAC-SHA256 with the key in PII_HASH_KEY), or leaves it out when no key is set.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from collections.abc import Collection, Mapping, Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

from ..data.pii import keyed_hash

PREDICTION_LOG = Path("logs/predictions.jsonl")
LOG_MAX_BYTES = 50 * 1024 * 1024
LOG_BACKUPS = 10
STDOUT = "-"
PII_KEY_VARIABLE = "PII_HASH_KEY"


def logged_fields(
    record: Mapping[str, Any], names: Sequence[str], pii: Collection[str], key: bytes | None
) -> dict[str, Any]:
    """The fields `names` of `record` as the log keeps them: a pii value as its keyed hash,
    or left out when there is no key; a missing value (None) stays null."""
    fields = {}
    for name in names:
        value = record.get(name)
        if name in pii and value is not None:
            if key is None:
                continue
            value = keyed_hash(value, key)
        fields[name] = value
    return fields


class PredictionLog:
    """A JSON-lines file bounded by rotation (path, path.1, ... path.N), as the monitor reads it.

    Rotation is the stdlib's RotatingFileHandler; lines are written to its stream
    directly, because building a LogRecord per prediction costs more than the
    prediction. Several uvicorn workers append to one file, so each write and each
    rotation holds an exclusive flock: lines stay whole and only one worker rotates.
    (concurrent-log-handler does this per LogRecord, at several times the cost.)
    """

    def __init__(
        self, path: Path | str, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS
    ):
        self.max_bytes = max_bytes
        self.path: Path | None
        self.handler: RotatingFileHandler | None
        if str(path) == STDOUT:
            # The workers share the container's stdout: the lock keeps their lines whole
            # (a pipe keeps only writes under 4 KiB whole by itself).
            self.path, self.handler = None, None
            self.lock = (Path(tempfile.gettempdir()) / ".prediction-log-stdout.lock").open("a")
            return
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
        self.lock = self.path.with_name(f".{self.path.name}.lock").open("a")

    def write(self, lines: list[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            if self.handler is None:
                sys.stdout.flush()  # whatever the process printed before comes first
                data = text.encode()
                while data:  # a pipe may take a long write in parts
                    data = data[os.write(sys.stdout.fileno(), data) :]
                return
            stream = self._stream()
            ours = os.fstat(stream.fileno())
            if not self._is_current(ours):  # another worker rotated the file: follow the name
                stream.close()
                stream = self.handler.stream = self.handler._open()
                ours = os.fstat(stream.fileno())
            if ours.st_size and ours.st_size + len(text) > self.max_bytes:
                self.handler.doRollover()
                stream = self._stream()
            stream.write(text)
            stream.flush()
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)

    def _stream(self) -> TextIO:
        """The open file: the handler opens it at once and again on each rollover (it would
        wait for the first record only with delay=True, which this log does not pass)."""
        assert self.handler is not None and self.handler.stream is not None
        return self.handler.stream

    def _is_current(self, ours: os.stat_result) -> bool:
        if self.path is None:  # standard output does not rotate
            return True
        try:
            return os.path.samestat(os.stat(self.path), ours)
        except FileNotFoundError:
            return False

    def close(self) -> None:
        if self.handler is not None:
            self.handler.close()
        self.lock.close()
