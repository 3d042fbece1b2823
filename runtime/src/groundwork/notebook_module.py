"""From a notebook to a tested module: `notebook-to-module NOTEBOOK NAME`.

The convention, for a cell of the notebook to become a function:

- Tag the code cell `export` (JupyterLab: the property inspector, the gear icon in the right
  sidebar, then Cell Tags; in the file: `"tags": ["export"]` in the cell's metadata).
  Untagged cells are left out.
- Start the cell with a comment that names the function and, after a colon, says what it
  returns: `# missing_share: the share of missing values in each feature`.
- End the cell with an expression: the function returns its value.
- The function takes `raw`, the raw data as a DataFrame, then `spec` (the data spec) and
  `cfg` (the composed config) when the cell uses them. Imports in the cell move to the top
  of the module; so do the imports of other cells for the names that the cell uses (e.g.
  `import pandas as pd` in the first cell). Any other name must be defined in the cell: a
  module has no notebook globals. The cell must not print, display or change directory.

It writes `src/<package>/NAME.py`, one function per tagged cell, and `tests/test_NAME.py`,
one test per function: the test runs the function on the tests' sample data (the `sample`
fixture of tests/conftest.py) and checks the type and shape that the function returned
when the module was written, on the same data. Both files are fixed and formatted by ruff.
A refusal writes nothing.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import io
import json
import keyword
import re
import subprocess
import sys
import tempfile
import textwrap
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from . import COMMAND
from .artifacts import atomic_path
from .errors import UserFacingError
from .project import package_name, read_pyproject

# The runtime, whose DataSpec annotates; the module goes into the project's own package.
RUNTIME = __name__.rpartition(".")[0]
TAG = "export"
# The first line of an exported cell: `# name: what it returns`.
NAME_LINE = re.compile(r"#\s*([A-Za-z_]\w*)\s*(?::\s*(.*?))?\s*$")
MODULE_NAME = re.compile(r"[a-z][a-z0-9_]*")
# What a function may take, in this order, with its type and the test's fixture for it.
PARAMETERS = {
    "raw": ("pd.DataFrame", "sample.copy()"),
    "spec": ("DataSpec", "spec"),
    "cfg": ("DictConfig", "cfg"),
}
# Names the generated test uses beside the functions.
TEST_NAMES = {"sample", "spec", "cfg", "result", "pd", "np"}
# Calls a module must not make: (what it does, the fix).
FORBIDDEN_CALLS = {
    "print": ("prints", "end the cell with the value instead"),
    "display": ("displays", "end the cell with the value instead"),
    "chdir": (
        "changes directory",
        "remove it: the function gets the data as `raw`, and paths are relative to the "
        "project root",
    ),
    "get_ipython": (
        "uses IPython magics or shell commands (% or !)",
        "move them to an untagged cell",
    ),
}
HOW_TO_TAG = (
    f"tag each code cell that should become a function `{TAG}`: in JupyterLab, open the "
    f"property inspector (the gear icon in the right sidebar) and add the tag under Cell "
    f'Tags, or add "tags": ["{TAG}"] to the cell\'s "metadata" in the file. Start the cell '
    f"with a comment naming the function, e.g. `# missing_share: what it returns`"
)
# The generated test's data, as the `sample` fixture of tests/conftest.py makes it.
SAMPLE_ROWS = 1000
SYNTHETIC_ROWS = 400


@dataclass(frozen=True)
class Cell:
    """A code cell tagged for export: its place in the notebook and its code."""

    number: int  # 1-based, counting every cell of the notebook
    cell_id: str
    source: str

    @property
    def where(self) -> str:
        return f"cell {self.number}" + (f" (id {self.cell_id})" if self.cell_id else "")


@dataclass(frozen=True)
class Import:
    """One name an import binds: `import pandas as pd` binds `pd` to `pandas`."""

    bound: str
    target: str
    statement: str


# The imports of the annotations and of the test's checks.
TYPE_IMPORTS = {
    "pd": Import("pd", "pandas", "import pandas as pd"),
    "np": Import("np", "numpy", "import numpy as np"),
    "DataSpec": Import(
        "DataSpec", f"{RUNTIME}.data.spec.DataSpec", f"from {RUNTIME}.data.spec import DataSpec"
    ),
    "DictConfig": Import("DictConfig", "omegaconf.DictConfig", "from omegaconf import DictConfig"),
}


@dataclass(frozen=True)
class Function:
    name: str
    summary: str
    cell: Cell
    parameters: tuple[str, ...]
    imports: tuple[Import, ...]
    body: str  # the cell's code as the function's body, its last expression returned


@dataclass(frozen=True)
class Check:
    """What a function returned on the sample: its annotation and the test's assertions."""

    annotation: str | None
    assertions: tuple[str, ...]
    names: frozenset[str]  # the fixtures and imports the assertions use


