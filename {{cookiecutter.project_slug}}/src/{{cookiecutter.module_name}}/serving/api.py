"""The model as a web service: GET /health, GET /metadata, POST /predict, GET /metrics.

The request and response models are derived from the served package's data spec
(types, ranges, allowed categories, nullability, descriptions, examples), the same
spec the pipeline's schema comes from, so the API, the pipeline and batch scoring
share one definition of valid input. A category outside the allowed values is a 422
naming the field and the values. Every prediction is written as one JSON line to the
prediction log, and counted in the Prometheus metrics (`metrics.py`).
"""

import datetime
import json
import os
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    create_model,
)

from ..data.spec import Column, DataSpec
from ..release.package import load_package
from ..release.predictor import Predictor
from .metrics import ServiceMetrics
from .prediction_log import LOG_BACKUPS, LOG_MAX_BYTES, PREDICTION_LOG, PredictionLog

MAX_RECORDS = 10_000
# Bigger requests are scored in the thread pool, so they do not hold up small ones.
THREAD_POOL_ROWS = 512


def request_field(column: Column) -> tuple[Any, Any]:
    """The pydantic field for one feature: type, bounds or allowed values, description, example."""
    if column.role == "numeric":
        annotation: Any = float
        constraints: dict[str, Any] = {"allow_inf_nan": False}
        if column.min is not None:
            constraints["ge"] = column.min
        if column.max is not None:
            constraints["le"] = column.max
        # As in the OpenAPI schema: no "1.5" strings or booleans for numbers.
        constraints["strict"] = True
    else:
        annotation, constraints = Literal[tuple(column.values)], {}
    if column.nullable:  # may be null or left out: both mean missing
        annotation = annotation | None
        constraints["default"] = None
    field = Field(
        description=column.description or None, examples=[column.example_value], **constraints
    )
    return annotation, field


def request_body(spec: DataSpec) -> Any:
    """The request body's type: one Record (a row of features) or a list of them."""
    example = {column.name: column.example_value for column in spec.features}
    record = create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}),
        __doc__="One row of features, as described in the data config.",
        **{column.name: request_field(column) for column in spec.features},
    )
    records = Annotated[list[record], Field(min_length=1, max_length=MAX_RECORDS)]
    # One record or a list of them; the JSON type picks which, so errors speak of that one only.
    payload = Annotated[
        Annotated[record, Tag("record")] | Annotated[records, Tag("records")],
        Discriminator(lambda value: "records" if isinstance(value, list) else "record"),
    ]
    return payload


def response_model(spec: DataSpec, classes: list) -> type[BaseModel]:
    if spec.is_classification:
        prediction = create_model(
            "Prediction",
            prediction=(
                Literal[tuple(classes)],
                Field(description=f"The predicted {spec.target.name}"),
            ),
            probabilities=(
                dict[str, float],
                Field(description="The probability of each class, keyed by class"),
            ),
        )
    else:
        prediction = create_model(
            "Prediction",
            prediction=(float, Field(description=f"The predicted {spec.target.name}")),
        )
    return create_model(
        "PredictResponse",
        request_id=(str, ...),
        model_version=(str, ...),
        predictions=(list[prediction], ...),
    )


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where: "body", then the record and the field')
    msg: str
    type: str


class ValidationErrors(BaseModel):
    """A 422: every field that broke its rule, as FastAPI reports request errors."""

    detail: list[FieldError]


