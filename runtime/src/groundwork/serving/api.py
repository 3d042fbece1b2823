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
from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
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
    WithJsonSchema,
    create_model,
)

from .. import COMMAND, TITLE
from ..data.pii import mask, masked
from ..data.spec import Column, DataSpec
from ..errors import DataValidationError
from ..release.package import load_package
from ..release.predictor import Predictor
from .access import MAX_REQUEST_RECORDS, Access, access_from_environment
from .metrics import ServiceMetrics
from .prediction_log import (
    LOG_BACKUPS,
    LOG_MAX_BYTES,
    PII_KEY_VARIABLE,
    PREDICTION_LOG,
    PredictionLog,
    logged_fields,
)

log = structlog.get_logger(__name__)

THREAD_POOL_ROWS = 512
NEEDS_KEY = "An API key is needed: send `Authorization: Bearer <key>` or `X-API-Key: <key>`."
TOO_BIG = "The body is over {} bytes: send fewer records a request, or score a file in batch."
TOO_MANY = "More than {} records: send fewer a request, or score a file in batch."
KEYED_PATHS = ("/predict", "/metadata")
WITHHELD = "personal data: its values are withheld"
CHALLENGE = f'Bearer realm="{COMMAND}"'
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def request_field(column: Column) -> tuple[Any, Any]:
    """The pydantic field for one feature: type, bounds or allowed values, description, example.

    The OpenAPI document is open to anyone: a personal-data (pii) feature's allowed values
    and example are left out of it (they are still checked), and its description says so.
    """
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
        if column.pii:  # documented as a string, without its enum
            annotation = Annotated[annotation, WithJsonSchema({"type": "string"})]
    if column.nullable:  # may be null or left out: both mean missing
        annotation = annotation | None
        constraints["default"] = None
    if column.pii:
        description = f"{column.description or column.name}; {WITHHELD}"
        return annotation, Field(description=description, **constraints)
    field = Field(
        description=column.description or None, examples=[column.example_value], **constraints
    )
    return annotation, field


def passthrough_field(column: Column) -> tuple[Any, Any]:
    """An identifier: optional, not used by the model, logged so predictions can be joined."""
    kept = "logged as its keyed hash" if column.pii else "logged as sent"
    description = f"{column.description or column.name}; not used by the model, {kept}"
    return str | int | None, Field(default=None, description=description)


def unused_field(column: Column) -> tuple[Any, Any]:
    """An ignored column: a client's row may hold it, so it is accepted, then dropped."""
    description = f"{column.description or column.name}; not used by the model, not logged"
    return str | int | float | bool | None, Field(default=None, description=description)


def derive_input_field(column: Column, spec: DataSpec) -> tuple[Any, Any]:
    """An identifier or ignored column the derived features are computed from: required."""
    users = ", ".join(c.name for c in spec.derived if column.name in c.inputs)
    description = f"{column.description or column.name}; the derived features {users} read it"
    examples = None if column.example is None else [column.example]
    return str | int | float | bool | None, Field(description=description, examples=examples)


def request_body(spec: DataSpec, max_records: int = MAX_REQUEST_RECORDS) -> Any:
    """The request body's type: one Record (a row of raw features, the columns the derived
    features are computed from, and optionally the data config's identifiers and ignored
    columns) or a list of them. Derived features are computed, never asked for; a field
    the data config does not declare is refused."""
    example = {c.name: c.example_value for c in spec.raw_features if not c.pii}
    fields: dict[str, Any] = {c.name: request_field(c) for c in spec.raw_features}
    fields |= {name: passthrough_field(spec.column(name)) for name in spec.identifiers}
    fields |= {name: unused_field(spec.column(name)) for name in spec.ignored}
    for column in map(spec.column, spec.derive_inputs):
        if not column.is_feature:
            fields[column.name] = derive_input_field(column, spec)
            if column.example is not None:
                example[column.name] = column.example
    # Any: types built at run time from the data config, which a type checker cannot see.
    record: Any = create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}),
        __doc__="One row of features, as described in the data config.",
        **fields,
    )
    records: Any = Annotated[list[record], Field(min_length=1, max_length=max_records)]
    # One record or a list of them; the JSON type picks which, so errors speak of that one only.
    payload: Any = Annotated[
        Annotated[record, Tag("record")] | Annotated[records, Tag("records")],
        Discriminator(lambda value: "records" if isinstance(value, list) else "record"),
    ]
    return payload


