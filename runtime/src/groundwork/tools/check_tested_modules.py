"""pre-commit check: every module of the package is imported by a test module.

Reads the imports of tests/**/*.py (with `ast`, without running them) and names each
module under src/<package>/ that none imports: `import pkg.mod`, `from pkg.mod import x`,
`from pkg import mod` and `from pkg.sub import mod` all count. Coverage (`make test`) says
how much of the code the tests run; this says which modules no test was written for.
"""

import ast
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

# Not modules a test imports: `__init__.py` runs whenever a module of its package is
# imported, and `__main__.py` (`python -m <package>`) runs the command as it is imported,
# so its test calls what it calls (cli.main).
ENTRY_FILES = frozenset({"__init__.py", "__main__.py"})


def package_modules(src: Path) -> dict[str, Path]:
    """Dotted name -> file of each module of the packages under `src` (folders with an
    __init__.py), entry files left out."""
    found = {}
    for init in sorted(src.glob("*/__init__.py")):
        package = init.parent
        for path in sorted(package.rglob("*.py")):
            if path.name in ENTRY_FILES or "__pycache__" in path.parts:
                continue
            parts = path.relative_to(src).with_suffix("").parts
            found[".".join(parts)] = path
    return found


def _with_prefixes(name: str) -> set[str]:
    """`a.b.c` imports a, a.b and a.b.c."""
    parts = name.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts) + 1)}


def imported_names(tree: ast.AST) -> set[str]:
    """Every dotted name an import anywhere in the tree may load. `from pkg import mod`
    counts pkg.mod, because `mod` may be a module: only names of modules are looked up."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names |= _with_prefixes(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= _with_prefixes(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def imports_in_tests(tests: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted(tests.rglob("*.py")):
        names |= imported_names(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return names


def untested(modules: dict[str, Path], imported: Iterable[str]) -> list[tuple[str, Path]]:
    seen = set(imported)
    return [(name, path) for name, path in modules.items() if name not in seen]


def message(name: str, path: Path) -> str:
    package, _, module = name.rpartition(".")
    return (
        f"{path.as_posix()}: no test imports {name}. Write tests/test_{module}.py with "
        f"`from {package} import {module}` and a test of what it does."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    root = Path(args[0]) if args else Path(".")
    modules = package_modules(root / "src")
    missing = untested(modules, imports_in_tests(root / "tests"))
    for name, path in missing:
        print(message(name, path.relative_to(root)))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
