"""Derived features: declared in the data config, computed by the project's `derive`, the
same function in the features step, the package, the API and batch scoring, with ONNX
still verified and serving."""

import json
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, make_package
from fastapi.testclient import TestClient

from groundwork.config import compose_config
from groundwork.data.sample import synthesize
from groundwork.data.schema import raw_schema
from groundwork.data.spec import SpecError, spec_from_config, spec_to_config
from groundwork.errors import DataValidationError
from groundwork.model.derived import DeriveError, derived_columns, project_derive, within_rules
from groundwork.model.features import split, with_derived
from groundwork.model.train import fit
from groundwork.release.package import FEATURES_FILE, ModelPackageError, load_package
from groundwork.release.predictor import PREDICTION, Predictor
from groundwork.serving.api import create_app
from groundwork.serving.batch import score_file

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
DATA = {
    "task": "classification",
    "target": {"name": "species", "classes": SPECIES},
    "columns": {
        "penguin_id": {"role": "identifier"},
        "island": {"role": "categorical", "values": ["Biscoe", "Dream", "Torgersen"]},
        "bill_length_mm": {"role": "numeric", "nullable": True, "min": 25.0, "max": 65.0},
        "bill_depth_mm": {"role": "numeric", "min": 12.0, "max": 24.0},
        "body_mass_g": {"role": "numeric", "min": 2000.0, "max": 7000.0},
        "observed_on": {"role": "ignored", "example": "2021-06-15"},
        "bill_ratio": {
            "role": "numeric", "derived": True, "from": ["bill_length_mm", "bill_depth_mm"],
            "min": 1.0, "max": 4.0, "nullable": True,
        },
        "observed_month": {"role": "numeric", "derived": True, "from": ["observed_on"],
                           "min": 1, "max": 12, "nullable": True},
        "size": {"role": "categorical", "derived": True, "from": ["body_mass_g"],
                 "values": ["small", "large"]},
    },
}  # fmt: skip
# What a user writes in src/<package>/features.py: plain vectorised code over columns.
FEATURES = textwrap.dedent(
    """
    import numpy as np


    def derive(columns):
        month = columns["observed_on"].astype("datetime64[M]")
        return {
            "bill_ratio": columns["bill_length_mm"] / columns["bill_depth_mm"],
            "observed_month": np.where(np.isnat(month), np.nan, month.astype("int64") % 12 + 1),
            "size": np.where(columns["body_mass_g"] > 4500, "large", "small"),
        }
    """
)


def penguins(rows: int = 600, seed: int = 7) -> pd.DataFrame:
    """Species told apart by the bill's shape (a ratio), the mass and the island; the bill
    length has gaps, and the date of each sighting is text."""
    rng = np.random.default_rng(seed)
    species = rng.choice(SPECIES, rows)
    depth = np.select([species == "Gentoo"], [15.0], 18.5) + rng.normal(0, 0.8, rows)
    ratio = np.select([species == "Adelie", species == "Chinstrap"], [2.1, 2.65], 3.15)
    elsewhere = rng.choice(["Dream", "Torgersen"], rows)
    mass = np.select([species == "Gentoo"], [5100.0], 3700.0) + rng.normal(0, 350, rows)
    frame = pd.DataFrame(
        {
            "penguin_id": np.arange(1, rows + 1),
            "island": np.where(species == "Gentoo", "Biscoe", elsewhere),
            "bill_length_mm": (depth * (ratio + rng.normal(0, 0.08, rows))).round(1),
            "bill_depth_mm": depth.round(1),
            "body_mass_g": mass.round(0),
            "observed_on": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 1000, rows), unit="D"),
            "species": species,
        }
    )  # fmt: skip
    frame["observed_on"] = frame["observed_on"].dt.strftime("%Y-%m-%d")
    frame.loc[rng.random(rows) < 0.05, "bill_length_mm"] = np.nan
    return frame


@pytest.fixture(scope="module")
def spec():
    return spec_from_config(DATA)


@pytest.fixture(scope="module")
def derive(tmp_path_factory):
    """`derive` of a project package on the import path, as the features step finds it."""
    src = tmp_path_factory.mktemp("src")
    (src / "penguin_lab").mkdir()
    (src / "penguin_lab/__init__.py").write_text("")
    (src / "penguin_lab/features.py").write_text(FEATURES)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(src))
        yield project_derive("penguin_lab")