def response_model(spec: DataSpec, classes: list) -> type[BaseModel]:
    # Any: a model built at run time from the data config, which a type checker cannot see.
    prediction: Any
    if spec.is_classification:
        label: Any = Literal[tuple(classes)]
        prediction = create_model(
            "Prediction",
            prediction=(
                label,
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
        request_id=(
            str,
            Field(description="This request's own id, made by the server: label outcomes by it"),
        ),
        model_version=(str, ...),
        predictions=(list[prediction], ...),
    )


def masked_error(error: Mapping[str, Any], pii: frozenset[str]) -> dict[str, Any]:
    """A validation error that shows no raw value of a pii field: not the value sent
    (`input`), nor the allowed values of a pii category (`msg`, `ctx`)."""
    shown = dict(error)
    field = next((part for part in error["loc"] if part in pii), None)
    if field is not None and error["type"] == "literal_error":
        shown.pop("ctx", None)  # the allowed values, quoted
        shown["msg"] = f"Input should be one of the allowed values of {field!r} ({WITHHELD})"
    if "input" not in error or not pii:
        return shown
    value = error["input"]
    if field is not None or (
        not error["loc"] and isinstance(value, str | bytes)  # the body itself, unparsed
    ):
        return shown | {"input": mask(value)}
    return shown | {"input": masked(value, pii)}


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='Where: "body", then the record and the field')
    msg: str
    type: str


class Problem(BaseModel):
    """A 401 (no valid API key) or a 413 (the request is too big)."""

    detail: str


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"detail": detail}), status, headers, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is bigger than `limit`, read no further than that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():  # a chunked body declares no length
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class ValidationErrors(BaseModel):
    """A 422: every field that broke its rule, as FastAPI reports request errors."""

    detail: list[FieldError]


