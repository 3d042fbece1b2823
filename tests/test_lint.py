"""The template's own Python (hooks, tests, benchmarks) is linted and formatted."""

import ast
import re
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE, run

RUFF = str(Path(sys.executable).parent / "ruff")
PATHS = ["hooks", "tests", "benchmarks", "local_extensions.py"]


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


# A command a hint names must run as printed from the project's root: the tools that
# live in the project's environment are reached through `uv run`.
ENV_TOOLS = re.compile(r"(?<![\w/-])(dvc|gto|pytest|ruff|jupyter) [a-z]")


def printed_strings(path: Path) -> list[str]:
    """Every string literal in a module but its docstrings, f-strings' literal parts included."""
    tree = ast.parse(path.read_text())
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


def test_hints_name_commands_that_run_as_printed(tmp_path):
    project = render("Tumour Classifier", tmp_path)
    bare = []
    for module in sorted((project / "src").rglob("*.py")):
        for text in printed_strings(module):
            for match in ENV_TOOLS.finditer(text):
                if not text[: match.start()].endswith("uv run "):
                    bare.append(f"{module.relative_to(project)}: {text.strip()!r}")
    assert not bare, "hints that name a tool without `uv run`:\n" + "\n".join(bare)
