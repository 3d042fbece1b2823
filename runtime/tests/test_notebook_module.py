"""`notebook-to-module`: a notebook's tagged cells become a module and its test, or a refusal
that names the problem and the fix, and writes nothing."""

import ast
import importlib.util
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from groundwork import (
    notebook_module,
)
from groundwork.errors import (
    UserFacingError,
)
from groundwork.notebook_module import (
    Cell,
    check_name,
    describe_results,
    free_names,
    notebook_imports,
    notebook_to_module,
    ruff_command,
    to_function,
)

ROOT = Path(__file__).resolve().parent / "project"
# The fixture project's own package (its pyproject.toml), which exported modules join.
PACKAGE = "fixture_project"
SHIPPED = ROOT / "notebooks" / "01-exploration.ipynb"


def write_notebook(path: Path, *cells) -> Path:
    """A notebook of code cells: each a source (untagged) or a (source, tags) pair."""
    notebook = nbformat.v4.new_notebook()
    for cell in cells:
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        metadata = {"tags": list(tags)} if tags else {}
        notebook.cells.append(nbformat.v4.new_code_cell(source, metadata=metadata))
    nbformat.write(notebook, path)
    return path


def exported(source: str) -> tuple[str, list[str]]:
    return source, ["export"]


@pytest.fixture
def project(tmp_path):
    """A scratch project: this project's conf/ and ruff settings, a package with a cli.py,
    an empty tests/ and no raw data (the functions run on synthesized rows)."""
    (tmp_path / "conf").symlink_to(ROOT / "conf", target_is_directory=True)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    package = tmp_path / "src" / PACKAGE
    package.mkdir(parents=True)
    (package / "cli.py").write_text('"""The command."""\n')
    (tmp_path / "tests").mkdir()
    (tmp_path / "notebooks").mkdir()
    return tmp_path


def written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for d in ("src", "tests") for p in (root / d).rglob("*"))


def refusal(root: Path, notebook: Path, name: str = "summary") -> str:
    """The message of a refused export, checking that it wrote nothing."""
    before = written(root)
    with pytest.raises(UserFacingError) as refused:
        notebook_to_module(notebook, name, root)
    assert written(root) == before
    return str(refused.value)


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- end to end -------------------------------------------------------------------------------