# --- the names: the module's, and clashes with the project ---------------------------------


def check_name(name: str) -> None:
    if not MODULE_NAME.fullmatch(name) or keyword.iskeyword(name):
        raise UserFacingError(
            f"{name!r} cannot name a module: use lowercase letters, digits and underscores, "
            f"starting with a letter, and not a Python keyword (e.g. summary)."
        )


def project_package(root: Path) -> str:
    """The project's own package, which the module joins (src/<package>/)."""
    return package_name(read_pyproject(root))


def module_paths(name: str, root: Path) -> tuple[Path, Path]:
    """Where the module and its test go."""
    package = project_package(root)
    return root / "src" / package / f"{name}.py", root / "tests" / f"test_{name}.py"


def check_no_clash(name: str, root: Path) -> None:
    module, test = module_paths(name, root)
    taken = [path for path in (module, module.with_suffix(""), test) if path.exists()]
    if taken:
        shown = ", ".join(str(path.relative_to(root)) for path in taken)
        raise UserFacingError(
            f"{name!r} clashes with {shown}, which {'exist' if taken[1:] else 'exists'} "
            f"already: pick another NAME (to export cells again under the same name, remove "
            f"the earlier export first)."
        )


# --- the notebook: read it, select the tagged cells ----------------------------------------


def read_notebook(path: Path) -> Any:
    """The notebook at `path` (an nbformat NotebookNode, version 4), or a clear refusal."""
    import nbformat

    not_a_notebook = (
        f"{path} is not a Jupyter notebook that can be read: open and save it in JupyterLab, "
        f"or pass the .ipynb file"
    )
    if not path.exists():
        raise UserFacingError(f"{path} not found: pass the path of a .ipynb file.")
    if not path.is_file():
        raise UserFacingError(f"{path} is a directory: pass the path of a .ipynb file.")
    try:
        text = path.read_text(encoding="utf-8")
        content = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserFacingError(f"{not_a_notebook} ({exc}).") from exc
    if not isinstance(content, dict) or not isinstance(content.get("nbformat"), int):
        raise UserFacingError(f"{not_a_notebook} (no `nbformat` version in it).")
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises a variety of errors for a malformed file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserFacingError(f"{not_a_notebook} ({reason}).") from exc
    return notebook


def _export_preprocessor() -> Any:
    """An nbconvert preprocessor that keeps only the code cells tagged for export."""
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Unicode

    class ExportCells(Preprocessor):
        tag = Unicode(TAG, help="the tag of the cells to keep").tag(config=True)

        def preprocess(self, nb, resources):
            keep = [
                (number, cell)
                for number, cell in enumerate(nb.cells, start=1)
                if cell.cell_type == "code" and self.tag in cell.metadata.get("tags", [])
            ]
            nb.cells = [cell for _, cell in keep]
            resources["cell_numbers"] = [number for number, _ in keep]
            return nb, resources

    return ExportCells()


def exported_cells(notebook: Any, where: str) -> list[Cell]:
    """The cells tagged for export, in order; none is a refusal that says how to tag."""
    import copy

    selected, resources = _export_preprocessor().preprocess(copy.deepcopy(notebook), {})
    cells = [
        Cell(number, cell.get("id", ""), cell.source)
        for number, cell in zip(resources["cell_numbers"], selected.cells, strict=True)
    ]
    if not cells:
        raise UserFacingError(f"{where} has no code cell tagged `{TAG}`: {HOW_TO_TAG}.")
    return cells


def as_python(source: str) -> ast.Module | None:
    """The cell's code, with IPython syntax (%magics, !commands) converted to Python the way
    nbconvert's script export does; None if it does not parse."""
    from nbconvert.filters import ipython2python

    for code in (source, ipython2python(source)):
        try:
            return ast.parse(code)
        except SyntaxError:
            continue
    return None


