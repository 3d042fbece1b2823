"""The service's Prometheus metrics, served at GET /metrics.

prometheus-client keeps the numbers. With several uvicorn workers, `serve` points
PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start: each worker then
writes its samples to memory-mapped files there, and a scrape answered by any worker adds
up every worker's, so the counts do not depend on which worker the scraper reaches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: one record takes well under a millisecond; a 10,000-record request seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ServiceMetrics:
    """Requests by status, latency, predictions by class (or predicted-value bucket), and
    the served model's version, each labelled with that version."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, model_version: str, classes: list | None, value_buckets: list | None):
        self.model_version = model_version
        self.registry = CollectorRegistry()
        shared = bool(os.environ.get(MULTIPROCESS_DIR))
        if shared:
            # Scrapes read every worker's files; the metrics themselves must not be
            # registered in the registry that collects them, or they would count twice.
            MultiProcessCollector(self.registry)
        own = None if shared else self.registry
        version = ["model_version"]
        # Counted by class for a classifier, bucketed by value for a regressor.
        self.predictions: Counter | Histogram
        self.requests = Counter(
            "predict_requests", "Requests to /predict, by HTTP status",
            ["status", *version], registry=own,
        )  # fmt: skip
        self.latency = Histogram(
            "predict_latency_seconds", "Time to validate and score a /predict request",
            version, buckets=LATENCY_BUCKETS, registry=own,
        )  # fmt: skip
        if classes:
            self.predictions = Counter(
                "predictions", "Predictions, by predicted class", ["label", *version],
                registry=own,
            )  # fmt: skip
        else:
            buckets = value_buckets or Histogram.DEFAULT_BUCKETS
            self.predictions = Histogram(
                "predicted_value", "Predicted values (buckets: deciles of the test target)",
                version, buckets=buckets, registry=own,
            )  # fmt: skip
        info = Gauge(
            "model_info", "The model version each worker serves (1)", version,
            registry=own, multiprocess_mode="max",
        )  # fmt: skip
        info.labels(model_version).set(1)

    def observe(self, status: int, seconds: float, outputs: Sequence[dict] = ()) -> None:
        """Count one /predict request and the predictions it returned."""
        self.requests.labels(str(status), self.model_version).inc()
        self.latency.labels(self.model_version).observe(seconds)
        for output in outputs:
            if isinstance(self.predictions, Counter):
                self.predictions.labels(str(output["prediction"]), self.model_version).inc()
            else:
                self.predictions.labels(self.model_version).observe(output["prediction"])

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)
