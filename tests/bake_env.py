"""The environment bakes and their commands run in: shared by the tests and the benchmarks."""

import os
import sys
from pathlib import Path


def interpreter_dirs() -> list[str]:
    """Folders holding python3.12 / python3.13, so uv finds every version the options offer."""
    dirs = []
    for version in ("3.12", "3.13"):
        for candidate in sorted(Path.home().glob(f".pyenv/versions/{version}*/bin")):
            if (candidate / f"python{version}").exists():
                dirs.append(str(candidate))
                break
    return dirs


def bake_environment() -> dict[str, str]:
    """This template's venv first on PATH (it provides uv, cookiecutter, cruft), then
    interpreters for the other Python versions, so version-manager shims cannot interfere."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), *interpreter_dirs(), env["PATH"]]
    )
    env.pop("VIRTUAL_ENV", None)
    # A user's shell lets Python cache bytecode; without the cache every start of
    # dvc, pre-commit's tools or pytest recompiles its imports (seconds each).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["DVC_NO_ANALYTICS"] = "1"
    # One uv cache for every bake, even those that run with a scratch HOME.
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env.setdefault("LOG_FORMAT", "json")
    return env