@pytest.fixture(scope="module")
def package(spec, derive, tmp_path_factory):
    """The features step, training and packaging, on the derived columns."""
    raw = penguins()
    validated = raw_schema(spec).validate(raw)
    train, test = split(with_derived(validated, spec, derive), spec, 0.25, 0)
    model = fit(train, spec, compose_config(conf_dir=ROOT / "conf").model)
    path = make_package(model, spec, test, tmp_path_factory.mktemp("pkg"), features_source=FEATURES)
    return path, test


def test_the_data_config_declares_derived_columns_and_the_raw_ones_they_read(spec):
    assert [c.name for c in spec.derived] == ["bill_ratio", "observed_month", "size"]
    assert spec.feature_names[-3:] == ["bill_ratio", "observed_month", "size"]
    raw = ["island", "bill_length_mm", "bill_depth_mm", "body_mass_g"]
    assert spec.derive_inputs == ["bill_length_mm", "bill_depth_mm", "observed_on", "body_mass_g"]
    assert spec.inputs == [*raw, "observed_on"]
    assert spec_from_config(spec_to_config(spec)) == spec
    # The raw file holds no derived column: the raw schema does not ask for one.
    assert not {"bill_ratio", "observed_month", "size"} & set(raw_schema(spec).columns)


DERIVED = {"role": "numeric", "derived": True}
MALFORMED = [
    (DERIVED, "list the raw columns that `derive`"),
    (DERIVED | {"from": ["nope"]}, "'nope', which is not a raw column: declare it"),
    (DERIVED | {"from": ["species"]}, "the target is not known when scoring"),
    (DERIVED | {"from": ["size"]}, "computed from raw ones only"),
    (DERIVED | {"from": ["email"]}, "not computed from personal data"),
    (DERIVED | {"role": "identifier", "from": ["island"]}, "role must be numeric or categorical"),
    ({"role": "numeric", "from": ["island"]}, "add it, or drop `from`"),
    (DERIVED | {"derived": "yes", "from": ["island"]}, "derived must be true or false"),
]


@pytest.mark.parametrize(("rules", "message"), MALFORMED)
def test_a_malformed_derived_column_is_refused_with_its_fix(rules, message):
    columns = DATA["columns"] | {"email": {"role": "identifier", "pii": True}, "new": rules}
    with pytest.raises(SpecError, match="columns.new") as error:
        spec_from_config(DATA | {"columns": columns})
    assert message in str(error.value)


def test_what_derive_returns_is_checked_against_the_data_config(spec):
    columns = {
        "bill_length_mm": [40.0, None, 50.0], "bill_depth_mm": [20.0, 18.0, 12.5],
        "observed_on": ["2021-06-15", None, "2022-01-31"], "body_mass_g": [3000.0, 4600.0, 5000.0],
    }  # fmt: skip
    derive = project_derive_from(FEATURES)
    found = derived_columns(spec, derive, columns, 3)
    assert found["bill_ratio"][0] == 2.0 and np.isnan(found["bill_ratio"][1])
    assert found["observed_month"].tolist()[::2] == [6.0, 1.0]
    assert found["size"].tolist() == ["small", "large", "large"]

    with pytest.raises(DataValidationError) as broken:  # 50 / 12.5 = 4.0 is the max; 45 is not
        derived_columns(spec, derive, columns | {"bill_length_mm": [40.0, 45.0, 60.0]}, 3, 10)
    said = "'bill_ratio' fails rule less_than_or_equal_to(4) in 1 row(s): rows 12"
    assert said in str(broken.value)
    infinite = columns | {"bill_depth_mm": [0.0, 18.0, 12.5]}
    with pytest.raises(DataValidationError, match="'bill_ratio' fails rule finite .* rows 1 "):
        derived_columns(spec, derive, infinite, 3)
    with pytest.raises(DeriveError, match=r"returns \['bill_ratio'\].*declares \['bill_ratio'"):
        derived_columns(spec, lambda c: {"bill_ratio": c["bill_length_mm"]}, columns, 3)
    with pytest.raises(DeriveError, match="shape \\(1,\\) for 3 rows: return one value a row"):
        derived_columns(spec, lambda c: derive(c) | {"size": np.array(["small"])}, columns, 3)
    with pytest.raises(DeriveError, match="failed: KeyError"):
        derived_columns(spec, lambda c: c["not_read"], columns, 3)


