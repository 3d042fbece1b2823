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


def render(name: str, out: Path) -> Path:
    """The template's files rendered for `name`, without the hooks' setup (git, uv, DVC)."""
    from cookiecutter.main import cookiecutter

    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            accept_hooks=False,
            output_dir=str(out),
            extra_context={"project_name": name},
        )
    )


# Short, long and accented names: the rendered code must be formatted whatever the name.
NAMES = [
    "Penguins",
    "Diabetes",
    "Tumour Classifier",
    "Quarterly Revenue Forecast For Retail Stores EU",
]


@pytest.mark.parametrize("name", NAMES)
def test_rendered_project_is_formatted_for_any_name(name, tmp_path):
    project = render(name, tmp_path)
    run([RUFF, "format", "--check", "."], project)
    run([RUFF, "check", "."], project)


@pytest.mark.parametrize(
    "name, slug",
    [("Détection de Fraude 2", "detection-de-fraude-2"), ("Churn_Model  v2", "churn-model-v2")],
)
def test_default_slug_is_transliterated_from_any_human_name(name, slug, tmp_path):
    project = render(name, tmp_path)
    assert project.name == slug
    assert (project / "src" / slug.replace("-", "_")).is_dir()