def notebook_imports(notebook: Any) -> dict[str, Import]:
    """The names that the imports of any code cell bind (a cell that does not parse is
    skipped: it is not exported)."""
    found: dict[str, Import] = {}
    for cell in notebook.cells:
        tree = as_python(cell.source) if cell.cell_type == "code" else None
        for node in tree.body if tree else []:
            for item in imports_of(node):
                found.setdefault(item.bound, item)
    return found


# --- a cell's code: names, imports, the function ----------------------------------------------


def imports_of(node: ast.stmt) -> list[Import]:
    """One Import per name that an import statement binds."""
    if isinstance(node, ast.Import):
        return [
            Import(
                alias.asname or alias.name.split(".")[0],
                alias.name if alias.asname else alias.name.split(".")[0],
                f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""),
            )
            for alias in node.names
        ]
    if isinstance(node, ast.ImportFrom):
        module = "." * node.level + (node.module or "")
        return [
            Import(
                alias.asname or alias.name,
                f"{module}.{alias.name}",
                f"from {module} import {alias.name}"
                + (f" as {alias.asname}" if alias.asname else ""),
            )
            for alias in node.names
        ]
    return []


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def binds(nodes: Iterable[ast.AST]) -> set[str]:
    """The names that statements bind in their own scope (not in functions inside them)."""
    names: set[str] = set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(item.bound for item in imports_of(node) if item.bound != "*")
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, SCOPES):
            continue  # their own names bind inside them
        if isinstance(node, COMPREHENSIONS):
            # Only a walrus inside a comprehension binds in the enclosing scope.
            names.update(n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            continue
        todo.extend(ast.iter_child_nodes(node))
    return names


def _arguments(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {arg.arg for arg in every if arg is not None}


def reads(node: ast.AST, local: frozenset[str] = frozenset()) -> set[str]:
    """The names that `node` reads from its scope: those no function, lambda or
    comprehension inside it binds."""
    if isinstance(node, ast.Name):
        return {node.id} - local if isinstance(node.ctx, ast.Load) else set()
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return ({node.target.id} - local) | reads(node.value, local)  # `x += 1` reads x
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        outer: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        if not isinstance(node, ast.Lambda):
            outer += [*node.decorator_list, *([node.returns] if node.returns else [])]
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            outer += [arg.annotation for arg in every if arg is not None and arg.annotation]
        body = node.body if isinstance(node.body, list) else [node.body]
        inner = local | _arguments(args) | binds(body)
        return set().union(*(reads(n, local) for n in outer), *(reads(n, inner) for n in body))
    if isinstance(node, ast.ClassDef):
        outer = [*node.bases, *node.keywords, *node.decorator_list]
        inner = local | binds(node.body)
        return set().union(*(reads(n, local) for n in outer), *(reads(n, inner) for n in node.body))
    if isinstance(node, COMPREHENSIONS):
        # The first iterable is read outside the comprehension, the rest inside it.
        first, *rest = node.generators
        inner = local | binds(g.target for g in node.generators)
        inside = [*first.ifs, *(n for g in rest for n in (g.iter, *g.ifs))]
        inside += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        return reads(first.iter, local).union(*(reads(n, inner) for n in inside))
    return set().union(*(reads(child, local) for child in ast.iter_child_nodes(node)))


SIMPLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete, ast.Assert)


def free_names(tree: ast.Module) -> list[str]:
    """The names a cell reads before it binds them, in the order it first reads them: the
    notebook globals it depends on. Builtins are not free."""
    bound: set[str] = set(dir(builtins))
    free: dict[str, None] = {}
    for statement in tree.body:
        binding = binds([statement])
        # In a compound statement (for, with, if, def ...) a name it binds is taken as
        # bound before it is read; in a simple one, the value is read first.
        skip = bound if isinstance(statement, SIMPLE) else bound | binding
        read = reads(statement) - skip
        lines = sorted(
            (node.lineno, node.col_offset, node.id)
            for node in ast.walk(statement)
            if isinstance(node, ast.Name) and node.id in read
        )
        free.update((name, None) for _, _, name in lines)
        bound |= binding
    return list(free)


def forbidden_call(tree: ast.Module) -> tuple[str, tuple[str, str]] | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in FORBIDDEN_CALLS:
                return called, FORBIDDEN_CALLS[called]
    return None


def _name_line(cell: Cell, where: str) -> tuple[int, str, str]:
    """The index of the cell's naming line, the function's name and its summary."""
    lines = cell.source.splitlines()
    index = next((i for i, line in enumerate(lines) if line.strip()), None)
    match = NAME_LINE.fullmatch(lines[index].strip()) if index is not None else None
    if index is None or match is None or keyword.iskeyword(match.group(1)):
        raise UserFacingError(
            f"{where}, {cell.where}, is tagged `{TAG}` but its first line does not name a "
            f"function: make it a comment such as `# missing_share: what it returns`."
        )
    return index, match.group(1), (match.group(2) or "").strip()


def _unindentable_lines(code: str) -> set[int]:
    """The 1-based lines inside a multi-line string: indenting them would change it."""
    kinds = {tokenize.STRING}
    for kind in ("FSTRING_MIDDLE", "TSTRING_MIDDLE"):  # f-strings from Python 3.12 on
        if hasattr(tokenize, kind):
            kinds.add(getattr(tokenize, kind))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type in kinds and token.end[0] > token.start[0]:
            lines.update(range(token.start[0] + 1, token.end[0] + 1))
    return lines


def to_function(cell: Cell, where: str, available: dict[str, Import]) -> Function:
    """The function a tagged cell becomes; a cell that cannot be one is a refusal that
    names the cell and the fix."""
    about = f"{where}, {cell.where}"
    index, name, summary = _name_line(cell, where)
    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        if as_python(cell.source) is not None:
            does, fix = FORBIDDEN_CALLS["get_ipython"]
            raise UserFacingError(f"{about} {does}, which a module cannot run: {fix}.") from exc
        raise UserFacingError(
            f"{about}: its code does not parse as Python (line {exc.lineno} of the cell: "
            f"{exc.msg}): fix it, or remove the `{TAG}` tag."
        ) from exc
    called = forbidden_call(tree)
    if called is not None:
        function, (does, fix) = called
        raise UserFacingError(f"{about} {does} ({function}()), which a module must not: {fix}.")
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise UserFacingError(
            f"{about}: its last line is not an expression, so the function would return "
            f"nothing: end the cell with the value it computes (e.g. `table`)."
        )
    moved = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    own = [item for node in moved for item in imports_of(node)]
    free = free_names(tree)
    unknown = [n for n in free if n not in PARAMETERS and n not in available]
    if unknown:
        listed = ", ".join(f"`{n}`" for n in unknown)
        raise UserFacingError(
            f"{about} uses {listed}, which the cell neither defines nor imports: a module has "
            f"no notebook globals. Compute it in the cell (e.g. `target = spec.target.name`) "
            f"or import it there; the function can take only {', '.join(PARAMETERS)}."
        )
    needed = [available[n] for n in free if n not in PARAMETERS]
    parameters = ("raw", *(p for p in PARAMETERS if p != "raw" and p in free))
    return Function(
        name=name,
        summary=summary,
        cell=cell,
        parameters=parameters,
        imports=(*own, *needed),
        body=_body(cell.source, tree, index, moved),
    )


def _body(source: str, tree: ast.Module, name_line: int, moved: Sequence[ast.stmt]) -> str:
    """The cell's lines, its comments kept, without the naming line and the moved imports,
    and `return ` before the last expression."""
    lines = source.splitlines()
    last = tree.body[-1]
    line = lines[last.lineno - 1]
    column = len(line.encode()[: last.col_offset].decode())
    lines[last.lineno - 1] = f"{line[:column]}return {line[column:]}"
    others = [node for node in tree.body if node not in moved]
    shared = {n.lineno for n in others} | {n.end_lineno for n in others}
    dropped = {name_line + 1}
    for node in moved:
        span = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if not span & shared:  # an import that shares its line with code stays
            dropped |= span
    keep = _unindentable_lines(source)
    body = [
        text if number in keep or not text.strip() else f"    {text}"
        for number, text in enumerate(lines, start=1)
        if number not in dropped
    ]
    while body and not body[0].strip():
        body.pop(0)
    return "\n".join(body)


def check_functions(functions: Sequence[Function], where: str) -> dict[str, Import]:
    """The module's imports, by the name they bind; a clash of names is a refusal."""
    imports: dict[str, Import] = {}
    uses = [item for function in functions for item in function.imports]
    wanted = {"pd"} | {PARAMETERS[p][0] for f in functions for p in f.parameters}
    uses += [TYPE_IMPORTS[n] for n in sorted(wanted & set(TYPE_IMPORTS))]
    for item in uses:
        known = imports.get(item.bound)
        if known is not None and known.target != item.target:
            raise UserFacingError(
                f"{where}: `{item.bound}` is imported twice with different meanings "
                f"(`{item.statement}` and `{known.statement}`): give one of them another name."
            )
        imports.setdefault(item.bound, item)
    seen: dict[str, Function] = {}
    for function in functions:
        taken = seen.get(function.name) or (function.name in imports)
        if taken or function.name in TEST_NAMES | set(PARAMETERS) | set(dir(builtins)):
            other = f"{seen[function.name].cell.where}" if function.name in seen else ""
            clash = f"the function of {other}" if other else "a name the module or test uses"
            if function.name in dir(builtins):
                clash = "a Python builtin"
            raise UserFacingError(
                f"{where}, {function.cell.where}, names its function `{function.name}`, which "
                f"is {clash}: rename it in the cell's first line."
            )
        seen[function.name] = function
    return imports


# --- rendering: the module and its test ----------------------------------------------------


def _wrap(paragraph: str, width: int) -> str:
    """`paragraph` filled to `width`, never breaking inside `code`."""
    kept = re.sub(r"`[^`]*`", lambda m: m.group().replace(" ", "\0"), paragraph)
    text = textwrap.fill(kept, width, break_on_hyphens=False, break_long_words=False)
    return text.replace("\0", " ")


def _docstring(paragraphs: Sequence[str], indent: str) -> str:
    width = 96 - len(indent)
    text = "\n\n".join(_wrap(p, width) for p in paragraphs if p)
    text = text.replace("\\", "\\\\").replace('"""', r"\"\"\"")
    lines = textwrap.indent(text, indent).lstrip().splitlines()
    if len(lines) == 1 and len(indent) + len(lines[0]) + 6 <= 100:
        return f'{indent}"""{lines[0]}"""'
    return f'{indent}"""' + "\n".join(lines) + f'\n{indent}"""'


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text[-1] in ".!?" else ".")


