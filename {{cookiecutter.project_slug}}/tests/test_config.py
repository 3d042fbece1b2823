"""conf/ is the project's truth: every data config and model in it is valid, for the data
the project has."""

import pytest
from conftest import ROOT
from groundwork.config import compose_config
from groundwork.data.load import data_spec
from groundwork.model.train import build_model

DATA_CONFIGS = sorted(path.stem for path in (ROOT / "conf/data").glob("*.yaml"))
MODELS = sorted(path.stem for path in (ROOT / "conf/model").glob("*.yaml"))


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_every_data_config_describes_a_task_a_target_and_features(name):
    spec = data_spec(compose_config([f"data={name}"], conf_dir=ROOT / "conf"))
    assert spec.target.name not in spec.feature_names
    assert spec.feature_names, f"conf/data/{name}.yaml declares no feature"
    if spec.is_classification:
        assert len(spec.target.classes) >= 2


def test_the_data_passes_the_data_config(sample, spec):
    # `sample` is validated against the schema the data config makes: bad rows fail here,
    # naming the column and the rule.
    assert len(sample) > 0
    assert set(spec.inputs) <= set(sample.columns)
    if spec.is_classification:
        assert set(sample[spec.target.name].unique()) <= set(spec.target.classes)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_in_conf_suits_the_data_s_task(name, spec):
    model_cfg = compose_config([f"model={name}"], conf_dir=ROOT / "conf").model
    pipeline = build_model(spec, model_cfg)
    assert pipeline.steps[-1][0] == "model"