def test_the_shipped_notebook_becomes_a_module_whose_tests_pass(
    project, monkeypatch, sample, spec, cfg
):
    notebook = shutil.copy(SHIPPED, project / "notebooks" / SHIPPED.name)
    module_path, test_path = notebook_to_module(notebook, "summary", project)

    assert module_path == project / "src" / PACKAGE / "summary.py"
    assert test_path == project / "tests" / "test_summary.py"
    source = module_path.read_text()
    assert "From notebooks/01-exploration.ipynb, cell 3 (id e2cf7d80)." in source
    assert "def missing_share(raw: pd.DataFrame, spec: DataSpec) -> pd.Series:" in source
    assert "chdir" not in source and "print(" not in source and "read_raw" not in source
    # The generated test runs here on this project's sample: the checks recorded on the
    # scratch project's synthesized rows hold on it too.
    module = load(module_path, f"{PACKAGE}.summary")
    monkeypatch.setitem(sys.modules, f"{PACKAGE}.summary", module)
    tests = load(test_path, "test_summary")
    names = sorted(n for n in vars(tests) if n.startswith("test_"))
    assert names == ["test_missing_share", "test_numeric_summary", "test_target_balance"]
    fixtures = {"sample": sample, "spec": spec, "cfg": cfg}
    for name in names:
        test = getattr(tests, name)
        test(**{p: fixtures[p] for p in inspect.signature(test).parameters})
    text = test_path.read_text()
    assert "assert True" not in text and text.count("assert isinstance(result, pd.") == 3
    assert f"from {PACKAGE}.summary import (\n    missing_share,\n" in text
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [*ruff_command(), *command, str(module_path), str(test_path)],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_imports_move_to_the_top_and_comments_stay(project):
    notebook = write_notebook(
        project / "notebooks" / "nb.ipynb",
        "%matplotlib inline\nimport numpy as np\nfrom pathlib import Path",
        exported(
            "# spread: the range of each numeric feature\n"
            "import math\n"
            "\n"
            "# the widest first\n"
            "ranges = raw[spec.numeric].max() - raw[spec.numeric].min()\n"
            "np.sqrt(ranges.sort_values(ascending=False)) * math.pi"
        ),
        exported('# rows: how many rows there are\nlen(raw), """two\nlines"""'),
    )
    module_path, test_path = notebook_to_module(notebook, "stats", project)

    source = module_path.read_text()
    tree = ast.parse(source)
    top = [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    assert {"import math", "import numpy as np", "import pandas as pd"} <= set(top)
    assert "Path" not in source  # an import the functions do not use is left out
    assert "    # the widest first\n" in source
    assert "    return np.sqrt(ranges.sort_values(ascending=False)) * math.pi\n" in source
    assert '"""two\nlines"""' in source  # a multi-line string keeps its text
    assert "def rows(raw: pd.DataFrame) -> tuple:" in source
    test = test_path.read_text()
    assert "assert len(result) == 2" in test
    assert "assert set(result.index) == set(spec.numeric)" in test


# --- refusals: the message, and nothing written -------------------------------------------------


@pytest.mark.parametrize("name", ["Summary", "2nd", "_private", "class", "my-module", ""])
def test_a_name_that_cannot_name_a_module_is_refused(name):
    with pytest.raises(UserFacingError, match="cannot name a module"):
        check_name(name)


@pytest.mark.parametrize(
    "name, existing",
    [("cli", "src/{package}/cli.py"), ("data", "src/{package}/data"), ("old", "tests/test_old.py")],
)
def test_a_name_that_clashes_is_refused(project, name, existing):
    path = project / existing.format(package=PACKAGE)
    if path.suffix:
        path.write_text("")
    else:
        path.mkdir()
    notebook = write_notebook(project / "nb.ipynb", exported("# f: a value\nraw.shape"))
    message = refusal(project, notebook, name)
    assert f"clashes with {path.relative_to(project)}" in message and "another NAME" in message


def test_a_notebook_without_tagged_cells_is_refused_with_how_to_tag(project):
    notebook = write_notebook(project / "nb.ipynb", "raw.shape", ("raw.head()", ["other"]))
    message = refusal(project, notebook)
    assert "has no code cell tagged `export`" in message
    assert "property inspector" in message and '"tags": ["export"]' in message


@pytest.mark.parametrize(
    "content, reason",
    [
        ("x = 1\n", "Expecting value"),
        ("[1, 2]", "no `nbformat`"),
        ('{"cells": []}', "no `nbformat`"),
        ('{"cells": [], "nbformat": 4, "nbformat_minor": 5}', "metadata"),
    ],
)
def test_a_file_that_is_not_a_notebook_is_refused(project, content, reason):
    path = project / "not-a-notebook.ipynb"
    path.write_text(content)
    message = refusal(project, path)
    assert "is not a Jupyter notebook that can be read" in message and reason in message


def test_a_missing_notebook_is_refused(project):
    assert "not found" in refusal(project, project / "nowhere.ipynb")
    assert "is a directory" in refusal(project, project / "notebooks")


@pytest.mark.parametrize(
    "source, expected",
    [
        ("raw.shape", "first line does not name a function"),
        ("# f: a value\nx = (", "does not parse as Python (line 2 of the cell"),
        ("# f: a value\n%timeit raw.sum()\nraw.sum()", "uses IPython magics"),
        ("# f: a value\nprint(raw.shape)\nraw.shape", "prints (print())"),
        ("# f: a value\nimport os\nos.chdir('..')\nraw.shape", "changes directory"),
        ("# f: a value\nraw[target].mean()", "uses `target`, which the cell neither"),
        ("# f: a value\nshape = raw.shape", "last line is not an expression"),
        ("# sample: a value\nraw.shape", "`sample`, which is a name the module or test uses"),
        ("# f: a value\nNone", "returns None"),
        ("# f: a value\nraw['no such column']", "fails on rows synthesized from the data config"),
        ("# f: a value\neval('1 + 1')", "Ruff finds problems"),
        ("# f: a value\neval('1 + 1')", "S307"),
        ("# len: a value\nraw.shape", "`len`, which is a Python builtin"),
        ("# f: a value\nimport polars as pd\npd", "`pd` is imported twice"),
    ],
)
def test_a_cell_that_cannot_become_a_function_is_refused(project, source, expected):
    notebook = write_notebook(project / "nb.ipynb", exported(source))
    message = refusal(project, notebook)
    assert expected in message
    assert "nb.ipynb" in message or "Ruff" in message


def test_two_cells_that_name_the_same_function_are_refused(project):
    notebook = write_notebook(
        project / "nb.ipynb", exported("# f: one\nraw.shape"), exported("# f: two\nraw.size")
    )
    message = refusal(project, notebook)
    assert "nb.ipynb, cell 2" in message and "`f`, which is the function of cell 1" in message


def test_a_failure_after_the_module_is_written_removes_it(project, monkeypatch):
    checked = notebook_module.ruff

    def ruff(text, path, root):
        if path.name.startswith("test_"):
            raise UserFacingError("the test cannot be checked")
        return checked(text, path, root)

    monkeypatch.setattr(notebook_module, "ruff", ruff)
    notebook = write_notebook(project / "nb.ipynb", exported("# f: a value\nraw.shape"))
    assert "cannot be checked" in refusal(project, notebook)


# --- the pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, names",
    [
        ("x = raw.dropna()\nx.shape", ["raw"]),
        ("raw = raw.dropna()\nraw", ["raw"]),
        ("[c for c in spec.numeric if raw[c].any()]", ["spec", "raw"]),
        ("def f(a):\n    return a + k\nf(len(raw))", ["k", "raw"]),
        ("for column in spec.numeric:\n    last = column\nlast", ["spec"]),
        ("total += 1", ["total"]),
        ("(lambda q: q + z)(1)", ["z"]),
        ("import numpy as np\nnp.zeros(len(raw))", ["raw"]),
        ("with open(path) as f:\n    f.read()", ["path"]),
    ],
)
def test_free_names_are_what_a_cell_reads_before_it_binds(code, names):
    assert free_names(ast.parse(code)) == names


