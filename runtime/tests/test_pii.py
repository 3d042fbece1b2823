"""Personal data (pii): recognised by value and name, masked in errors, hashed or left out
of the prediction log, kept out of drift."""

import dataclasses
import hashlib
import hmac
import json

import pytest
import structlog
from conftest import ROOT, make_package, records
from fastapi.testclient import TestClient

from groundwork.config import (
    compose_config,
)
from groundwork.data.load import (
    validate,
)
from groundwork.data.pii import (
    MASK,
    is_card,
    is_email,
    is_iban,
    is_ip,
    is_phone,
    keyed_hash,
    masked,
    name_kind,
    pii_verdict,
)
from groundwork.data.schema import (
    feature_schema,
)
from groundwork.data.spec import (
    Column,
    DataSpec,
)
from groundwork.errors import (
    DataValidationError,
)
from groundwork.monitoring.drift import (
    monitored,
)
from groundwork.serving.api import (
    create_app,
)
from groundwork.serving.prediction_log import (
    logged_fields,
)

KEY = "a-test-key"
EMAIL = "jane.doe@example.org"
POSTCODES = ("SW1A 1AA", "EC1A 1BB", "W1A 0AX")


@pytest.mark.parametrize(
    "check, text",
    [
        (is_email, "jane.doe@example.org"),
        (is_phone, "+49 151 2345 6789"),
        (is_phone, "(555) 123-4567"),
        (is_phone, "015123456789"),
        (is_iban, "DE89 3704 0044 0532 0130 00"),
        (is_iban, "GB82WEST12345698765432"),
        (is_card, "4111 1111 1111 1111"),
        (is_card, "5500-0000-0000-0004"),
        (is_ip, "192.168.1.20"),
        (is_ip, "2001:db8::1"),
    ],
)
def test_personal_values_are_recognised(check, text):
    assert check(text)


@pytest.mark.parametrize(
    "check, text",
    [
        (is_email, "jane.doe@example"),
        (is_phone, "2024-01-15"),  # a date
        (is_phone, "1234567.89"),  # a decimal number
        (is_phone, "123456789"),  # digits alone, no trunk prefix: any number
        (is_iban, "DE88 3704 0044 0532 0130 00"),  # a wrong check digit
        (is_card, "4111 1111 1111 1112"),  # 16 digits failing Luhn
        (is_card, "411111111111"),  # too short
        (is_ip, "300.1.1.1"),
    ],
)
def test_near_misses_are_not(check, text):
    assert not check(text)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("customer_name", "a person's name"),
        ("firstName", "a person's name"),
        ("Last Name", "a person's name"),
        ("E-Mail", "an e-mail address"),
        ("mobile_phone", "a phone number"),
        ("street_address", "a postal address"),
        ("ZIPCode", "a postal address"),
        ("date_of_birth", "a birth date"),
        ("DOB", "a birth date"),
        ("ssn", "a national id"),
        ("passport_number", "a national id"),
        ("client_ip", "an IP address"),
        ("product_name", None),
        ("timeline", None),
        ("shipping_cost", None),
    ],
)
def test_names_say_what_personal_data_a_column_holds(name, kind):
    assert name_kind(name) == kind


def test_a_high_share_of_values_must_match():
    mostly = ["a@b.org"] * 8 + ["n/a", "unknown"]
    assert pii_verdict("contact", mostly, [8, 1, 1]).why == (
        "80% of values look like e-mail addresses"
    )
    some = ["a@b.org"] * 7 + ["n/a", "unknown", "none"]
    assert not pii_verdict("remarks", some, [7, 1, 1, 1]).pii
    assert pii_verdict("remarks", [], []) == (False, "")


def test_a_name_is_confirmed_by_values_that_can_single_out_a_person():
    rare = pii_verdict("address", ["Main St 1", "Main St 2"], [1, 1])
    assert rare.pii and "2 of its 2 distinct values are each held by fewer than 5" in rare.why
    shared = pii_verdict("address", ["U", "R"], [250, 5])
    assert not shared.pii and shared.why.endswith("so none singles out a person")
    unseen = pii_verdict("email", [], [])  # no value to refute it: the name decides
    assert unseen.pii and unseen.why == "the name 'email' suggests an e-mail address"


