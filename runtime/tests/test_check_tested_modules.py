import ast

from groundwork.tools import check_tested_modules as check


def imports(code: str) -> set[str]:
    return check.imported_names(ast.parse(code))


def test_every_import_form_counts_the_module():
    assert "pkg.mod" in imports("import pkg.mod")
    assert "pkg.mod" in imports("from pkg.mod import thing")
    assert "pkg.mod" in imports("from pkg import mod")
    assert "pkg.sub.mod" in imports("from pkg.sub import mod as alias")
    assert "pkg.mod" in imports("def test():\n    from pkg import mod\n")  # inside a test
    assert "pkg.mod" not in imports("from pkg import other\nimport pkg")


def write(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_main_names_the_untested_module_and_the_fix(tmp_path, capsys):
    write(
        tmp_path,
        {
            "src/pkg/__init__.py": "",
            "src/pkg/__main__.py": "",
            "src/pkg/cli.py": "",
            "src/pkg/model/__init__.py": "",
            "src/pkg/model/train.py": "",
            "src/pkg/model/score.py": "",
            "tests/test_cli.py": "from pkg.cli import main\n",
            "tests/test_train.py": "from pkg.model import train\n",
        },
    )
    assert check.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    # Only score.py: the entry files (__init__, __main__) are not modules a test imports.
    assert out.splitlines() == [
        "src/pkg/model/score.py: no test imports pkg.model.score. Write tests/test_score.py "
        "with `from pkg.model import score` and a test of what it does."
    ]
    write(tmp_path, {"tests/test_score.py": "import pkg.model.score\n"})
    assert check.main([str(tmp_path)]) == 0
