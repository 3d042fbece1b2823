"""Derived features: new model inputs computed from the raw columns. Yours to write.

`derive` gets the raw columns that the data config's derived columns name in `from:`, as
numpy arrays (numbers as floats with NaN for a gap; anything else, dates included, as the
values a request sends, with None for a gap) and returns one array a derived column. The
runtime runs it before the model's preprocessing everywhere rows meet the model: the
`features` stage (so training and evaluation learn from it), the API (one record or
thousands), `score` and `score --engine spark`; the model package carries a copy of this
file. So it works row by row (a statistic over the whole column belongs in the model), and
it imports numpy and the standard library only (the service image has no pandas).

Each derived column is declared in conf/data/<name>.yaml like any other column, with its
role and rules (checked on what `derive` returns), `derived: true` and `from:`; the API
then asks for the raw columns only. For example, a ratio and the month of a date:

    bill_ratio: {role: numeric, derived: true, from: [bill_length_mm, bill_depth_mm],
                 min: 1, max: 4, nullable: true}
    observed_month: {role: numeric, derived: true, from: [observed_on], min: 1, max: 12,
                     nullable: true}

    def derive(columns):
        month = columns["observed_on"].astype("datetime64[M]")  # None: NaT
        return {
            "bill_ratio": columns["bill_length_mm"] / columns["bill_depth_mm"],
            "observed_month": np.where(np.isnat(month), np.nan, month.astype("int64") % 12 + 1),
        }

A gap (NaN) in a nullable derived column is filled as any other, with the training median.

tests/test_features.py checks what it returns against the data config; add tests of your
own there.
"""

import numpy as np


def derive(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The derived columns the data config declares (none yet)."""
    return {}