def test_masking_reaches_every_depth_and_keeps_missing_values():
    value = {"email": EMAIL, "age": 41, "rows": [{"email": EMAIL}, {"email": None}]}
    assert masked(value, {"email"}) == {
        "email": MASK,
        "age": 41,
        "rows": [{"email": MASK}, {"email": None}],
    }


def test_the_hash_is_hmac_sha256_of_the_text():
    expected = hmac.new(b"k", b"jane.doe@example.org", hashlib.sha256).hexdigest()
    assert keyed_hash(EMAIL, b"k") == expected
    assert keyed_hash(1984, b"k") == hmac.new(b"k", b"1984", hashlib.sha256).hexdigest()
    assert keyed_hash(EMAIL, b"other") != expected


def test_the_log_hashes_pii_with_a_key_and_drops_it_without():
    record = {"email": EMAIL, "phone": None, "customer_id": 7}
    names = ["email", "phone", "customer_id"]
    assert logged_fields(record, names, {"email", "phone"}, b"k") == {
        "email": hmac.new(b"k", EMAIL.encode(), hashlib.sha256).hexdigest(),
        "phone": None,
        "customer_id": 7,
    }
    assert logged_fields(record, names, {"email", "phone"}, None) == {
        "phone": None,
        "customer_id": 7,
    }


@pytest.fixture(scope="module")
def pii_spec(spec) -> DataSpec:
    """The project's spec with a customer id, an e-mail, and a birth year and a postcode
    learned from."""
    extra = (
        Column("customer_id", "identifier"),
        Column("email", "identifier", pii=True),
        Column("birth_year", "numeric", min=1900, max=2020, pii=True, pii_feature=True),
        Column("postcode", "categorical", values=POSTCODES, pii=True, pii_feature=True),
    )
    # The project's own columns stay, pii ones too, but one of the same name (a customer
    # table has its own e-mail column) gives way to this test's.
    names = {column.name for column in extra}
    kept = tuple(column for column in spec.columns if column.name not in names)
    return dataclasses.replace(spec, columns=(*kept, *extra))


@pytest.fixture(scope="module")
def pii_frame(sample):
    frame = sample.copy()
    frame["customer_id"] = range(len(frame))
    frame["email"] = [f"person{n}@example.org" for n in range(len(frame))]
    frame["birth_year"] = [1950.0 + n % 50 for n in range(len(frame))]
    frame["postcode"] = [POSTCODES[n % len(POSTCODES)] for n in range(len(frame))]
    return frame


@pytest.fixture(scope="module")
def pii_package(pii_spec, pii_frame, tmp_path_factory):
    from groundwork.model.features import split
    from groundwork.model.train import fit

    cfg = compose_config(conf_dir=ROOT / "conf")
    train, test = split(pii_frame, pii_spec, cfg.data.test_size, cfg.seed)
    model = fit(train, pii_spec, cfg.model)
    return make_package(model, pii_spec, test, tmp_path_factory.mktemp("pii-package"))


def request_record(frame, spec, n: int = 0) -> dict:
    (features,) = records(frame.iloc[[n]], spec)
    ids = {"customer_id": int(frame["customer_id"].iloc[n]), "email": frame["email"].iloc[n]}
    return features | ids


