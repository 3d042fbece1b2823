"""structlog, configured once: console output for a person, JSON lines for CI and production.

Every record, from structlog or from any stdlib logger (hydra, dvc, uvicorn, ...),
goes through the same renderer and carries the run context: run id, git sha,
data version and config hash.
"""

import hashlib
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import structlog
from structlog.typing import Processor

PARAMS_FILE = Path("params.yaml")
DATA_DIR = Path("data/raw")


def git_sha(root: Path = Path(".")) -> str:
    if os.environ.get("GIT_SHA"):
        return os.environ["GIT_SHA"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def data_version(root: Path = Path(".")) -> str:
    """Hash of the DVC pointers of the raw data: changes exactly when DVC records new data."""
    pointers = sorted((root / DATA_DIR).glob("*.dvc"))
    if not pointers:
        return "unknown"
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in pointers))
    return digest.hexdigest()[:12]


def config_hash(root: Path = Path(".")) -> str:
    params = root / PARAMS_FILE
    if not params.exists():
        return "unknown"
    return hashlib.sha256(params.read_bytes()).hexdigest()[:12]


def run_context(root: Path = Path(".")) -> dict[str, str]:
    return {
        "run_id": os.environ.get("RUN_ID") or uuid.uuid4().hex[:12],
        "git_sha": git_sha(root),
        "data_version": data_version(root),
        "config_hash": config_hash(root),
    }


def wants_json(environ: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """JSON when asked (LOG_FORMAT=json), in CI, or when nobody watches a terminal."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("LOG_FORMAT", "").lower()
    if chosen in ("json", "console"):
        return chosen == "json"
    if environ.get("CI"):
        return True
    stream = sys.stderr if stream is None else stream
    return not (hasattr(stream, "isatty") and stream.isatty())


def configure_logging(
    level: str | int = "INFO",
    json_output: bool | None = None,
    context: dict[str, str] | None = None,
    stream: TextIO | None = None,
) -> dict[str, str]:
    """Route structlog and stdlib logging through one renderer; return the run context."""
    stream = sys.stderr if stream is None else stream
    json_output = wants_json(stream=stream) if json_output is None else json_output
    context = run_context() if context is None else context

    def add_run_context(_logger, _name, event_dict):
        for key, value in context.items():
            event_dict.setdefault(key, value)
        return event_dict

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_run_context,
    ]
    renderer: Processor
    if json_output:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())

    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return context
