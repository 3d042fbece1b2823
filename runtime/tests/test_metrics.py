"""The service's Prometheus metrics, read back with Prometheus' own text parser."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from groundwork.serving.metrics import (
    MULTIPROCESS_DIR,
    ServiceMetrics,
)


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)


def samples(metrics: ServiceMetrics) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of the exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def test_a_classifier_counts_requests_and_predictions_by_class():
    metrics = ServiceMetrics("v0.0.3", ["no", "yes"], None)
    metrics.observe(200, 0.004, [{"prediction": label} for label in ("yes", "no", "yes")])
    metrics.observe(422, 0.001)
    found = samples(metrics)
    version = ("model_version", "v0.0.3")
    assert found[("predictions_total", (("label", "yes"), version))] == 2
    assert found[("predictions_total", (("label", "no"), version))] == 1
    assert found[("predict_requests_total", (version, ("status", "200")))] == 1
    assert found[("predict_requests_total", (version, ("status", "422")))] == 1
    assert found[("predict_latency_seconds_count", (version,))] == 2
    assert found[("predict_latency_seconds_bucket", (("le", "0.0025"), version))] == 1
    assert found[("model_info", (version,))] == 1


def test_a_regressor_buckets_its_predicted_values():
    metrics = ServiceMetrics("v1", None, [10.0, 20.0])
    metrics.observe(200, 0.002, [{"prediction": value} for value in (5.0, 15.0, 25.0)])
    found = samples(metrics)
    version = ("model_version", "v1")
    assert found[("predicted_value_bucket", (("le", "10.0"), version))] == 1
    assert found[("predicted_value_bucket", (("le", "20.0"), version))] == 2
    assert found[("predicted_value_count", (version,))] == 3
    assert found[("predicted_value_sum", (version,))] == 45.0
    assert not any(name == "predictions_total" for name, _ in found)