def logged(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sent_ids(event: dict) -> dict:
    """The logged ids the request sent: the project's own identifiers (an adopted data set
    may have some) were not sent, so they are logged as null."""
    ids = event["ids"]
    assert all(ids[name] is None for name in ids if name not in ("customer_id", "email"))
    return {name: value for name, value in ids.items() if name in ("customer_id", "email")}


def test_the_api_logs_ids_and_pii_as_keyed_hashes(pii_package, pii_spec, pii_frame, tmp_path):
    log = tmp_path / "predictions.jsonl"
    app = create_app(pii_package, prediction_log=log, pii_hash_key=KEY)
    record = request_record(pii_frame, pii_spec)
    with TestClient(app) as client:
        assert client.post("/predict", json=record).status_code == 200
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
    # The identifiers are optional fields beside the features.
    assert {"customer_id", "email"} <= set(schema["properties"])
    assert not {"customer_id", "email"} & set(schema["required"])
    (event,) = logged(log)
    digest = hmac.new(KEY.encode(), record["email"].encode(), hashlib.sha256).hexdigest()
    assert sent_ids(event) == {"customer_id": record["customer_id"], "email": digest}
    year = hmac.new(KEY.encode(), str(record["birth_year"]).encode(), hashlib.sha256)
    assert event["inputs"]["birth_year"] == year.hexdigest()
    assert "email" not in event["inputs"] and record["email"] not in log.read_text()


def test_without_a_key_pii_is_left_out_and_the_start_says_so(
    pii_package, pii_spec, pii_frame, tmp_path, spec
):
    log = tmp_path / "predictions.jsonl"
    with structlog.testing.capture_logs() as started:
        app = create_app(pii_package, prediction_log=log)
    # This test's pii columns and the project's own (an adopted table may have some).
    fields = sorted({*spec.pii, "birth_year", "email", "postcode"})
    assert [entry["fields"] for entry in started if "PII_HASH_KEY" in entry["event"]] == [fields]
    record = request_record(pii_frame, pii_spec)
    with TestClient(app) as client:
        assert client.post("/predict", json=record).status_code == 200
    (event,) = logged(log)
    assert sent_ids(event) == {"customer_id": record["customer_id"]}
    assert not {"birth_year", "postcode"} & set(event["inputs"])


def test_refused_pii_values_are_masked_in_422s(pii_package, pii_spec, pii_frame, tmp_path):
    app = create_app(pii_package, prediction_log=tmp_path / "log.jsonl", pii_hash_key=KEY)
    record = request_record(pii_frame, pii_spec)
    missing = {k: v for k, v in record.items() if k != pii_spec.feature_names[0]}
    with TestClient(app) as client:
        out_of_range = client.post("/predict", json=record | {"birth_year": 1812.0})
        left_out = client.post("/predict", json=[missing])
        broken = client.post("/predict", content=json.dumps(record)[:-3])
    assert out_of_range.status_code == left_out.status_code == broken.status_code == 422
    (error,) = out_of_range.json()["detail"]
    assert error["loc"] == ["body", "record", "birth_year"] and error["input"] == MASK
    (error,) = left_out.json()["detail"]
    assert error["input"]["email"] == MASK and error["input"]["birth_year"] == MASK
    assert error["input"]["customer_id"] == record["customer_id"]
    assert broken.json()["detail"][0]["input"] == MASK
    for response in (out_of_range, left_out, broken):
        assert record["email"] not in response.text and "1812" not in response.text


def test_a_personal_category_s_values_stay_out_of_the_api(
    pii_package, pii_spec, pii_frame, tmp_path
):
    """The open API document and a 422 name the column and its rule, never a value: the
    allowed values of a categorical pii feature are in the package's signature only."""
    app = create_app(pii_package, prediction_log=tmp_path / "log.jsonl", pii_hash_key=KEY)
    record = request_record(pii_frame, pii_spec)
    with TestClient(app) as client:
        document = client.get("/openapi.json")
        refused = client.post("/predict", json=[record, record | {"postcode": "ZZ9 9ZZ"}])
    schema = document.json()["components"]["schemas"]["Record"]
    field = schema["properties"]["postcode"]
    assert "enum" not in field and "examples" not in field
    assert "withheld" in field["description"]
    assert "postcode" not in schema["examples"][0]
    assert refused.status_code == 422
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "records", 1, "postcode"] and error["input"] == MASK
    assert "'postcode'" in error["msg"] and "allowed values" in error["msg"]
    for response in (document, refused):
        assert not [value for value in (*POSTCODES, "ZZ9 9ZZ") if value in response.text]
    signature = json.loads((pii_package / "signature.json").read_text())
    assert signature["data"]["columns"]["postcode"]["values"] == list(POSTCODES)


def test_refused_pii_values_are_masked_in_validation_errors(pii_spec, pii_frame):
    frame = pii_frame[pii_spec.feature_names].head(3).copy()
    frame.loc[1, "birth_year"] = 1812.0
    with pytest.raises(DataValidationError) as refused:
        validate(frame, feature_schema(pii_spec))
    message = str(refused.value)
    assert "column 'birth_year' fails rule in_range(1900, 2020) in 1 row(s): rows 2" in message
    assert f"(values {MASK!r})" in message and "1812" not in message


def test_drift_leaves_pii_features_out(pii_spec, spec):
    # The project's features but pii (an adopted table may learn from some of its own), and
    # but those this test's pii columns replace.
    features = [c.name for c in spec.features if not c.pii and c.name not in pii_spec.pii]
    assert [column.name for column in monitored(pii_spec)] == features
