"""The model as a web service: GET /health, GET /metadata, POST /predict.

The request model is derived from schema.FEATURE_SCHEMA (types, ranges,
descriptions, examples), so the API, the pipeline and batch scoring share one
definition of valid input. Every prediction is written as one JSON line to the
prediction log, which the monitoring job reads.
"""

import datetime
import fcntl
import json
import os
import time
import uuid
from contextlib import asynccontextmanager
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from .errors import DataValidationError
from .package import load_package, resolve_package_path
from .predict import PREDICTION, PROBABILITY, Predictor
from .schema import FEATURE_SCHEMA, FEATURES

PREDICTION_LOG = Path("logs/predictions.jsonl")
LOG_MAX_BYTES = 50 * 1024 * 1024
LOG_BACKUPS = 10
MAX_RECORDS = 10_000
# Bigger requests are scored in the thread pool, so they do not hold up small ones.
THREAD_POOL_ROWS = 512

# pandera checks -> pydantic constraints: (statistic, constraint when inclusive, when exclusive).
BOUNDS = {
    "in_range": [
        ("min_value", "include_min", "ge", "gt"),
        ("max_value", "include_max", "le", "lt"),
    ],
    "greater_than_or_equal_to": [("min_value", None, "ge", "ge")],
    "greater_than": [("min_value", None, "gt", "gt")],
    "less_than_or_equal_to": [("max_value", None, "le", "le")],
    "less_than": [("max_value", None, "lt", "lt")],
}
PYTHON_TYPES = {"f": float, "i": int, "u": int, "b": bool}


def _field(column) -> tuple[Any, Any]:
    """The pydantic field for one schema column: type, bounds, description, example."""
    constraints: dict[str, Any] = {}
    for check in column.checks:
        for statistic, inclusive, when_inclusive, when_exclusive in BOUNDS[check.name]:
            included = check.statistics.get(inclusive, True) if inclusive else True
            key = when_inclusive if included else when_exclusive
            constraints[key] = check.statistics[statistic]
    kind = PYTHON_TYPES.get(np.dtype(str(column.dtype)).kind, str)
    annotation = kind | None if column.nullable else kind
    example = (column.metadata or {}).get("example")
    if kind is float:
        constraints["allow_inf_nan"] = False
    field = Field(
        strict=True,  # as in the OpenAPI schema: no "1.5" strings or booleans for numbers
        description=column.description,
        examples=None if example is None else [example],
        **constraints,
    )
    return annotation, field


def _translatable(column) -> bool:
    return all(check.name in BOUNDS for check in column.checks)


# Checks the request model cannot express make the API validate with pandera as well.
REQUEST_MODEL_IS_COMPLETE = all(_translatable(c) for c in FEATURE_SCHEMA.columns.values())
EXAMPLE = {
    name: (column.metadata or {}).get("example") for name, column in FEATURE_SCHEMA.columns.items()
}
Record = create_model(
    "Record",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]}),
    __doc__="One row of features, as described in schema.py.",
    **{name: _field(column) for name, column in FEATURE_SCHEMA.columns.items()},
)
Records = Annotated[list[Record], Field(min_length=1, max_length=MAX_RECORDS)]  # type: ignore[valid-type]
# One record or a list of them; the JSON type picks which, so errors speak of that one only.
Payload = Annotated[
    Annotated[Record, Tag("record")] | Annotated[Records, Tag("records")],
    Discriminator(lambda value: "records" if isinstance(value, list) else "record"),
]


class Prediction(BaseModel):
    probability: float = Field(description="Probability of the positive class")
    prediction: int = Field(description="1 when probability >= the model's threshold")


class PredictResponse(BaseModel):
    request_id: str
    model_version: str
    predictions: list[Prediction]