class Service:
    """What the routes share, each step of a request a method named for what it does: the
    predictor, the access rules, the request body's validator, the prediction log and the
    Prometheus counters. Loaded and checked once, when the app is made."""

    def __init__(
        self,
        package_path: Path | str,
        prediction_log: Path | str,
        log_rotation: tuple[int, int],
        metrics: bool,
        access: Access,
        pii_hash_key: str | None,
    ) -> None:
        self.access = access
        # One thread per worker process: uvicorn's workers already use every core.
        self.predictor = predictor = Predictor(load_package(package_path), threads=1)
        self.spec = spec = predictor.spec
        self.metrics = (
            ServiceMetrics(
                predictor.version,
                predictor.classes if spec.is_classification else None,
                predictor.package.signature.get("value_buckets"),
            )
            if metrics
            else None
        )
        self.hash_key = pii_hash_key.encode("utf-8") if pii_hash_key else None
        if spec.pii and self.hash_key is None:
            log.warning(
                f"pii fields are dropped from the prediction log: {PII_KEY_VARIABLE} is unset",
                fields=sorted(spec.pii),
            )
        # The body is parsed and validated by pydantic-core straight from its bytes: FastAPI's
        # own body handling (json.loads, then validation through its dependency machinery)
        # costs more than the prediction itself.
        self.payload = TypeAdapter(request_body(spec, access.max_request_records))
        self.payload_schema = self.payload.json_schema(ref_template="#/components/schemas/{model}")
        self.payload_models = self.payload_schema.pop("$defs", {})
        self.log_path, self.log_rotation = prediction_log, log_rotation
        self.log: PredictionLog | None = None

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI):
        """The prediction log is open while the app serves."""
        self.log = PredictionLog(self.log_path, *self.log_rotation)
        yield
        self.log.close()

    def openapi(self, app: FastAPI) -> dict[str, Any]:
        """FastAPI's schema, with the request body's models that it does not see, and the
        key schemes on the paths that need a key."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(self.payload_models)
            if self.access.keys:
                components["securitySchemes"] = SECURITY_SCHEMES
                for path in KEYED_PATHS + (("/metrics",) if self.access.metrics_need_key else ()):
                    for operation in schema["paths"].get(path, {}).values():
                        operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            app.openapi_schema = schema
        return app.openapi_schema

    def refusal(self, request: Request) -> Response | None:
        """401 unless the request presents a key (when keys are configured)."""
        if self.access.allows(request.headers):
            return None
        if "authorization" in request.headers or "x-api-key" in request.headers:
            invalid = {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'}
            return problem(401, "The API key is not valid.", invalid)
        return problem(401, NEEDS_KEY, {"WWW-Authenticate": CHALLENGE})

    def metadata(self) -> dict[str, Any]:
        package = self.predictor.package
        return {
            "model_version": self.predictor.version,
            # Its name ("candidate", a registry version), not where the server keeps it.
            "package": package.path.name,
            "engine": self.predictor.engine,
            **package.lineage,
        }

    def count(self, status: int, started: float, outputs: list[dict] | None = None) -> None:
        """Count a request under the status its client got."""
        if self.metrics:
            self.metrics.observe(status, time.perf_counter() - started, outputs or ())

    async def admitted(self, request: Request) -> list[dict] | Response:
        """The records of a request with a valid key and body, or the 401, 413 or 422 that
        refuses it."""
        if (refused := self.refusal(request)) is not None:
            return refused
        body = await read_body(request, self.access.max_request_bytes)
        if body is None:
            return problem(413, TOO_BIG.format(self.access.max_request_bytes))
        try:
            payload = self.payload.validate_json(body)
        except ValidationError as exc:
            if any(e["type"] == "too_long" and len(e["loc"]) == 1 for e in exc.errors()):
                return problem(413, TOO_MANY.format(self.access.max_request_records))
            return self.invalid(exc)
        return [r.model_dump() for r in (payload if isinstance(payload, list) else [payload])]

    def invalid(self, exc: ValidationError) -> Response:
        """The 422 of a body that breaks the rules, showing no personal value."""
        errors = [
            masked_error(error, self.spec.pii) | {"loc": ["body", *error["loc"]]}
            for error in exc.errors(include_url=False)
        ]
        # A body that is not even UTF-8 is echoed back with its bad bytes replaced.
        text = {bytes: lambda value: value.decode("utf-8", "replace")}
        return JSONResponse({"detail": jsonable_encoder(errors, custom_encoder=text)}, 422)

    async def outputs(self, records: list[dict]) -> list[dict]:
        # Bigger requests are scored in the thread pool, so they do not hold up small ones.
        if len(records) > THREAD_POOL_ROWS:
            return await run_in_threadpool(self.predictor.records, records)
        return self.predictor.records(records)

    def log_lines(
        self, records: list[dict], outputs: list[dict], event: dict[str, Any]
    ) -> list[str]:
        """One JSON line a record: the request's event, the record's position in the request
        (labels join on it), its inputs and ids as the pii rules allow, and its outputs."""
        spec, key = self.spec, self.hash_key
        return [
            json.dumps(
                event
                | {
                    "record": n,
                    "inputs": logged_fields(record, spec.feature_names, spec.pii, key),
                    "ids": logged_fields(record, spec.identifiers, spec.pii, key),
                    "outputs": output,
                }
            )
            for n, (record, output) in enumerate(zip(records, outputs, strict=True))
        ]

    async def predict(self, request: Request) -> Response:
        started = time.perf_counter()
        records = await self.admitted(request)
        if isinstance(records, Response):
            self.count(records.status_code, started)
            return records
        try:
            try:
                outputs = await self.outputs(records)
            except DataValidationError as exc:  # derived features that break their rules
                self.count(422, started)
                return problem(422, str(exc))
            latency_ms = round((time.perf_counter() - started) * 1000, 3)
            # Every request has its own id, the one labels join on: a client may reuse its
            # X-Request-ID, which is logged beside it to correlate with the client's records.
            request_id = uuid.uuid4().hex
            event = {
                "event": "prediction",
                "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
                "request_id": request_id,
                "client_request_id": request.headers.get("x-request-id"),
                "model_version": self.predictor.version,
                "latency_ms": latency_ms,
            }
            assert self.log is not None, "the app's lifespan opens the prediction log"
            # A prediction that cannot be logged is not answered.
            self.log.write(self.log_lines(records, outputs, event))
        except Exception:  # the client gets a 500: counted as one
            self.count(500, started)
            raise
        # Counted once answered, so /metrics and the answers agree.
        self.count(200, started, outputs)
        answer = {
            "request_id": request_id,
            "model_version": self.predictor.version,
            "predictions": outputs,
        }
        # Serialised here: FastAPI need not re-validate what it documents as PredictResponse.
        return Response(
            json.dumps(answer), media_type="application/json", headers={"x-request-id": request_id}
        )


def create_app(
    package_path: Path | str,
    prediction_log: Path | str = PREDICTION_LOG,
    log_max_bytes: int = LOG_MAX_BYTES,
    log_backups: int = LOG_BACKUPS,
    metrics: bool = True,
    access: Access | None = None,
    pii_hash_key: str | None = None,
) -> FastAPI:
    """The service for the package at `package_path`, loaded and checked once, here.

    `metrics=False` leaves out GET /metrics and the counting behind it. `access` holds the
    API keys and request limits (serving/access.py); by default no key is needed.
    `pii_hash_key` keys the hash that stands for a pii value in the prediction log; without
    it pii values are left out of the log.
    """
    service = Service(
        package_path,
        prediction_log,
        (log_max_bytes, log_backups),
        metrics,
        access or Access(),
        pii_hash_key,
    )
    app = FastAPI(
        title=TITLE,
        description="Predictions from the packaged model; inputs follow the data config.",
        lifespan=service.lifespan,
    )
    app.openapi = lambda: service.openapi(app)  # type: ignore[method-assign]
    keyed: dict[int | str, dict[str, Any]] = {401: {"model": Problem, "description": NEEDS_KEY}}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "model_version": service.predictor.version}

    @app.get("/metadata", responses=keyed)
    async def metadata(request: Request) -> Any:
        refused = service.refusal(request)
        return service.metadata() if refused is None else refused

    # async: one row takes tens of microseconds, less than a hop to the thread pool.
    @app.post(
        "/predict",
        response_model=response_model(service.spec, service.predictor.classes),
        responses=keyed
        | {
            413: {"model": Problem, "description": "The request is bigger than allowed"},
            422: {"model": ValidationErrors, "description": "A field breaks its rule"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": service.payload_schema}},
            }
        },
    )
    async def predict(request: Request) -> Response:
        return await service.predict(request)

    if service.metrics:
        exposition = service.metrics

        @app.get("/metrics", response_class=Response)
        async def prometheus_metrics(request: Request) -> Response:
            """Requests, latency, predictions and the model version, in Prometheus' format."""
            refused = service.refusal(request) if service.access.metrics_need_key else None
            if refused is not None:
                return refused
            return Response(exposition.exposition(), media_type=exposition.content_type)

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
        access=access_from_environment(),
        pii_hash_key=os.environ.get(PII_KEY_VARIABLE),
    )
