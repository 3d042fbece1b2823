"""API keys and request limits: who may call the service, and how much one request may carry."""

import hashlib
import json

import pytest
from conftest import records
from fastapi.testclient import TestClient

from groundwork.cli import main
from groundwork.serving.access import (
    MIN_KEY_LENGTH,
    Access,
    AccessError,
    access_from_environment,
    anonymous_refusal,
    presented_key,
)
from groundwork.serving.api import create_app

OLD_KEY = "old-key-0123456789abcdef"
NEW_KEY = "new-key-fedcba9876543210"
# Written out by hand, not taken from the code: how a caller spells the two headers.
BEARER_OLD = {"Authorization": f"Bearer {OLD_KEY}"}
HEADER_NEW = {"X-API-Key": NEW_KEY}


def keyed(**limits) -> Access:
    return access_from_environment({"API_KEYS": f"{OLD_KEY}, {NEW_KEY}"} | limits)


@pytest.fixture
def log_file(tmp_path):
    return tmp_path / "predictions.jsonl"


@pytest.fixture
def client(model_package, log_file):
    with TestClient(create_app(model_package, prediction_log=log_file, access=keyed())) as client:
        yield client


def test_a_request_without_a_key_or_with_a_wrong_one_is_401(client, sample, spec):
    body = records(sample, spec, 1)[0]
    missing = client.post("/predict", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer realm=")
    assert "Authorization: Bearer" in missing.json()["detail"]
    for wrong in ({"Authorization": "Bearer not-a-key-at-all-000"}, {"X-API-Key": OLD_KEY[:-1]}):
        refused = client.post("/predict", json=body, headers=wrong)
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert client.get("/metadata").status_code == 401


def test_either_configured_key_is_accepted_in_either_header(client, sample, spec):
    body = records(sample, spec, 2)
    for headers in (BEARER_OLD, HEADER_NEW, {"X-API-Key": OLD_KEY},
                    {"authorization": f"bearer {NEW_KEY}"}):  # fmt: skip
        answer = client.post("/predict", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 2
    assert client.get("/metadata", headers=HEADER_NEW).status_code == 200


def test_health_stays_open_and_metrics_have_their_own_setting(model_package, log_file):
    with TestClient(create_app(model_package, prediction_log=log_file, access=keyed())) as open_:
        assert open_.get("/health").status_code == 200
        assert open_.get("/metrics").status_code == 200
    closed = keyed(METRICS_REQUIRE_KEY="true")
    with TestClient(create_app(model_package, prediction_log=log_file, access=closed)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=BEARER_OLD).status_code == 200


def test_the_openapi_schema_documents_the_keys(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    predict = schema["paths"]["/predict"]["post"]
    assert {"401", "413", "422"} <= set(predict["responses"])
    assert predict["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_no_key_reaches_the_logs(model_package, log_file, sample, spec, capfd):
    app = create_app(model_package, prediction_log=log_file, access=keyed())
    with TestClient(app) as client:
        client.post("/predict", json=records(sample, spec, 3), headers=BEARER_OLD)
        client.post("/predict", json=records(sample, spec, 1), headers={"X-API-Key": "x" * 20})
    written = log_file.read_text() + "".join(capfd.readouterr())
    assert len(log_file.read_text().splitlines()) == 3
    assert OLD_KEY not in written and NEW_KEY not in written and "x" * 20 not in written


def test_keys_come_from_a_secret_file_too_and_are_checked(tmp_path):
    key_file = tmp_path / "api-keys"
    key_file.write_text(f"# rotated 2026-12\n{NEW_KEY}\n\n")
    both = access_from_environment({"API_KEYS": OLD_KEY, "API_KEYS_FILE": str(key_file)})
    assert len(both.keys) == 2
    assert both.allows({"x-api-key": NEW_KEY}) and both.allows({"x-api-key": OLD_KEY})
    assert not both.allows({"x-api-key": "y" * 24}) and not both.allows({})
    # The digests are kept, not the keys.
    assert hashlib.sha256(NEW_KEY.encode()).digest() in both.keys
    assert NEW_KEY.encode() not in both.keys

    short = "s3cret"
    with pytest.raises(AccessError, match=f"API_KEYS item 2 is too short.*{MIN_KEY_LENGTH}") as err:
        access_from_environment({"API_KEYS": f"{OLD_KEY},{short}"})
    assert short not in str(err.value)
    missing = tmp_path / "nowhere"
    with pytest.raises(AccessError, match="API_KEYS_FILE=.*nowhere cannot be read"):
        access_from_environment({"API_KEYS_FILE": str(missing)})
    with pytest.raises(AccessError, match="MAX_REQUEST_BYTES='lots'"):
        access_from_environment({"MAX_REQUEST_BYTES": "lots"})


def test_presented_key_reads_either_header():
    assert presented_key({"authorization": "Bearer abc"}) == "abc"
    assert presented_key({"authorization": "Basic abc"}) is None
    assert presented_key({"x-api-key": "abc"}) == "abc"
    assert presented_key({}) is None


def test_without_keys_only_loopback_may_serve_unless_anonymous_is_allowed():
    open_ = Access()
    assert anonymous_refusal(open_, "127.0.0.1", {}) is None
    assert anonymous_refusal(open_, "::1", {}) is None
    assert anonymous_refusal(open_, "localhost", {}) is None
    refusal = anonymous_refusal(open_, "0.0.0.0", {})
    assert "API_KEYS" in refusal and "ALLOW_ANONYMOUS=true" in refusal
    assert anonymous_refusal(open_, "0.0.0.0", {"ALLOW_ANONYMOUS": "true"}) is None
    assert anonymous_refusal(keyed(), "0.0.0.0", {}) is None


def test_serve_refuses_an_open_port_without_keys(model_package, monkeypatch, capsys):
    for name in ("API_KEYS", "API_KEYS_FILE", "ALLOW_ANONYMOUS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--model", str(model_package), "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err
    assert "no API keys" in err and "ALLOW_ANONYMOUS=true" in err and "Traceback" not in err
    # The hint for a new key runs as printed.
    hint = err.split("A new key: ")[1].strip()
    assert hint.startswith('python -c "import secrets;')


def test_a_body_over_the_size_limit_is_413(model_package, log_file, sample, spec):
    body = records(sample, spec, 50)
    size = len(json.dumps(body))
    small = keyed(MAX_REQUEST_BYTES=str(size // 2))
    with TestClient(create_app(model_package, prediction_log=log_file, access=small)) as client:
        too_big = client.post("/predict", json=body, headers=BEARER_OLD)
        assert too_big.status_code == 413
        assert f"over {size // 2} bytes" in too_big.json()["detail"]

        def chunks():  # no Content-Length: the limit holds while reading
            text = json.dumps(body).encode()
            for start in range(0, len(text), 1000):
                yield text[start : start + 1000]

        chunked = client.post("/predict", content=chunks(), headers=BEARER_OLD)
        assert chunked.status_code == 413
        one = client.post("/predict", json=body[:1], headers=BEARER_OLD)
        assert one.status_code == 200
    assert not log_file.exists() or len(log_file.read_text().splitlines()) == 1


def test_more_records_than_allowed_is_413(model_package, log_file, sample, spec):
    few = keyed(MAX_REQUEST_RECORDS="5")
    with TestClient(create_app(model_package, prediction_log=log_file, access=few)) as client:
        assert client.post("/predict", json=records(sample, spec, 5), headers=HEADER_NEW).is_success
        six = client.post("/predict", json=records(sample, spec, 6), headers=HEADER_NEW)
        assert six.status_code == 413
        assert six.json() == {
            "detail": "More than 5 records: send fewer a request, or score a file in batch."
        }
        schema = client.get("/openapi.json").json()
        assert "maxItems" in json.dumps(schema) and '"maxItems": 5' in json.dumps(schema)
