import numpy as np

from {{ cookiecutter.module_name }}.features import feature_matrix, split
from {{ cookiecutter.module_name }}.schema import FEATURES, TARGET


def test_split_is_stratified_and_seeded(sample):
    train, test = split(sample, test_size=0.25, seed=1)
    assert len(train) + len(test) == len(sample)
    assert abs(train[TARGET].mean() - test[TARGET].mean()) < 0.02
    again, _ = split(sample, test_size=0.25, seed=1)
    assert train.equals(again)
    other, _ = split(sample, test_size=0.25, seed=2)
    assert not train.equals(other)


def test_feature_matrix_follows_schema_order(sample):
    shuffled = sample[list(reversed(sample.columns))]
    matrix = feature_matrix(shuffled)
    assert matrix.shape == (len(sample), len(FEATURES))
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix[:, 0], sample[FEATURES[0]].to_numpy())