def module_source(
    functions: Sequence[Function],
    imports: dict[str, Import],
    notebook: str,
    name: str,
    annotations: dict[str, str | None] | None = None,
) -> str:
    """The module's text, before ruff fixes and formats it."""
    annotations = annotations or {}
    header = _docstring(
        [
            f"Functions exported from {notebook} by `uv run {COMMAND} notebook-to-module`, "
            f"one per cell tagged `{TAG}`; tests/test_{name}.py runs each on the sample data. "
            f"This module, not the notebook, is now the code to change and test.",
        ],
        "",
    )
    parts = [header, "\n".join(sorted({item.statement for item in imports.values()}))]
    for function in functions:
        parameters = ", ".join(f"{p}: {PARAMETERS[p][0]}" for p in function.parameters)
        returns = annotations.get(function.name)
        arrow = f" -> {returns}" if returns else ""
        doc = _docstring(
            [_sentence(function.summary), f"From {notebook}, {function.cell.where}."], "    "
        )
        parts.append(f"def {function.name}({parameters}){arrow}:\n{doc}\n{function.body}")
    return "\n\n\n".join(parts) + "\n"


def test_source(
    functions: Sequence[Function],
    checks: dict[str, Check],
    notebook: str,
    name: str,
    package: str,
) -> str:
    """The test module's text, before ruff fixes and formats it."""
    header = _docstring(
        [
            f"Tests of src/{package}/{name}.py, exported from {notebook} by "
            f"`uv run {COMMAND} notebook-to-module`.",
            "Each runs a function on the sample data (tests/conftest.py) and checks the type "
            "and shape it returned there when the module was written.",
        ],
        "",
    )
    used = set().union(*(checks[f.name].names for f in functions))
    imports = [TYPE_IMPORTS[n].statement for n in ("np", "pd") if n in used]
    names = "".join(f"    {f.name},\n" for f in sorted(functions, key=lambda f: f.name))
    imports.append(f"from {package}.{name} import (\n{names})")
    parts = [header, "\n\n".join(imports)]
    for function in functions:
        check = checks[function.name]
        fixtures = {"sample"} | (set(function.parameters) - {"raw"}) | (check.names & {"spec"})
        ordered = [f for f in ("sample", "spec", "cfg") if f in fixtures]
        arguments = ", ".join(PARAMETERS[p][1] for p in function.parameters)
        lines = [f"    result = {function.name}({arguments})"]
        lines += [f"    assert {assertion}" for assertion in check.assertions]
        parts.append(f"def test_{function.name}({', '.join(ordered)}):\n" + "\n".join(lines))
    return "\n\n\n".join(parts) + "\n"


