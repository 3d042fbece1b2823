"""The template's own Python (hooks, tests, benchmarks) is linted and formatted."""

import sys
from pathlib import Path

from conftest import TEMPLATE, run

RUFF = str(Path(sys.executable).parent / "ruff")
PATHS = ["hooks", "tests", "benchmarks"]


def test_ruff_check():
    run([RUFF, "check", *PATHS], TEMPLATE)


def test_ruff_format():
    run([RUFF, "format", "--check", *PATHS], TEMPLATE)