def test_synthesized_rows_keep_only_those_whose_derived_values_keep_the_rules(spec):
    rows = synthesize(spec, rows=300, seed=2)  # lengths and depths drawn independently
    derive = project_derive_from(FEATURES)
    columns = {name: rows[name].to_numpy() for name in spec.derive_inputs}
    with pytest.raises(DataValidationError, match="'bill_ratio' fails rule"):
        derived_columns(spec, derive, columns, len(rows))
    derived = derived_columns(spec, derive, columns, len(rows), check=False)
    kept = within_rules(spec, derived, len(rows))
    assert 0 < kept.sum() < len(rows)
    ratios = derived["bill_ratio"][kept]
    assert np.nanmin(ratios) >= 1.0 and np.nanmax(ratios) <= 4.0  # a gap (NaN) is allowed


def project_derive_from(source: str):
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - the test's own features.py
    return namespace["derive"]


def test_the_package_carries_features_py_and_onnx_serves_the_derived_model(package, spec):
    path, test = package
    loaded = load_package(path)
    assert (path / FEATURES_FILE).read_text() == FEATURES
    assert loaded.lineage["onnx"]["verified"] is True
    predictor = Predictor(loaded)
    assert predictor.engine == "onnxruntime"

    # One record at a time (the API's path) and the whole frame at once (batch, Spark)
    # compute the same derived features, so give the same predictions.
    rows = test[spec.inputs].head(40).astype(object).where(test[spec.inputs].head(40).notna(), None)
    records = rows.to_dict(orient="records")
    one_by_one = [predictor.records([dict(r)])[0][PREDICTION] for r in records]
    at_once = predictor.predict_frame(test.head(40))[PREDICTION].tolist()
    assert one_by_one == at_once
    assert (predictor.predict_frame(test)[PREDICTION] == test["species"]).mean() > 0.9
    # The derived values join the record, as the prediction log keeps them.
    i = next(i for i, r in enumerate(records) if r["bill_length_mm"] is not None)
    scored = dict(records[i])
    predictor.records([scored])
    assert scored["bill_ratio"] == pytest.approx(test["bill_ratio"].iloc[i])


def test_a_changed_features_py_in_a_package_is_refused(package, tmp_path):
    copy = shutil.copytree(package[0], tmp_path / "package")
    (copy / FEATURES_FILE).write_text(FEATURES.replace("4500", "1"))
    with pytest.raises(ModelPackageError, match="features.py does not match the checksum"):
        load_package(copy)


def test_the_api_asks_for_raw_inputs_and_logs_the_derived_ones(package, tmp_path):
    log = tmp_path / "predictions.jsonl"
    with TestClient(create_app(package[0], log)) as client:
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Record"]
        assert not {"bill_ratio", "observed_month", "size"} & set(schema["properties"])
        assert "observed_on" in schema["required"] and "bill_depth_mm" in schema["required"]
        (example,) = schema["examples"]
        assert example["observed_on"] == "2021-06-15"

        answer = client.post("/predict", json=example)
        assert answer.status_code == 200, answer.text
        logged = json.loads(log.read_text().splitlines()[-1])["inputs"]
        assert logged["size"] in ("small", "large") and logged["observed_month"] == 6.0

        # Valid raw inputs whose ratio is beyond the data config's rule: refused, by name.
        extreme = example | {"bill_length_mm": 60.0, "bill_depth_mm": 12.0}
        refused = client.post("/predict", json=extreme)
        assert refused.status_code == 422
        assert "'bill_ratio' fails rule less_than_or_equal_to(4)" in refused.json()["detail"]
        undated = {k: v for k, v in example.items() if k != "observed_on"}
        missing = client.post("/predict", json=undated)
        assert missing.status_code == 422 and "observed_on" in missing.text


def test_batch_scoring_computes_the_derived_features_from_the_file(package, tmp_path):
    path, _ = package
    source = tmp_path / "penguins.csv"
    penguins(rows=300, seed=8).to_csv(source, index=False)
    assert score_file(source, tmp_path / "scored.csv", path, chunk_size=70, progress=False) == 300
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert (scored[PREDICTION] == scored["species"]).mean() > 0.9
    assert "bill_ratio" not in scored  # the output is the input and its predictions