# --- what a function returns: the test's assertions ----------------------------------------

# Sizes the result's may follow: (expression in the test, its value, a word of the cell's code
# that makes it the likely one). `sample` is the data, `spec` the data spec.
SIZES: list[tuple[str, Callable[[Any, Any], int], str | None]] = [
    ("len(spec.feature_names)", lambda sample, spec: len(spec.feature_names), "feature_names"),
    ("len(spec.numeric)", lambda sample, spec: len(spec.numeric), "numeric"),
    ("len(spec.categorical)", lambda sample, spec: len(spec.categorical), "categorical"),
    ("len(spec.target.classes)", lambda sample, spec: len(spec.target.classes), "target"),
    ("len(sample)", lambda sample, spec: len(sample), None),
    ("len(sample.columns)", lambda sample, spec: len(sample.columns), None),
]
# Names the result's index or columns may be: (expression, its value as a list, a word of
# the cell's code that makes it the likely one).
LABELS: list[tuple[str, Callable[[Any, Any], list], str | None]] = [
    ("spec.feature_names", lambda sample, spec: list(spec.feature_names), "feature_names"),
    ("spec.numeric", lambda sample, spec: list(spec.numeric), "numeric"),
    ("spec.categorical", lambda sample, spec: list(spec.categorical), "categorical"),
    ("spec.target.classes", lambda sample, spec: list(spec.target.classes), "target"),
    ("sample.columns", lambda sample, spec: list(sample.columns), None),
]