def test_a_function_takes_raw_then_what_the_cell_uses():
    cell = Cell(2, "abc", "# f: the value\ncfg.seed + len(raw[spec.feature_names])")
    function = to_function(cell, "nb.ipynb", {})
    assert function.parameters == ("raw", "spec", "cfg")
    assert function.name == "f" and function.summary == "the value"
    assert function.body == "    return cfg.seed + len(raw[spec.feature_names])"
    assert to_function(Cell(1, "", "# g\n1"), "nb.ipynb", {}).parameters == ("raw",)


def test_the_imports_of_untagged_cells_are_found_even_with_magics():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext autoreload\nimport pandas as pd\nimport os.path"),
        nbformat.v4.new_code_cell("x = ("),  # does not parse: skipped, as it is not exported
        nbformat.v4.new_markdown_cell("import json"),
    ]
    found = notebook_imports(notebook)
    assert sorted(found) == ["os", "pd"]
    assert found["pd"].statement == "import pandas as pd"


def runs(sample: pd.DataFrame, spec, times: int = 2):
    """Two runs on samples of different lengths, as with the raw data and synthesized rows."""
    return [(sample.head(len(sample) - i), spec) for i in range(times)]


def test_the_checks_follow_the_data_spec(sample, spec):
    given = runs(sample, spec)
    missing = [s[spec.feature_names].isna().mean() for s, _ in given]
    check = describe_results(missing, given, "raw[spec.feature_names].isna().mean()")
    assert check.annotation == "pd.Series"
    assert check.assertions == (
        "isinstance(result, pd.Series)",
        "set(result.index) == set(spec.feature_names)",
        "len(result) == len(spec.feature_names)",
    )
    # Numbers whatever the data: a text target's describe() has other rows.
    described = [s[spec.feature_names].isna().sum(axis=1).describe() for s, _ in given]
    expression = "raw[spec.feature_names].isna().sum(axis=1).describe()"
    check = describe_results(described, given, expression)
    assert check.assertions[1] == (
        "list(result.index) == ['count', 'mean', 'std', 'min', '25%', '50%', '75%', 'max']"
    )
    frames = [s.head(3) for s, _ in given]
    check = describe_results(frames, given, "raw.head(3)")
    assert "len(result) == 3" in check.assertions
    assert "set(result.columns) == set(sample.columns)" in check.assertions
    check = describe_results([s.to_numpy() for s, _ in given], given, "raw.to_numpy()")
    assert check.assertions[:3] == (
        "isinstance(result, np.ndarray)",
        "result.ndim == 2",
        "result.shape[0] == len(sample)",
    )


@pytest.mark.parametrize(
    "results, annotation, assertion",
    [
        ([3, np.int64(4)], "int", "isinstance(result, int | np.integer)"),
        ([0.5, np.float32(0.25)], "float", "isinstance(result, float | np.floating)"),
        (["a", "b"], "str", "isinstance(result, str)"),
        ([{"a": 1}, {"a": 2}], "dict", "isinstance(result, dict)"),
        ([ValueError(), ValueError()], None, "type(result).__name__ == 'ValueError'"),
    ],
)
def test_the_checks_of_other_results(sample, spec, results, annotation, assertion):
    check = describe_results(results, runs(sample, spec), "")
    assert check.annotation == annotation and check.assertions[0] == assertion


def test_results_of_different_types_are_refused(sample, spec):
    with pytest.raises(UserFacingError, match="on different samples"):
        describe_results([1, "a"], runs(sample, spec), "")


def test_the_shipped_notebook_shows_the_convention():
    cells = json.loads(SHIPPED.read_text())["cells"]
    tagged = [c for c in cells if "export" in c["metadata"].get("tags", [])]
    assert 2 <= len(tagged) <= 3
    assert all(c["source"][0].startswith("# ") and not c["outputs"] for c in tagged)
