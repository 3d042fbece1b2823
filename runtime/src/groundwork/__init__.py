"""Groundwork's runtime: the platform a Groundwork project runs on.

A project depends on this package and keeps its own code, `conf/` and data; its console
script runs `groundwork.cli:main`. The public API is listed in the runtime's README.
"""

from importlib import metadata

from .project import COMMAND, TITLE

# The installed distribution's version: pyproject.toml is its one source.
__version__ = metadata.version("groundwork-runtime")
__all__ = ["COMMAND", "TITLE", "__version__"]