def _ranked(candidates: list, code: str) -> list:
    """Candidates the cell's code names first, then those that depend on the data alone."""
    named = [c for c in candidates if c[2] and re.search(rf"\b{c[2]}\b", code)]
    data = [c for c in candidates if c[2] is None]
    return named + data + [c for c in candidates if c not in named and c not in data]


def _size(sizes: list[int], runs: list[tuple[Any, Any]], code: str, of: str) -> str | None:
    """An assertion on a size that holds on every run: a relation to the data that the
    cell's code names or to the sample's rows or columns; else the size itself if it never
    changed; else a relation to the spec that the code does not name."""
    ranked = _ranked(SIZES, code)
    likely = [c for c in ranked if c[2] is None or re.search(rf"\b{c[2]}\b", code)]

    def relation(candidates: list) -> str | None:
        for expression, value, _ in candidates:
            pairs = zip(sizes, runs, strict=True)
            if all(size == value(*run) and size > 0 for size, run in pairs):
                return f"{of} == {expression}"
        return None

    found = relation(likely)
    if found is None and len(set(sizes)) == 1:
        found = f"{of} == {sizes[0]}"
    found = found or relation([c for c in ranked if c not in likely])
    if found is not None:
        return found
    if all(size <= len(sample) for size, (sample, _) in zip(sizes, runs, strict=True)):
        return f"{of} <= len(sample)"
    return None


def _labels(
    labels: list[list], runs: list[tuple[Any, Any]], code: str, of: str, size: str
) -> list[str]:
    """Assertions that an index or the columns are the names of a list of the spec or the
    data, each once, in any order (a sort by value changes the order with the data)."""
    for expression, value, _ in _ranked(LABELS, code):
        expected = [value(*run) for run in runs]
        if all(
            e and len(set(found)) == len(found) == len(e) and set(found) == set(e)
            for found, e in zip(labels, expected, strict=True)
        ):
            return [f"set({of}) == set({expression})", f"{size} == len({expression})"]
    return []


def _literal_labels(labels: list[list], of: str, kinds: tuple[type, ...]) -> list[str]:
    """An assertion that the names are those found, when they never changed: the columns
    of `describe()`, for instance."""
    first = labels[0]
    plain = all(type(label) in kinds for label in first)
    if plain and 0 < len(first) <= 20 and all(found == first for found in labels):
        return [f"list({of}) == {first!r}"]
    return []


