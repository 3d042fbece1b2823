"""The data spec: read from conf/data, refused with the key named when malformed."""

import pytest

from groundwork.data.spec import (
    SpecError,
    spec_from_config,
    spec_to_config,
)

BASE = {
    "task": "classification",
    "target": {"name": "species", "classes": ["a", "b", "c"]},
    "columns": {
        "bill": {"role": "numeric", "min": 0.0, "max": 100.0, "nullable": True},
        "island": {"role": "categorical", "values": ["Biscoe", "Dream"]},
        "penguin_id": {"role": "identifier"},
    },
}


def test_roles_are_read_and_features_listed():
    spec = spec_from_config(BASE)
    assert spec.feature_names == ["bill", "island"]
    assert spec.numeric == ["bill"] and spec.categorical == ["island"]
    assert spec.column("bill").nullable and not spec.column("island").nullable
    assert spec.target.classes == ("a", "b", "c")
    assert spec.column("bill").example_value == 50.0
    assert spec.column("island").example_value == "Biscoe"


def test_spec_round_trips_through_config():
    spec = spec_from_config(BASE)
    assert spec_from_config(spec_to_config(spec)) == spec


@pytest.mark.parametrize(
    "change, message",
    [
        ({"task": "ranking"}, "task is 'ranking'"),
        ({"target": {"name": "species", "classes": ["a"]}}, "at least two classes"),
        ({"target": {}}, "needs a `name:`"),
        ({"columns": {}}, "lists no column"),
        ({"columns": {"bill": {"role": "numberic"}}}, "columns.bill.role is 'numberic'"),
        ({"columns": {"island": {"role": "categorical"}}}, "lists no `values:`"),
        ({"columns": {"bill": {"role": "numeric", "min": 5, "max": 1}}}, "min 5.0 is above max"),
        ({"columns": {"bill": {"role": "numeric", "max": "ten"}}}, "columns.bill.max must be"),
        ({"columns": {"bill": {"role": "numeric", "rnage": 1}}}, "unknown keys ['rnage']"),
        ({"columns": {"id": {"role": "identifier"}}}, "nothing to learn from"),
        ({"columns": {"species": {"role": "numeric"}}}, "also listed in columns"),
    ],
)
def test_malformed_config_names_the_key(change, message):
    with pytest.raises(SpecError) as error:
        spec_from_config(BASE | change, source="conf/data/penguins.yaml")
    assert message in str(error.value) and "conf/data/penguins.yaml" in str(error.value)


def test_regression_needs_no_classes():
    spec = spec_from_config(BASE | {"task": "regression", "target": {"name": "mass"}})
    assert not spec.is_classification and spec.target.classes == ()


def with_column(name: str, rules: dict) -> dict:
    return BASE | {"columns": BASE["columns"] | {name: rules}}


def test_pii_is_read_and_kept_out_of_the_features_unless_said_so():
    spec = spec_from_config(with_column("email", {"role": "identifier", "pii": True}))
    assert spec.column("email").pii and spec.pii == {"email"}
    assert spec.feature_names == ["bill", "island"]
    assert spec.identifiers == ["penguin_id", "email"]
    age = {"role": "numeric", "min": 0, "max": 120, "pii": True, "pii_feature": True}
    chosen = spec_from_config(with_column("age", age))
    assert chosen.feature_names == ["bill", "island", "age"] and chosen.pii == {"age"}
    assert spec_from_config(spec_to_config(chosen)) == chosen
    assert spec_to_config(chosen)["columns"]["age"] == {
        "role": "numeric",
        "nullable": False,
        "min": 0.0,
        "max": 120.0,
        "pii": True,
        "pii_feature": True,
    }


@pytest.mark.parametrize(
    "rules, message",
    [
        ({"role": "numeric", "pii": True}, "add `pii_feature: true` to learn from it"),
        ({"role": "categorical", "values": ["a"], "pii": True}, "role categorical"),
        ({"role": "numeric", "pii_feature": True}, "with `pii: true`; remove it, or set both"),
        ({"role": "identifier", "pii": True, "pii_feature": True}, "numeric or categorical"),
        ({"role": "identifier", "pii": "yes"}, "columns.contact.pii must be true or false"),
        ({"role": "identifier", "pii": True, "example": "a@b.org"}, "has an `example:`"),
    ],
)
def test_pii_rules_are_refused_with_the_fix(rules, message):
    with pytest.raises(SpecError) as error:
        spec_from_config(with_column("contact", rules), source="conf/data/penguins.yaml")
    assert message in str(error.value) and "columns.contact" in str(error.value)
