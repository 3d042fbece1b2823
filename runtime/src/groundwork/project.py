"""Who the runtime is working for: the project in the folder a command runs in.

Hints print `uv run {COMMAND} ...`, and that must run as printed in the user's project, so
the command's name is the project's console script: the entry of `[project.scripts]` in
the project's `pyproject.toml` that points into this package. Read once, at import, from
the working directory, where every command of a project runs (its root). Outside a project
(the runtime's own tests, a bare install) the runtime's own `groundwork` script is named.
"""

import tomllib
from pathlib import Path
from typing import Any

RUNTIME = "groundwork"


def read_pyproject(root: Path) -> dict[str, Any]:
    """The project's pyproject.toml as a dict; empty when there is none or it is unreadable
    (a hint naming the runtime's command then beats failing every command at import)."""
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def command_name(pyproject: dict[str, Any]) -> str:
    """The console script that runs this runtime's CLI, or the runtime's own."""
    scripts = pyproject.get("project", {}).get("scripts", {})
    for name, target in scripts.items():
        if str(target).split(":")[0].split(".")[0] == RUNTIME:
            return str(name)
    return RUNTIME


def package_name(pyproject: dict[str, Any]) -> str:
    """The import name of the project's own package (src/<package>/, the code its user
    owns): the wheel's package as hatch builds it, else the distribution's name."""
    wheel = pyproject.get("tool", {}).get("hatch", {}).get("build", {}).get("targets", {})
    packages = wheel.get("wheel", {}).get("packages") or []
    if packages:
        return Path(str(packages[0])).name
    return str(pyproject.get("project", {}).get("name", RUNTIME)).replace("-", "_")


def title(pyproject: dict[str, Any]) -> str:
    """The project's name for people (the API's title): `[tool.groundwork] title`, else the
    distribution's name."""
    configured = pyproject.get("tool", {}).get(RUNTIME, {}).get("title")
    return str(configured or pyproject.get("project", {}).get("name") or RUNTIME)


_PYPROJECT = read_pyproject(Path.cwd())
COMMAND = command_name(_PYPROJECT)
TITLE = title(_PYPROJECT)


def own_package() -> str:
    """The project's own package, from the working directory's pyproject.toml when asked (a
    notebook's kernel imports the runtime in notebooks/, then moves to the project's root),
    else from the one read at import (a scratch folder, as the project's smoke run uses)."""
    return package_name(read_pyproject(Path.cwd()) or _PYPROJECT)


# The command's --help opens with the project's own description.
DESCRIPTION = str(_PYPROJECT.get("project", {}).get("description") or "A Groundwork project.")