class PredictionLog:
    """A JSON-lines file bounded by rotation (path, path.1, ... path.N), as the monitor reads it.

    Rotation is the stdlib's RotatingFileHandler; lines are written to its stream
    directly, because building a LogRecord per prediction costs more than the
    prediction. Several uvicorn workers append to one file, so each write and each
    rotation holds an exclusive flock: lines stay whole and only one worker rotates.
    (concurrent-log-handler does this per LogRecord, at several times the cost.)
    """

    def __init__(self, path: Path | str, max_bytes: int, backups: int):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups)
        self.max_bytes = max_bytes
        self.lock = self.path.with_name(f".{self.path.name}.lock").open("a")

    def write(self, lines: list[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            stream = self.handler.stream
            ours = os.fstat(stream.fileno())
            if not self._is_current(ours):  # another worker rotated the file: follow the name
                stream.close()
                stream = self.handler.stream = self.handler._open()
                ours = os.fstat(stream.fileno())
            if ours.st_size and ours.st_size + len(text) > self.max_bytes:
                self.handler.doRollover()
                stream = self.handler.stream
            stream.write(text)
            stream.flush()
        finally:
            fcntl.flock(self.lock, fcntl.LOCK_UN)

    def _is_current(self, ours: os.stat_result) -> bool:
        try:
            return os.path.samestat(os.stat(self.path), ours)
        except FileNotFoundError:
            return False

    def close(self) -> None:
        self.handler.close()
        self.lock.close()


def create_app(
    package_path: Path | str,
    prediction_log: Path | str = PREDICTION_LOG,
    log_max_bytes: int = LOG_MAX_BYTES,
    log_backups: int = LOG_BACKUPS,
) -> FastAPI:
    """The service for the package at `package_path`, loaded once at start-up."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # One thread per worker process: uvicorn's workers already use every core.
        state["predictor"] = Predictor(load_package(package_path), threads=1)
        state["log"] = PredictionLog(prediction_log, log_max_bytes, log_backups)
        yield
        state["log"].close()
        state.clear()

    app = FastAPI(
        title={{ cookiecutter.project_name | tojson }},
        description="Predictions from the packaged model; inputs follow schema.py.",
        lifespan=lifespan,
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model_version": state["predictor"].version}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        predictor = state["predictor"]
        package = predictor.package
        return {"model_version": predictor.version, "path": str(package.path), **package.lineage}

    # async: one row takes tens of microseconds, less than a hop to the thread pool.
    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={400: {"description": "The body cannot be decoded"}},
    )
    async def predict(
        payload: Payload,
        request: Request,
    ) -> Response:
        started = time.perf_counter()
        predictor: Predictor = state["predictor"]
        records = [r.model_dump() for r in (payload if isinstance(payload, list) else [payload])]
        if not REQUEST_MODEL_IS_COMPLETE:
            frame = pd.DataFrame.from_records(records)
            try:
                await run_in_threadpool(predictor.predict_frame, frame)
            except DataValidationError as exc:
                return JSONResponse({"detail": str(exc)}, status_code=422)
        # Already validated by the request model: build the matrix straight from the fields.
        x = np.array([[r[name] for name in FEATURES] for r in records], dtype=np.float64)
        if len(x) > THREAD_POOL_ROWS:
            proba, labels = await run_in_threadpool(predictor.predict_matrix, x)
        else:
            proba, labels = predictor.predict_matrix(x)
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        headers = {"x-request-id": request_id}
        outputs = [
            {PROBABILITY: p, PREDICTION: label}
            for p, label in zip(proba.tolist(), labels.tolist(), strict=True)
        ]
        event = {
            "event": "prediction",
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
            "request_id": request_id,
            "model_version": predictor.version,
            "latency_ms": latency_ms,
        }
        state["log"].write(
            [
                json.dumps(event | {"inputs": record, "outputs": output})
                for record, output in zip(records, outputs, strict=True)
            ]
        )
        body = {
            "request_id": request_id,
            "model_version": predictor.version,
            "predictions": outputs,
        }
        # Serialised here: FastAPI need not re-validate what it documents as PredictResponse.
        return Response(json.dumps(body), media_type="application/json", headers=headers)

    return app


def app_from_environment() -> FastAPI:
    """The app as `{{ cookiecutter.project_slug }} serve` starts it in each worker process."""
    from .log import configure_logging

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    return create_app(
        resolve_package_path(),
        prediction_log=os.environ.get("PREDICTION_LOG", str(PREDICTION_LOG)),
    )
