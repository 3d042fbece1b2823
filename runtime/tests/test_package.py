"""The model package: lineage and signature written with the model, ONNX verified against
scikit-learn before it ships, and every file refused when altered."""

import hashlib
import io
import json
from pathlib import Path

import joblib
import numpy as np
import pytest
import structlog
from conftest import dvc_add, make_package, write_raw
from omegaconf import OmegaConf

from groundwork.release import cost
from groundwork.release.cost import (
    batch_figures,
    feature_records,
    latency_figures,
    loaded_memory_mb,
    package_mb,
)
from groundwork.release.package import (
    CHECKSUMS,
    LINEAGE_FILE,
    MODEL_FILE,
    ONNX_FILE,
    SIGNATURE_FILE,
    ModelPackageError,
    data_hash,
    load_package,
    seal_lineage,
    write_package,
)


def test_package_loads_with_its_lineage_signature_and_version(model_package, spec):
    package = load_package(model_package)
    lineage = json.loads((model_package / LINEAGE_FILE).read_text())
    assert package.lineage == lineage
    for name, key in (
        (MODEL_FILE, "checksum"),
        (ONNX_FILE, "onnx_checksum"),
        (SIGNATURE_FILE, "signature_checksum"),
    ):
        assert lineage[key] == hashlib.sha256((model_package / name).read_bytes()).hexdigest()
    assert package.version == lineage["checksum"][:12]
    assert package.spec == spec
    assert package.signature["task"] == spec.task
    if spec.is_classification:
        assert set(package.classes) == set(spec.target.classes)
    # Verified on the test split; differences are relative to the values' size.
    assert lineage["onnx"]["verified"] is True and lineage["onnx"]["rows"] > 0


def test_a_version_set_in_the_lineage_wins(package_copy):
    lineage = json.loads((package_copy / LINEAGE_FILE).read_text())
    (package_copy / LINEAGE_FILE).write_text(json.dumps(seal_lineage(lineage | {"version": "v3"})))
    assert load_package(package_copy).version == "v3"


@pytest.mark.parametrize("name", [MODEL_FILE, ONNX_FILE, SIGNATURE_FILE])
def test_changed_file_is_refused(package_copy, name):
    with (package_copy / name).open("ab") as packaged:
        packaged.write(b"\0")
    with pytest.raises(ModelPackageError) as error:
        load_package(package_copy)
    message = str(error.value)
    assert name in message and "checksum" in message and "make pipeline" in message