def _kind(result: Any) -> tuple[str, str | None, str, frozenset[str]]:
    """(kind, annotation, isinstance assertion, names it uses) of a result."""
    import numpy as np
    import pandas as pd

    pandas_names = frozenset({"pd"})
    numpy_names = frozenset({"np"})
    if isinstance(result, pd.DataFrame):
        return "frame", "pd.DataFrame", "isinstance(result, pd.DataFrame)", pandas_names
    if isinstance(result, pd.Series):
        return "series", "pd.Series", "isinstance(result, pd.Series)", pandas_names
    if isinstance(result, np.ndarray):
        return "array", "np.ndarray", "isinstance(result, np.ndarray)", numpy_names
    if isinstance(result, bool | np.bool_):
        return "bool", "bool", "isinstance(result, bool | np.bool_)", numpy_names
    if isinstance(result, int | np.integer):
        return "int", "int", "isinstance(result, int | np.integer)", numpy_names
    if isinstance(result, float | np.floating):
        return "float", "float", "isinstance(result, float | np.floating)", numpy_names
    for plain in (str, tuple, list, dict, set):
        if isinstance(result, plain):
            name = plain.__name__
            return name, name, f"isinstance(result, {name})", frozenset()
    name = type(result).__name__
    return f"other:{name}", None, f"type(result).__name__ == {name!r}", frozenset()


def describe_results(results: Sequence[Any], runs: list[tuple[Any, Any]], code: str) -> Check:
    """The check of what a function returned on each run (sample, spec): its type, and its
    shape as a relation to the data where one holds on every run."""
    kinds = [_kind(result) for result in results]
    kind, annotation, is_instance, names = kinds[0]
    if any(k[0] != kind for k in kinds):
        returned = " and ".join(sorted({k[1] or k[0] for k in kinds}))
        raise UserFacingError(f"it returned {returned} on different samples: one type to test")
    assertions: list[str | None] = [is_instance]  # None: no size assertion holds
    if kind in ("frame", "series", "array"):
        shapes = [result.shape for result in results]
        if kind == "array" and any(len(s) != len(shapes[0]) for s in shapes):
            raise UserFacingError("it returned arrays of different dimensions on the samples")
        if kind == "array":
            assertions.append(f"result.ndim == {len(shapes[0])}")
        if kind in ("frame", "series"):
            index = [list(r.index) for r in results]
            # Names of rows, not row numbers, may be asserted as found.
            assertions += (
                _labels(index, runs, code, "result.index", "len(result)")
                or _literal_labels(index, "result.index", (str,))
                or [_size([s[0] for s in shapes], runs, code, "len(result)")]
            )
        if kind == "frame":
            columns = [list(r.columns) for r in results]
            assertions += (
                _labels(columns, runs, code, "result.columns", "result.shape[1]")
                or _literal_labels(columns, "result.columns", (str, int))
                or [_size([s[1] for s in shapes], runs, code, "result.shape[1]")]
            )
        if kind == "array":
            for axis in range(len(shapes[0])):
                sizes = [s[axis] for s in shapes]
                assertions.append(_size(sizes, runs, code, f"result.shape[{axis}]"))
    elif kind in ("tuple", "list", "dict", "set"):
        if kind in ("dict", "set"):
            keys = [list(r) for r in results]
            assertions += _labels(keys, runs, code, "result", "len(result)")
        if len(assertions) == 1:
            assertions.append(_size([len(r) for r in results], runs, code, "len(result)"))
    found = [a for a in assertions if a]
    used = set(names) | {n for n in ("sample", "spec") if any(n in a for a in found)}
    return Check(annotation, tuple(found), frozenset(used))


# --- the edges: the sample data, running the functions, ruff, the files -------------------


def samples(root: Path) -> tuple[Any, Any, list[tuple[str, Any]]]:
    """The config, the data spec and the data the generated test may run on: rows
    synthesized from the data config (the `sample` fixture before `make data`) and, when the
    raw data is here, the fixture's sample of it; derived features added, as the fixture has
    them."""
    from .config import compose_config
    from .data.load import data_spec, read_raw, validate
    from .data.sample import synthesize
    from .data.schema import raw_schema
    from .model.features import with_project_features

    cfg = compose_config(conf_dir=root / "conf")
    spec = data_spec(cfg)
    schema = raw_schema(spec)
    synthetic = validate(synthesize(spec, rows=SYNTHETIC_ROWS), schema)
    runs = [("rows synthesized from the data config", with_project_features(synthetic, spec, True))]
    raw_path = root / cfg.data.raw_path
    if raw_path.exists():
        raw = read_raw(raw_path)
        raw = raw.sample(min(len(raw), SAMPLE_ROWS), random_state=0).reset_index(drop=True)
        label = f"a sample of {cfg.data.raw_path}"
        runs.append((label, with_project_features(validate(raw, schema), spec)))
    return cfg, spec, runs


