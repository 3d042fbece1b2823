"""The one predict path: validation from the package's spec, ONNX Runtime agreeing with
scikit-learn, and outputs that follow the task."""

import json
import shutil

import joblib
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, breaking_value, checked_feature, make_package, rule_name

from groundwork.config import compose_config
from groundwork.errors import (
    DataValidationError,
)
from groundwork.model.evaluate import (
    model_outputs,
)
from groundwork.model.train import fit
from groundwork.release.package import (
    LINEAGE_FILE,
    MODEL_FILE,
    ONNX_FILE,
    SIGNATURE_FILE,
    load_package,
    seal_lineage,
    sha256,
)
from groundwork.release.predictor import (
    PREDICTION,
    Predictor,
    probability_column,
)

MODELS = sorted(path.stem for path in (ROOT / "conf/model").glob("*.yaml"))


def output_columns(spec, classes):
    if not spec.is_classification:
        return [PREDICTION]
    return [PREDICTION, *(probability_column(c) for c in classes)]


@pytest.mark.parametrize("model", MODELS)
def test_onnx_runtime_matches_scikit_learn(sample, spec, unseen_rows, tmp_path, model):
    """Every configured model, on the data and on rows over the whole valid range."""
    cfg = compose_config([f"model={model}"], conf_dir=ROOT / "conf")
    fitted = fit(sample, spec, cfg.model)
    predictor = Predictor(load_package(make_package(fitted, spec, sample, tmp_path)))
    assert predictor.engine == "onnxruntime"
    rows = unseen_rows
    columns = {name: rows[name].to_numpy() for name in spec.feature_names}
    onnx, sklearn = predictor.outputs(columns, len(rows)), model_outputs(fitted, rows, spec)
    np.testing.assert_allclose(onnx, sklearn, rtol=1e-4, atol=1e-4)
    if spec.is_classification:
        assert np.mean(predictor.labels(onnx) == fitted.predict(rows[spec.feature_names])) > 0.99


def _without_onnx(model_package, tmp_path):
    package_dir = shutil.copytree(model_package, tmp_path / "package")
    (package_dir / ONNX_FILE).unlink()
    lineage = json.loads((package_dir / LINEAGE_FILE).read_text())
    del lineage["onnx_checksum"]
    (package_dir / LINEAGE_FILE).write_text(json.dumps(seal_lineage(lineage)))
    return load_package(package_dir)


@pytest.mark.parametrize("engine", ["onnxruntime", "scikit-learn"])
def test_no_rows_get_no_predictions_with_every_column(model_package, unseen_rows, tmp_path, engine):
    """An empty chunk or Spark partition is scored as nothing, not an error from the model."""
    package = load_package(model_package) if engine == "onnxruntime" else None
    predictor = Predictor(package or _without_onnx(model_package, tmp_path))
    assert predictor.engine == engine
    full = predictor.predict_frame(unseen_rows.head(3))
    empty = predictor.predict_frame(unseen_rows.head(0))
    assert empty.empty and list(empty.columns) == list(full.columns)


def test_package_without_onnx_is_scored_by_scikit_learn(model_package, unseen_rows, spec, tmp_path):
    predictor = Predictor(_without_onnx(model_package, tmp_path))
    assert predictor.engine == "scikit-learn"
    scored = predictor.predict_frame(unseen_rows)
    # The packaged pipeline, loaded and called directly on the raw feature columns.
    pipeline = joblib.load(model_package / MODEL_FILE)
    raw = pd.DataFrame({name: unseen_rows[name] for name in spec.feature_names})
    if not spec.is_classification:
        np.testing.assert_array_equal(scored[PREDICTION], pipeline.predict(raw))
        return
    proba = pipeline.predict_proba(raw)
    columns = [probability_column(c) for c in pipeline.classes_]
    np.testing.assert_array_equal(scored[columns].to_numpy(), proba)
    # At the threshold 0.5 the labels are scikit-learn's own, bar exact ties.
    assert len(columns) > 2 or predictor.threshold == 0.5
    top = np.sort(proba, axis=1)
    decided = top[:, -1] - top[:, -2] > 1e-9
    assert (scored[PREDICTION].to_numpy() == pipeline.predict(raw))[decided].all()


def test_labels_follow_the_packaged_threshold_for_two_classes(
    model_package, unseen_rows, spec, tmp_path
):
    if len(spec.target.classes) != 2:
        pytest.skip("the threshold applies to binary classification only")
    package_dir = shutil.copytree(model_package, tmp_path / "package")
    signature = json.loads((package_dir / SIGNATURE_FILE).read_text())
    (package_dir / SIGNATURE_FILE).write_text(json.dumps(signature | {"threshold": 0.9}))
    lineage = json.loads((package_dir / LINEAGE_FILE).read_text())
    lineage["signature_checksum"] = sha256(package_dir / SIGNATURE_FILE)
    (package_dir / LINEAGE_FILE).write_text(json.dumps(seal_lineage(lineage)))
    predictor = Predictor(load_package(package_dir))
    scored = predictor.predict_frame(unseen_rows)
    positive = predictor.classes[1]
    expected = scored[probability_column(positive)] >= 0.9
    assert ((scored[PREDICTION] == positive) == expected).all()


def test_frame_is_validated_and_extra_columns_ignored(model_package, sample, spec):
    predictor = Predictor(load_package(model_package))
    frame = sample.assign(row_id=range(len(sample)))  # the target and an id: not features
    scored = predictor.predict_frame(frame)
    assert list(scored.columns) == output_columns(spec, predictor.classes)
    assert scored.index.equals(frame.index)
    if spec.is_classification:
        probabilities = scored.drop(columns=PREDICTION).to_numpy()
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        assert set(scored[PREDICTION]) <= set(predictor.classes)


def test_records_give_the_frame_results(model_package, sample, spec):
    from conftest import records

    predictor = Predictor(load_package(model_package))
    frame = predictor.predict_frame(sample.head(5))
    results = predictor.records(records(sample, spec, 5))
    assert [r[PREDICTION] for r in results] == frame[PREDICTION].tolist()


def test_bad_rows_are_reported_with_their_row_in_the_file(model_package, sample, spec):
    predictor = Predictor(load_package(model_package))
    column = checked_feature(spec)
    broken = sample.head(10).astype({column.name: object})
    broken.loc[4, column.name] = breaking_value(column)
    with pytest.raises(DataValidationError) as error:
        predictor.predict_frame(broken, first_row=101)
    message = str(error.value)
    assert f"'{column.name}'" in message and rule_name(column) in message
    assert "rows 105 " in message


def test_missing_feature_is_named(model_package, sample, spec):
    predictor = Predictor(load_package(model_package))
    dropped = spec.feature_names[-1]
    with pytest.raises(DataValidationError, match=f"missing column '{dropped}'"):
        predictor.predict_frame(sample.drop(columns=dropped))
