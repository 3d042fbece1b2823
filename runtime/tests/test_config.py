from pathlib import Path

import pytest
from conftest import ROOT
from hydra.utils import instantiate
from omegaconf import OmegaConf

from groundwork.config import (
    HEADER,
    compose_config,
    load_params,
    write_params,
)
from groundwork.data.load import data_spec
from groundwork.errors import UserFacingError
from groundwork.model.train import build_model

CONF = ROOT / "conf"


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


def test_every_group_has_options():
    assert len(options("model")) >= 2
    assert options("data") and options("experiment")


@pytest.mark.parametrize("model", options("model"))
def test_every_model_option_composes_and_instantiates(model):
    cfg = compose_config([f"model={model}"], conf_dir=CONF)
    assert instantiate(cfg.model).get_params()
    build_model(data_spec(cfg), cfg.model)


@pytest.mark.parametrize("data", options("data"))
def test_every_data_option_composes_into_a_spec(data):
    cfg = compose_config([f"data={data}"], conf_dir=CONF)
    assert 0 < cfg.data.test_size < 1
    assert data_spec(cfg).features


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_and_instantiates(experiment):
    default = compose_config(conf_dir=CONF)
    cfg = compose_config([f"experiment={experiment}"], conf_dir=CONF)
    assert cfg != default, "an experiment must change something"
    build_model(data_spec(cfg), cfg.model)


def test_params_yaml_is_conf_composed():
    """params.yaml is derived: it must match conf/ (run `make pipeline` to refresh it)."""
    committed = (ROOT / "params.yaml").read_text()
    assert committed == HEADER + OmegaConf.to_yaml(compose_config(conf_dir=CONF))


def test_write_params_reports_changes_only(tmp_path):
    cfg = compose_config(conf_dir=CONF)
    target = tmp_path / "params.yaml"
    assert write_params(cfg, target) is True
    assert write_params(cfg, target) is False
    assert load_params(target) == cfg


def test_missing_params_and_conf_are_clear_errors(tmp_path):
    with pytest.raises(UserFacingError, match="params"):
        load_params(tmp_path / "params.yaml")
    with pytest.raises(UserFacingError, match="project root"):
        compose_config(conf_dir=Path(tmp_path / "conf"))


def test_a_mistyped_override_says_to_fix_the_key_not_to_append_it():
    with pytest.raises(UserFacingError) as refused:
        compose_config(["model.n_estimatorz=5"], conf_dir=ROOT / "conf")
    message = str(refused.value)
    assert "Could not override 'model.n_estimatorz'" in message
    assert "check its spelling" in message and "-S '+model.max_depth=5'" in message


def test_an_unknown_option_lists_the_choices():
    with pytest.raises(UserFacingError, match="Could not find 'model/nope'"):
        compose_config(["model=nope"], conf_dir=ROOT / "conf")