def test_an_edited_lineage_is_refused(package_copy):
    """Better metrics written into the lineage alone, every model file untouched."""
    lineage = json.loads((package_copy / LINEAGE_FILE).read_text())
    lineage["metrics"] = dict.fromkeys(lineage["metrics"], 1.0)
    (package_copy / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n")
    with pytest.raises(ModelPackageError) as error:
        load_package(package_copy)
    message = str(error.value)
    assert f"{LINEAGE_FILE} does not match its checksum" in message and "make pipeline" in message


def _replace_with_garbage(package_dir, name, key):
    """Overwrite a model file and record its new checksum, as if it had been packaged so."""
    (package_dir / name).write_bytes(b"not a model")
    lineage = json.loads((package_dir / LINEAGE_FILE).read_text())
    lineage[key] = hashlib.sha256(b"not a model").hexdigest()
    (package_dir / LINEAGE_FILE).write_text(json.dumps(seal_lineage(lineage)))


def test_corrupt_model_with_matching_checksum_is_refused(package_copy):
    _replace_with_garbage(package_copy, MODEL_FILE, "checksum")
    with pytest.raises(ModelPackageError, match=f"{MODEL_FILE} cannot be loaded"):
        _ = load_package(package_copy).model


def test_corrupt_onnx_with_matching_checksum_is_refused(package_copy):
    _replace_with_garbage(package_copy, ONNX_FILE, "onnx_checksum")
    with pytest.raises(ModelPackageError, match=f"{ONNX_FILE} cannot be loaded"):
        load_package(package_copy).onnx_model()


def test_onnx_disagreement_ships_no_onnx_and_says_why(fitted, spec, tmp_path):
    """A tolerance of zero makes ONNX Runtime's float32 rounding a disagreement."""
    model, _, test = fitted
    with structlog.testing.capture_logs() as logs:
        package = load_package(make_package(model, spec, test, tmp_path, tolerance=0.0))
    assert not (package.path / ONNX_FILE).exists() and package.onnx_model() is None
    assert package.lineage["onnx"]["verified"] is False
    assert "beyond the tolerance 0" in package.lineage["onnx"]["reason"]
    [warning] = [log for log in logs if log["log_level"] == "warning"]
    assert "scikit-learn will serve the model" in warning["event"]
    assert "beyond the tolerance" in warning["reason"]


def test_custom_preprocessing_is_served_by_scikit_learn(fitted, spec, tmp_path):
    """A pipeline step the numpy encoding does not know: no ONNX, scikit-learn serves it."""
    from sklearn.preprocessing import RobustScaler

    model, train, test = fitted
    custom = joblib.load(make_package(model, spec, test, tmp_path / "a") / MODEL_FILE)
    custom.steps[1] = ("scale", RobustScaler())
    custom.fit(train[spec.feature_names], train[spec.target.name])
    package = load_package(make_package(custom, spec, test, tmp_path / "b"))
    assert package.onnx_model() is None
    assert "custom" in package.lineage["onnx"]["reason"]


@pytest.mark.parametrize("missing", [MODEL_FILE, ONNX_FILE, LINEAGE_FILE, SIGNATURE_FILE])
def test_missing_file_is_named(package_copy, missing):
    (package_copy / missing).unlink()
    with pytest.raises(ModelPackageError, match=f"{missing} is missing"):
        load_package(package_copy)


def test_unreadable_lineage_is_named(package_copy):
    (package_copy / LINEAGE_FILE).write_text("{not json")
    with pytest.raises(ModelPackageError, match=f"{LINEAGE_FILE} is unreadable"):
        load_package(package_copy)


def test_missing_package_says_how_to_build_one(tmp_path):
    with pytest.raises(ModelPackageError, match="not found: rebuild it with `make pipeline`"):
        load_package(tmp_path / "nowhere")


def test_failed_packaging_keeps_the_previous_package(package_copy, tmp_path):
    before = {path.name: path.read_bytes() for path in package_copy.iterdir()}
    with pytest.raises(FileNotFoundError):
        write_package(tmp_path / "no-model.joblib", package_copy, {}, {}, None)
    assert {path.name: path.read_bytes() for path in package_copy.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["package"]


def _packaging_inputs(cfg, model, test) -> None:
    """What the `package` step reads, written where the config puts it (in `workdir`)."""
    write_raw(test, Path(cfg.data.raw_path))
    Path(cfg.artifacts.model).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, cfg.artifacts.model)
    Path(cfg.artifacts.evaluation).mkdir(parents=True)
    (Path(cfg.artifacts.evaluation) / "metrics.json").write_text('{"f1": 0.5}')
    Path(cfg.data.test_path).parent.mkdir(parents=True, exist_ok=True)
    test.to_parquet(cfg.data.test_path)


def test_a_failed_cost_measurement_publishes_nothing(workdir, cfg, fitted, spec, model_package):
    """`package` measures the cost inside the new package before it replaces the old one:
    rows the predictor cannot score (a feature column missing) fail the measurement, and
    the previous package stays as it was, with no scratch file beside it."""
    import shutil

    from groundwork.cli import main

    model, _, test = fitted
    assert main(["params"]) == 0
    previous = Path(shutil.copytree(model_package, cfg.artifacts.package))
    before = {path.name: path.read_bytes() for path in previous.iterdir()}
    _packaging_inputs(cfg, model, test)
    test.drop(columns=spec.feature_names[:1]).to_parquet(cfg.data.test_path)
    with pytest.raises(KeyError):
        main(["package"])
    assert {path.name: path.read_bytes() for path in previous.iterdir()} == before
    assert sorted(path.name for path in previous.parent.iterdir()) == sorted(
        [previous.name, Path(cfg.artifacts.model).name]
    )


def test_a_changed_registered_package_says_to_fetch_it_again(package_copy):
    """`make pipeline` rebuilds the candidate, never a registered version: that one comes
    back from the DVC remote."""
    lineage = json.loads((package_copy / LINEAGE_FILE).read_text())
    registered = seal_lineage(lineage | {"version": "v0.0.3"})
    (package_copy / LINEAGE_FILE).write_text(json.dumps(registered))
    with (package_copy / MODEL_FILE).open("ab") as packaged:
        packaged.write(b"\0")
    with pytest.raises(ModelPackageError) as error:
        load_package(package_copy)
    message = str(error.value)
    assert "v0.0.3" in message and f"rm -r {package_copy} && make data" in message
    assert "make pipeline" not in message


def test_data_hash_is_the_md5_dvc_records_and_follows_an_edit(tmp_path, commit):
    commit(tmp_path)  # a repository, for DVC
    raw = tmp_path / "raw.csv"
    raw.write_text("a\n1\n")
    assert data_hash(raw) == hashlib.md5(b"a\n1\n").hexdigest()  # before DVC tracks it
    dvc_add(tmp_path, "raw.csv")
    recorded = OmegaConf.load(tmp_path / "raw.csv.dvc").outs[0].md5
    assert data_hash(raw) == recorded
    raw.write_text("a\n2\n")  # edited; `dvc add` not run yet, so the pointer is stale
    assert data_hash(raw) == hashlib.md5(b"a\n2\n").hexdigest() != recorded


def test_outputs_of_both_engines_are_close(model_package, unseen_rows, spec):
    package = load_package(model_package)
    columns = {name: unseen_rows[name].to_numpy() for name in spec.feature_names}
    onnx = package.onnx_model().outputs(columns, len(unseen_rows))
    from groundwork.model.evaluate import (
        model_outputs,
    )

    np.testing.assert_allclose(
        onnx, model_outputs(package.model, unseen_rows, spec), rtol=1e-4, atol=1e-4
    )


def test_cost_figures_from_timings():
    # 19 calls of 1 ms and one of 11 ms: the 95th percentile lies 5% of the way from the
    # 19th sorted value to the 20th (numpy's linear interpolation), 1 + 0.05 * 10 ms.
    assert latency_figures([0.001] * 19 + [0.011]) == pytest.approx(
        {"latency_p50_ms": 1.0, "latency_p95_ms": 1.5}
    )
    # 10,000 rows in 0.5 s of wall time and 0.25 s of CPU time.
    assert batch_figures(10_000, 0.5, 0.25) == pytest.approx(
        {"throughput_rows_per_s": 20_000.0, "cpu_s_per_million": 25.0}
    )


def test_package_size_counts_every_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.bin").write_bytes(b"x" * 1_500_000)
    (tmp_path / "sub" / "b.bin").write_bytes(b"x" * 500_000)
    assert package_mb(tmp_path) == 2.0


def test_the_cost_is_measured_into_the_lineage_and_metadata(workdir, cfg, fitted, tmp_path):
    from fastapi.testclient import TestClient

    from groundwork.release import build
    from groundwork.serving.api import (
        create_app,
    )

    model, _, test = fitted
    _packaging_inputs(cfg, model, test)
    target = build.run(cfg)
    package = load_package(target)  # the checksums, the lineage's too, hold
    cost = package.lineage["cost"]
    assert package.lineage["metrics"] == {"f1": 0.5}
    assert 0 < cost["latency_p50_ms"] <= cost["latency_p95_ms"]
    assert cost["throughput_rows_per_s"] > 0 and cost["cpu_s_per_million"] > 0
    # Measured before the lineage gained `cost`: every file but that addition, no other.
    model_mb = (target / MODEL_FILE).stat().st_size / 1_000_000
    assert model_mb < cost["package_mb"] <= package_mb(target)
    names = {path.name for path in target.iterdir()}
    assert {MODEL_FILE, SIGNATURE_FILE, LINEAGE_FILE} <= names <= {*CHECKSUMS, LINEAGE_FILE}
    assert cost["memory_mb"] > 0  # a second ONNX Runtime session holds its own model
    app = create_app(target, prediction_log=tmp_path / "predictions.jsonl")
    with TestClient(app) as client:
        assert client.get("/metadata").json()["cost"] == cost


def test_a_package_the_measuring_process_cannot_open_is_named_with_its_reason(package_copy):
    with (package_copy / MODEL_FILE).open("ab") as model:
        model.write(b"\0")
    with pytest.raises(RuntimeError) as error:
        loaded_memory_mb(package_copy, [])
    said = str(error.value)
    assert said.startswith(f"measuring the memory of {package_copy} failed: ")
    assert MODEL_FILE in said and "Traceback" in said  # the child's own error, in full


def test_the_memory_process_answers_one_json_line(model_package, sample, spec, monkeypatch, capsys):
    """What the parent reads from the child `loaded_memory_mb` starts (run here in-process)."""
    records = feature_records(sample.head(3), spec)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(records)))
    cost._second_copy_memory(str(model_package))
    (line,) = capsys.readouterr().out.splitlines()
    answer = json.loads(line)
    assert list(answer) == ["memory_mb"] and answer["memory_mb"] == round(answer["memory_mb"], 1)
    assert answer["memory_mb"] >= 0
