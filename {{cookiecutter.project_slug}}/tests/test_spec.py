"""The data spec: read from conf/data, refused with the key named when malformed."""

import pytest

from {{ cookiecutter.module_name }}.data.spec import (
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