def create_app(
    package_path: Path | str,
    prediction_log: Path | str = PREDICTION_LOG,
    log_max_bytes: int = LOG_MAX_BYTES,
    log_backups: int = LOG_BACKUPS,
    metrics: bool = True,
) -> FastAPI:
    """The service for the package at `package_path`, loaded and checked once, here.

    `metrics=False` leaves out GET /metrics and the counting behind it.
    """
    # One thread per worker process: uvicorn's workers already use every core.
    predictor = Predictor(load_package(package_path), threads=1)
    service_metrics = (
        ServiceMetrics(
            predictor.version,
            predictor.classes if predictor.spec.is_classification else None,
            predictor.package.signature.get("value_buckets"),
        )
        if metrics
        else None
    )
    payload_type = request_body(predictor.spec)
    # The body is parsed and validated by pydantic-core straight from its bytes: FastAPI's
    # own body handling (json.loads, then validation through its dependency machinery)
    # costs more than the prediction itself.
    payload_adapter = TypeAdapter(payload_type)
    payload_schema = payload_adapter.json_schema(ref_template="#/components/schemas/{model}")
    payload_models = payload_schema.pop("$defs", {})
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state["log"] = PredictionLog(prediction_log, log_max_bytes, log_backups)
        yield
        state["log"].close()

    app = FastAPI(
        title={{cookiecutter.project_name | tojson}},
        description="Predictions from the packaged model; inputs follow the data config.",
        lifespan=lifespan,
    )

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, with the request body's models that it does not see."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(payload_models)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model_version": predictor.version}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        package = predictor.package
        return {
            "model_version": predictor.version,
            "path": str(package.path),
            "engine": predictor.engine,
            **package.lineage,
        }

    # async: one row takes tens of microseconds, less than a hop to the thread pool.
    @app.post(
        "/predict",
        response_model=response_model(predictor.spec, predictor.classes),
        responses={422: {"model": ValidationErrors, "description": "A field breaks its rule"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": payload_schema}},
            }
        },
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        try:
            payload = payload_adapter.validate_json(await request.body())
        except ValidationError as exc:
            errors = [
                error | {"loc": ["body", *error["loc"]]} for error in exc.errors(include_url=False)
            ]
            # A body that is not even UTF-8 is echoed back with its bad bytes replaced.
            text = {bytes: lambda value: value.decode("utf-8", "replace")}
            detail = jsonable_encoder(errors, custom_encoder=text)
            if service_metrics:
                service_metrics.observe(422, time.perf_counter() - started)
            return JSONResponse({"detail": detail}, status_code=422)
        records = [r.model_dump() for r in (payload if isinstance(payload, list) else [payload])]
        try:
            if len(records) > THREAD_POOL_ROWS:
                outputs = await run_in_threadpool(predictor.records, records)
            else:
                outputs = predictor.records(records)
        except Exception:
            if service_metrics:
                service_metrics.observe(500, time.perf_counter() - started)
            raise
        seconds = time.perf_counter() - started
        if service_metrics:
            service_metrics.observe(200, seconds, outputs)
        latency_ms = round(seconds * 1000, 3)
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        event = {
            "event": "prediction",
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
            "request_id": request_id,
            "model_version": predictor.version,
            "latency_ms": latency_ms,
        }
        state["log"].write(
            [
                # `record`: the position in the request, so labels can be joined to each.
                json.dumps(event | {"record": n, "inputs": record, "outputs": output})
                for n, (record, output) in enumerate(zip(records, outputs, strict=True))
            ]
        )
        body = {
            "request_id": request_id,
            "model_version": predictor.version,
            "predictions": outputs,
        }
        # Serialised here: FastAPI need not re-validate what it documents as PredictResponse.
        return Response(
            json.dumps(body), media_type="application/json", headers={"x-request-id": request_id}
        )

    if service_metrics:

        @app.get("/metrics", response_class=Response)
        async def prometheus_metrics() -> Response:
            """Requests, latency, predictions and the model version, in Prometheus' format."""
            return Response(service_metrics.exposition(), media_type=service_metrics.content_type)

    return app


def app_from_environment() -> FastAPI:
    """The app as the `serve` command starts it in each worker process."""
    from ..log import configure_logging
    from ..release.registry import resolve_package_path

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    return create_app(
        resolve_package_path(),
        prediction_log=os.environ.get("PREDICTION_LOG", str(PREDICTION_LOG)),
        metrics=os.environ.get("SERVE_METRICS", "1") != "0",
    )
