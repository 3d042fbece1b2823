"""The template's own Python (hooks, tests, benchmarks) is linted and formatted."""

import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE, run

RUFF = str(Path(sys.executable).parent / "ruff")
PATHS = ["hooks", "tests", "benchmarks"]


def test_ruff_check():
    run([RUFF, "check", *PATHS], TEMPLATE)


def test_ruff_format():
    run([RUFF, "format", "--check", *PATHS], TEMPLATE)


# Short, long and accented names: the rendered code must be formatted whatever the name.
NAMES = [
    "Penguins",
    "Diabetes",
    "Tumour Classifier",
    "Quarterly Revenue Forecast For Retail Stores EU",
]


@pytest.mark.parametrize("name", NAMES)
def test_rendered_project_is_formatted_for_any_name(name, tmp_path):
    from cookiecutter.main import cookiecutter

    project = cookiecutter(
        str(TEMPLATE),
        no_input=True,
        accept_hooks=False,
        output_dir=str(tmp_path),
        extra_context={"project_name": name},
    )
    run([RUFF, "format", "--check", "."], Path(project))
    run([RUFF, "check", "."], Path(project))
