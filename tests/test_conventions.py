"""The conventions a baked project promises are checks that fail when broken: a test for
every module, no print in src/, types that check, and a coverage floor. Each is run the way
a person runs it, on the fresh project and on a planted violation, whose message must name
the fix. (That `make test` passes its floor on a fresh bake, test_bake.py shows.)"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import bake, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(cookies_session) -> Path:
    """A default project of this module's own: the tests plant violations in it."""
    return bake(cookies_session, project_name="Convention Check")


def package(project: Path) -> str:
    [name] = [path.parent.name for path in (project / "src").glob("*/__init__.py")]
    return name


def hook(project: Path, hook_id: str):
    """One pre-commit hook on every file git knows, as `make lint` runs it."""
    return run(["uv", "run", "pre-commit", "run", hook_id, "--all-files"], project, check=False)


@contextmanager
def planted(project: Path, files: dict[str, str]):
    """Append to (or create) files, staged so that pre-commit sees them; then put the
    project back as it was committed."""
    try:
        for rel, text in files.items():
            path = project / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text((path.read_text() if path.exists() else "") + text)
            run(["git", "add", rel], project)
        yield
    finally:
        run(["git", "reset", "--quiet", "--hard", "HEAD"], project)
        run(["git", "clean", "-fdq", "--", "src", "tests"], project)


def test_a_fresh_project_passes_each_check(project):
    for hook_id in ("tested-modules", "mypy", "ruff-check"):
        done = hook(project, hook_id)
        assert done.returncode == 0, done.stdout + done.stderr
    makefile = (project / "Makefile").read_text()
    assert "\tuv run pytest --cov-fail-under=80\n" in makefile


def test_a_module_no_test_imports_is_named_with_its_fix(project):
    pkg = package(project)
    module = f"src/{pkg}/forecast.py"
    with planted(project, {module: "def horizon() -> int:\n    return 7\n"}):
        done = hook(project, "tested-modules")
        assert done.returncode == 1
        assert (
            f"{module}: no test imports {pkg}.forecast. Write tests/test_forecast.py with "
            f"`from {pkg} import forecast` and a test of what it does."
        ) in done.stdout
        # The fix it names makes it pass.
        test = (
            f"from {pkg} import forecast\n\n\ndef test_horizon():\n    assert forecast.horizon()\n"
        )
        (project / "tests/test_forecast.py").write_text(test)
        run(["git", "add", "tests/test_forecast.py"], project)
        assert hook(project, "tested-modules").returncode == 0


def test_a_print_in_src_fails_lint_where_tests_may_print(project):
    pkg = package(project)
    printing = '\n\ndef announce(path):\n    print(f"wrote {path}")\n'
    files = {f"src/{pkg}/helpers.py": printing, "tests/test_helpers.py": printing}
    with planted(project, files):
        done = hook(project, "ruff-check")
        assert done.returncode == 1
        # ruff's full output: the rule's line, then `--> file:line:column`.
        flagged = re.findall(r"T201 .*\n\s*--> (\S+\.py):\d+:\d+", done.stdout)
        assert flagged == [f"src/{pkg}/helpers.py"], done.stdout
        assert "`print` found" in done.stdout


def test_a_type_error_fails_mypy_naming_the_line_and_the_types(project):
    pkg = package(project)
    wrong = "\n\ndef halve(count: int) -> int:\n    return count / 2\n"
    # The body of a function without annotations is checked too (check_untyped_defs).
    unannotated = '\n\ndef label(count):\n    width: int = "wide"\n    return width\n'
    with planted(project, {f"src/{pkg}/helpers.py": wrong + unannotated}):
        done = hook(project, "mypy")
        assert done.returncode == 1
        assert re.search(
            rf"src/{pkg}/helpers\.py:\d+: error: Incompatible return value type "
            r'\(got "float", expected "int"\)  \[return-value\]',
            done.stdout,
        ), done.stdout
        assert re.search(
            rf"src/{pkg}/helpers\.py:\d+: error: Incompatible types in assignment "
            r'\(expression has type "str", variable has type "int"\)  \[assignment\]',
            done.stdout,
        ), done.stdout


def test_coverage_below_the_floor_fails_make_test_not_one_test_file(project):
    """A large function that no test runs, in a module the tests import: `make test` fails
    on coverage alone, and its report lists the lines to test. One test file run alone, as
    after `make module`, passes with its tests: the floor is the whole suite's."""
    pkg = package(project)
    body = "".join(f"    total += {n} * value\n" for n in range(1500))
    untested = f"\n\ndef untested(value):\n    total = 0\n{body}    return total\n"
    test = f"from {pkg} import helpers\n\n\ndef test_helpers_import():\n    assert helpers\n"
    with planted(project, {f"src/{pkg}/helpers.py": untested, "tests/test_helpers.py": test}):
        one = run(["uv", "run", "pytest", "tests/test_helpers.py"], project, check=False)
        assert one.returncode == 0, one.stdout[-3000:]
        assert re.search(r" \d+ passed", one.stdout) and "TOTAL" in one.stdout
        done = run(["make", "test"], project, check=False)
    out = done.stdout
    assert done.returncode != 0
    assert re.search(r"FAIL Required test coverage of 80(\.0)?% not reached", out), out[-3000:]
    [report] = [line for line in out.splitlines() if line.startswith(f"src/{pkg}/helpers.py")]
    assert re.search(r"\d+%\s+\d+-\d+", report), report  # the Missing column names the lines
