"""The one predict function: the compiled fast path agrees with scikit-learn."""

import numpy as np
import pytest
from conftest import ROOT

from {{ cookiecutter.module_name }}.config import compose_config
from {{ cookiecutter.module_name }}.errors import DataValidationError
from {{ cookiecutter.module_name }}.features import feature_matrix
from {{ cookiecutter.module_name }}.package import ModelPackage, load_package
from {{ cookiecutter.module_name }}.predict import SMALL_BATCH, Predictor, compile_model
from {{ cookiecutter.module_name }}.schema import TARGET
from {{ cookiecutter.module_name }}.train import fit


def predictor_for(model, threshold=0.5) -> Predictor:
    lineage = {"checksum": "0" * 64, "params": {"evaluate": {"threshold": threshold}}}
    return Predictor(ModelPackage(model=model, lineage=lineage, path=ROOT))


@pytest.mark.parametrize("model", ["random_forest", "logistic_regression"])
def test_compiled_model_matches_predict_proba(sample, model):
    cfg = compose_config([f"model={model}"], conf_dir=ROOT / "conf")
    fitted = fit(sample, cfg.model)
    x = feature_matrix(sample)
    compiled = compile_model(fitted)
    assert compiled is not None
    np.testing.assert_allclose(compiled(x), fitted.predict_proba(x)[:, 1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(compiled(x[:1]), fitted.predict_proba(x[:1])[:, 1], atol=1e-12)


def test_predictor_agrees_with_the_model_below_and_above_the_small_batch(model_package):
    predictor = Predictor(load_package(model_package))
    rng = np.random.default_rng(0)
    x = rng.uniform(
        [5, 10, 40, 150, 0.05, 0.02, 0, 0, 0.1, 0.05],
        [28, 40, 190, 2500, 0.16, 0.35, 0.43, 0.2, 0.3, 0.1],
        size=(SMALL_BATCH + 1, 10),
    )
    expected = predictor.model.predict_proba(x)[:, 1]
    np.testing.assert_allclose(predictor.predict_proba(x[:SMALL_BATCH]), expected[:-1], atol=1e-12)
    np.testing.assert_allclose(predictor.predict_proba(x), expected, atol=1e-12)


def test_unsupported_model_falls_back_to_scikit_learn(sample):
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier(max_depth=3, random_state=0)
    model.fit(feature_matrix(sample), sample[TARGET])
    assert compile_model(model) is None
    proba, labels = predictor_for(model).predict_matrix(feature_matrix(sample))
    np.testing.assert_array_equal(proba, model.predict_proba(feature_matrix(sample))[:, 1])
    np.testing.assert_array_equal(labels, (proba >= 0.5).astype(int))


def test_labels_follow_the_packaged_threshold(sample):
    cfg = compose_config(["model=logistic_regression"], conf_dir=ROOT / "conf")
    model = fit(sample, cfg.model)
    proba, labels = predictor_for(model, threshold=0.9).predict_matrix(feature_matrix(sample))
    np.testing.assert_array_equal(labels, (proba >= 0.9).astype(int))
    assert 0 < labels.sum() < (proba >= 0.5).sum()


def test_frame_is_validated_and_extra_columns_ignored(model_package, sample):
    predictor = Predictor(load_package(model_package))
    frame = sample.assign(patient_id=range(len(sample)))  # TARGET and an id: not features
    scored = predictor.predict_frame(frame)
    assert list(scored.columns) == ["probability", "prediction"]
    assert scored.index.equals(frame.index)
    proba = predictor.model.predict_proba(feature_matrix(sample))[:, 1]
    np.testing.assert_allclose(scored["probability"], proba, atol=1e-12)


def test_bad_rows_are_reported_with_their_row_in_the_file(model_package, sample):
    predictor = Predictor(load_package(model_package))
    broken = sample.head(10).copy()
    broken.loc[4, "mean_texture"] = 999.0
    with pytest.raises(DataValidationError) as error:
        predictor.predict_frame(broken, first_row=101)
    message = str(error.value)
    assert "'mean_texture'" in message and "in_range" in message and "rows 105 " in message


def test_missing_feature_is_named(model_package, sample):
    predictor = Predictor(load_package(model_package))
    with pytest.raises(DataValidationError, match="missing column 'mean_area'"):
        predictor.predict_frame(sample.drop(columns="mean_area"))
