from groundwork.tools import check_data_in_dvc as check


def test_data_files_are_blocked_anywhere():
    assert check.is_data_outside_dvc("exports/big.csv")
    assert check.is_data_outside_dvc("model.PKL")
    assert check.is_data_outside_dvc("data/raw/new.txt")


def test_dvc_pointers_and_code_pass():
    assert not check.is_data_outside_dvc("data/raw/breast_cancer.csv.dvc")
    assert not check.is_data_outside_dvc("data/raw/.gitignore")
    assert not check.is_data_outside_dvc("src/pkg/data.py")


def test_main_names_the_file_and_the_fix(capsys):
    assert check.main(["notes.md", "exports/big.csv"]) == 1
    assert "dvc add exports/big.csv" in capsys.readouterr().out
    assert check.main(["notes.md"]) == 0