def load_module(source: str, name: str) -> ModuleType:
    """Import the module's text from a scratch file, without adding it to the package."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise UserFacingError(
                f"the exported module fails on import ({type(exc).__name__}: {exc}): fix the "
                f"imports of the exported cells."
            ) from exc
    return module


def run_functions(
    module: ModuleType, functions: Sequence[Function], root: Path, where: str
) -> dict[str, Check]:
    """Run each function on each sample once, and record what it returned."""
    cfg, spec, frames = samples(root)
    checks = {}
    for function in functions:
        results, runs = [], []
        for label, frame in frames:
            given = {"raw": frame.copy(), "spec": spec, "cfg": cfg}
            try:
                result = getattr(module, function.name)(*(given[p] for p in function.parameters))
            except Exception as exc:
                raise UserFacingError(
                    f"{function.name} ({where}, {function.cell.where}) fails on {label}: "
                    f"{type(exc).__name__}: {exc}. Fix the cell and run it again; its test "
                    f"runs it on the same data."
                ) from exc
            if result is None:
                raise UserFacingError(
                    f"{function.name} ({where}, {function.cell.where}) returns None: end the "
                    f"cell with the value it computes, which its test checks."
                )
            results.append(result)
            runs.append((frame, spec))
        try:
            checks[function.name] = describe_results(results, runs, function.cell.source)
        except UserFacingError as exc:
            raise UserFacingError(f"{function.name} ({function.cell.where}): {exc}.") from exc
    return checks


def ruff_command() -> list[str]:
    beside = Path(sys.executable).with_name("ruff")
    if beside.exists():
        return [str(beside)]
    if importlib.util.find_spec("ruff") is None:
        raise UserFacingError(
            "Ruff is not installed in this environment: it is in the dev group, "
            "`uv sync` installs it."
        )
    return [sys.executable, "-m", "ruff"]


def ruff(text: str, path: Path, root: Path) -> str:
    """`text` as `ruff check --fix` then `ruff format` leave it for `path`; a problem ruff
    cannot fix is a refusal."""
    command = ruff_command()
    relative = str(path.relative_to(root))
    stdin = ["--stdin-filename", relative, "-"]
    # check --fix exits 1 when problems remain: the last check names them.
    steps = ((["check", "--fix"], (0, 1)), (["format"], (0,)), (["check"], (0,)))
    for step, fine in steps:
        done = subprocess.run(
            [*command, *step, "--quiet", "--no-cache", *stdin],
            input=text,
            cwd=root,
            capture_output=True,
            text=True,
        )
        if done.returncode not in fine:
            output = (done.stdout + done.stderr).strip()
            raise UserFacingError(
                f"Ruff finds problems in the code exported to {relative}, so nothing was "
                f"written: fix them in the notebook's cells and run again.\n{output}"
            )
        if step[0] == "format" or "--fix" in step:
            text = done.stdout
    return text


def _label(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def notebook_to_module(
    notebook: Path | str, name: str, project_root: Path = Path(".")
) -> tuple[Path, Path]:
    """Export the notebook's cells tagged `export` to src/<package>/NAME.py, with a test in
    tests/test_NAME.py; return both paths. A refusal writes nothing."""
    notebook, root = Path(notebook), Path(project_root)
    check_name(name)
    check_no_clash(name, root)
    module_path, test_path = module_paths(name, root)
    where = _label(notebook, root)
    node = read_notebook(notebook)
    available = notebook_imports(node)
    functions = [to_function(cell, where, available) for cell in exported_cells(node, where)]
    imports = check_functions(functions, where)
    module = load_module(module_source(functions, imports, where, name), name)
    checks = run_functions(module, functions, root, where)
    annotations = {f: c.annotation for f, c in checks.items()}
    for annotation in filter(None, annotations.values()):
        for short in ("np", "pd"):
            if annotation.startswith(f"{short}."):
                imports.setdefault(short, TYPE_IMPORTS[short])
    module_text = ruff(
        module_source(functions, imports, where, name, annotations), module_path, root
    )
    # The test imports the module: ruff sorts that import as the project's own only once
    # the module's file is there, so the test is checked after the module is written.
    with atomic_path(module_path) as scratch:
        scratch.write_text(module_text)
    try:
        source = test_source(functions, checks, where, name, project_package(root))
        test_text = ruff(source, test_path, root)
        with atomic_path(test_path) as scratch:
            scratch.write_text(test_text)
    except BaseException:
        module_path.unlink(missing_ok=True)
        raise
    return module_path, test_path
