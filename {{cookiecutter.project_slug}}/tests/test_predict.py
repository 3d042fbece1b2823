"""The one predict function: ONNX Runtime agrees with the scikit-learn model it was made from."""

import json

import joblib
import numpy as np
import pytest
from conftest import ROOT

from {{ cookiecutter.module_name }}.config import compose_config
from {{ cookiecutter.module_name }}.errors import DataValidationError
from {{ cookiecutter.module_name }}.features import feature_matrix
from {{ cookiecutter.module_name }}.package import LINEAGE_FILE, load_package, write_package
from {{ cookiecutter.module_name }}.predict import Predictor
from {{ cookiecutter.module_name }}.train import fit


def random_rows(n: int) -> np.ndarray:
    """Rows spread over the whole valid range, not only where the training data lies."""
    rng = np.random.default_rng(0)
    low = [5, 10, 40, 150, 0.05, 0.02, 0, 0, 0.1, 0.05]
    high = [28, 40, 190, 2500, 0.16, 0.35, 0.43, 0.2, 0.3, 0.1]
    return rng.uniform(low, high, size=(n, 10))


@pytest.mark.parametrize("model", ["random_forest", "logistic_regression"])
def test_onnx_runtime_matches_scikit_learn(sample, tmp_path, model):
    """ONNX Runtime sums tree outputs in float32 (differences ~1e-8), and scikit-learn
    compares splits in float32: a row within float32 rounding of a threshold may take
    the other branch in one tree. So forests agree to 1/n_estimators on a rare row,
    and to 1e-6 on almost every row."""
    cfg = compose_config([f"model={model}"], conf_dir=ROOT / "conf")
    fitted = fit(sample, cfg.model)
    joblib.dump(fitted, tmp_path / "model.joblib")
    lineage = {"params": {"evaluate": {"threshold": 0.5}}}
    package_dir = write_package(tmp_path / "model.joblib", tmp_path / "package", lineage)
    predictor = Predictor(load_package(package_dir))
    x = np.vstack([feature_matrix(sample), random_rows(2000)])
    onnx, sklearn = predictor.predict_proba(x), fitted.predict_proba(x)[:, 1]
    difference = np.abs(onnx - sklearn)
    tolerance = 1.01 / cfg.model.n_estimators if "n_estimators" in cfg.model else 1e-6
    assert difference.max() <= tolerance
    assert np.mean(difference > 1e-6) < 0.01
    np.testing.assert_allclose(predictor.predict_proba(x[:1]), sklearn[:1], atol=tolerance)


def test_package_without_onnx_is_scored_by_scikit_learn(model_package, tmp_path):
    import shutil

    package_dir = shutil.copytree(model_package, tmp_path / "package")
    (package_dir / "model.onnx").unlink()
    lineage = json.loads((package_dir / LINEAGE_FILE).read_text())
    del lineage["onnx_checksum"]
    (package_dir / LINEAGE_FILE).write_text(json.dumps(lineage))
    package = load_package(package_dir)
    x = random_rows(50)
    np.testing.assert_array_equal(
        Predictor(package).predict_proba(x), package.model.predict_proba(x)[:, 1]
    )


def test_labels_follow_the_packaged_threshold(model_package, tmp_path):
    import shutil

    package_dir = shutil.copytree(model_package, tmp_path / "package")
    lineage = json.loads((package_dir / LINEAGE_FILE).read_text())
    lineage["params"]["evaluate"]["threshold"] = 0.9
    (package_dir / LINEAGE_FILE).write_text(json.dumps(lineage))
    proba, labels = Predictor(load_package(package_dir)).predict_matrix(random_rows(500))
    np.testing.assert_array_equal(labels, (proba >= 0.9).astype(int))
    assert 0 < labels.sum() < (proba >= 0.5).sum()


def test_frame_is_validated_and_extra_columns_ignored(model_package, sample):
    predictor = Predictor(load_package(model_package))
    frame = sample.assign(patient_id=range(len(sample)))  # TARGET and an id: not features
    scored = predictor.predict_frame(frame)
    assert list(scored.columns) == ["probability", "prediction"]
    assert scored.index.equals(frame.index)
    expected = predictor.predict_proba(feature_matrix(sample))
    np.testing.assert_array_equal(scored["probability"], expected)


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
