"""The derived features (`derive` in the project's features.py), on the project's data:
what `derive` returns is what the data config declares, within its rules, and a row's
features do not depend on the rows scored with it (the API scores one record at a time)."""

import numpy as np
from conftest import records
from groundwork.model.derived import derived_columns

from {{ cookiecutter.module_name }}.features import derive


def test_derive_returns_each_declared_column_within_its_rules(sample, spec):
    # Checked as the pipeline checks it: a missing, extra or out-of-rule column fails here,
    # naming the column, the rule and the rows.
    columns = {name: sample[name].to_numpy() for name in spec.derive_inputs}
    derived = derived_columns(spec, derive, columns, len(sample))
    assert sorted(derived) == sorted(column.name for column in spec.derived)


def test_a_row_s_derived_features_are_the_same_alone_or_with_others(sample, spec):
    rows = records(sample, spec, rows=20)
    together = derived_columns(spec, derive, {n: [r[n] for r in rows] for n in spec.inputs}, 20)
    for i, row in enumerate(rows):
        alone = derived_columns(spec, derive, {n: [row[n]] for n in spec.inputs}, 1)
        for name, values in together.items():
            np.testing.assert_array_equal(alone[name], values[i : i + 1], err_msg=name)
