"""Groundwork's runtime: the platform a Groundwork project runs on.

A project depends on this package and keeps its own code, `conf/` and data; its console
script runs `groundwork.cli:main`. The public API is listed in the runtime's README.
"""

from .project import COMMAND, TITLE

__version__ = "0.1.0"
__all__ = ["COMMAND", "TITLE", "__version__"]
