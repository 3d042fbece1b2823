"""Hydra's conf/ is the source of truth; params.yaml is its composed, resolved form.

DVC reads params.yaml to decide which stages a change affects, and its Hydra
integration rewrites the same file for `dvc exp run -S ...`. The stages read
params.yaml, never conf/ directly, so an override always reaches them.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from . import COMMAND
from .artifacts import atomic_path
from .errors import UserFacingError

CONF_DIR = Path("conf")
CONFIG_NAME = "config"
PARAMS_FILE = Path("params.yaml")
HEADER = f"# Composed from conf/ by `uv run {COMMAND} params`: edit conf/, not this file.\n"


def compose_config(overrides: Sequence[str] = (), conf_dir: Path = CONF_DIR) -> DictConfig:
    """Compose conf/ with Hydra overrides (e.g. 'model=logistic_regression') and resolve it."""
    if not (conf_dir / f"{CONFIG_NAME}.yaml").exists():
        raise UserFacingError(
            f"{conf_dir / CONFIG_NAME}.yaml not found: run the command from the project root."
        )
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(conf_dir.resolve()), version_base=None):
            cfg = compose(config_name=CONFIG_NAME, overrides=list(overrides))
    except HydraException as exc:
        raise UserFacingError(override_error(str(exc))) from exc
    OmegaConf.resolve(cfg)
    return cfg


def override_error(message: str) -> str:
    """Hydra's message, with its `+key=value` hint put right: a mistyped key is the usual
    cause, and appending it would hand the model a parameter it does not know."""
    first = message.splitlines()[0] if message else "the override failed"
    if "To append to your config use +" not in message:
        return f"conf/ could not be composed: {message}"
    return (
        f"{first} conf/ has no such key: check its spelling in conf/ (the composed "
        f"config is in params.yaml). Only to add a key that conf/ lacks on purpose, "
        f"prefix it with '+', e.g. `uv run dvc exp run -S '+model.max_depth=5'`."
    )


def write_params(cfg: DictConfig, path: Path = PARAMS_FILE) -> bool:
    """Write the composed config to params.yaml; return whether the file changed."""
    text = HEADER + OmegaConf.to_yaml(cfg)
    if path.exists() and path.read_text() == text:
        return False
    with atomic_path(path) as tmp:  # a write that fails leaves no half file behind
        tmp.write_text(text)
    return True


def load_params(path: Path = PARAMS_FILE) -> DictConfig:
    """The parameters the pipeline runs with."""
    if not path.exists():
        raise UserFacingError(
            f"{path} not found: run `uv run {COMMAND} params` to compose it from conf/."
        )
    cfg = OmegaConf.load(path)
    assert isinstance(cfg, DictConfig)
    return cfg


def as_dict(section: Any) -> dict[str, Any]:
    """A mapping section of the config (e.g. `cfg.monitoring`) as a plain, resolved dict:
    what the functions over plain data take."""
    plain = OmegaConf.to_container(section, resolve=True) if OmegaConf.is_config(section) else None
    if not isinstance(plain, dict):
        raise UserFacingError(
            f"expected a mapping of names to values in the config, found {section!r}: "
            "fix the section in conf/ (params.yaml shows the composed config)."
        )
    return {str(key): value for key, value in plain.items()}
