"""`adopt-data`: the spec inferred from a file, and refusals that leave nothing half-written."""

import contextlib
import re
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, git, git_commit

from groundwork.cli import main
from groundwork.data.adopt import (
    AdoptionRefused,
    config_text,
    infer_spec,
    numeric_range,
)
from groundwork.data.load import validate
from groundwork.data.schema import raw_schema


def penguins(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three species, text categories, missing values and an id: made here, not downloaded."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "penguin_id": np.arange(1000, 1000 + rows),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], rows),
            "bill_length_mm": rng.normal(44, 5, rows).round(1),
            "body_mass_g": rng.normal(4200, 800, rows).round(0),
            "sex": rng.choice(["female", "male"], rows).astype(object),
            "species": rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows),
        }
    )
    frame.loc[::17, "sex"] = None
    frame.loc[::23, "bill_length_mm"] = np.nan
    return frame


def test_roles_rules_and_classes_are_inferred():
    data = penguins()
    adoption = infer_spec(data, "species", "classification")
    spec = adoption.spec
    assert spec.target.classes == ("Adelie", "Chinstrap", "Gentoo")
    assert spec.column("penguin_id").role == "identifier"
    assert spec.numeric == ["bill_length_mm", "body_mass_g"]
    assert spec.categorical == ["island", "sex"]
    assert spec.column("sex").values == ("female", "male") and spec.column("sex").nullable
    assert spec.column("bill_length_mm").nullable and not spec.column("body_mass_g").nullable
    mass = spec.column("body_mass_g")
    assert mass.min < data["body_mass_g"].min() and mass.max > data["body_mass_g"].max()
    assert "3 values" in adoption.notes["island"] and "missing" in adoption.notes["sex"]
    validate(data, raw_schema(spec))  # the data passes the rules inferred from it


def test_ranges_are_widened_and_stay_non_negative():
    assert numeric_range(0.0, 10.0) == (0.0, 11.0)
    assert numeric_range(-5.0, 5.0) == (-6.0, 6.0)
    low, high = numeric_range(3.2581, 6.107)
    assert 0 < low < 3.2581 and 6.107 < high < 7


def test_free_text_and_unique_text_are_kept_out_of_the_features():
    data = penguins().assign(
        note=[f"note {i % 97}" for i in range(300)], tag=[f"t{i}" for i in range(300)]
    )
    spec = infer_spec(data, "species", "classification", ids=("penguin_id",)).spec
    assert spec.column("note").role == "ignored"
    assert spec.column("tag").role == "identifier"


@pytest.mark.parametrize(
    "change, target, task, message",
    [
        ({}, "colour", "classification", "target column 'colour' is not in the file"),
        ({"species": "Adelie"}, "species", "classification", "has a single value"),
        ({}, "body_mass_g", "classification", "pass --task regression"),
        ({}, "species", "regression", "is not numeric"),
        ({"species": None}, "species", "classification", "is empty in 300 row(s)"),
    ],
)
def test_bad_targets_are_refused(change, target, task, message):
    with pytest.raises(AdoptionRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        infer_spec(penguins().assign(**change), target, task)


@pytest.fixture
def project(workdir):
    """A scratch project under git and DVC, with its own copy of conf/."""
    (workdir / "conf").unlink()
    shutil.copytree(ROOT / "conf", workdir / "conf")
    subprocess.run(["git", "init", "--quiet"], check=True)
    subprocess.run(["dvc", "init", "--quiet"], check=True)
    return workdir


def snapshot(root):
    """Every file of the project but git's and DVC's own state (its cache, locks and temporary
    files), which git ignores."""
    files = {str(path.relative_to(root)): path for path in sorted(root.rglob("*"))}
    return {
        name: path.read_bytes()
        for name, path in files.items()
        if path.is_file() and not name.startswith((".git/", ".dvc/tmp/", ".dvc/cache"))
    }


def test_a_file_is_adopted_and_becomes_the_default(project, capsys):
    source = project / "incoming" / "Penguins 2024.csv"
    source.parent.mkdir()
    penguins().to_csv(source, index=False)
    assert main(["adopt-data", str(source), "--target", "species", "--task", "classification"]) == 0
    out = capsys.readouterr().out
    assert "target 'species': classification (3 classes)" in out
    assert "make pipeline && make test" in out
    config = yaml.safe_load((project / "conf/data/penguins_2024.yaml").read_text())
    assert config["raw_path"] == "data/raw/penguins_2024.csv" and config["task"] == "classification"
    island = config["columns"]["island"]
    assert island["role"] == "categorical" and island["nullable"] is False
    assert island["values"] == ["Biscoe", "Dream", "Torgersen"]
    assert "- data: penguins_2024" in (project / "conf/config.yaml").read_text()
    assert (project / "data/raw/penguins_2024.csv.dvc").exists()
    assert "data/raw/penguins_2024.csv" in (project / "params.yaml").read_text()

    # The same content under another name is refused.
    again = project / "incoming" / "copy.csv"
    shutil.copyfile(source, again)
    before = snapshot(project)
    assert main(["adopt-data", str(again), "--target", "species", "--task", "classification"]) == 1
    assert "already tracked as data/raw/penguins_2024.csv" in capsys.readouterr().err
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("a,b\n1,2\n", ["--target", "c"], "target column 'c' is not in the file"),
        ("a,b\n1,x\n2,x\n", ["--target", "b"], "has a single value"),
        (b"\xff\xfe\x00garbage", ["--target", "a"], "not a readable CSV"),
        ("a,b\n1,2\n", ["--target", "b", "--name", "Bad Name"], "--name 'Bad Name'"),
        (None, ["--target", "a"], "not found"),
    ],
)
def test_refusals_leave_the_project_as_it_was(project, capsys, content, args, message):
    source = project / "incoming.csv"
    if isinstance(content, bytes):
        source.write_bytes(content)
    elif content is not None:
        source.write_text(content)
    before = snapshot(project)
    assert main(["adopt-data", str(source), *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert snapshot(project) == before


def customers(rows: int = 200, seed: int = 2) -> pd.DataFrame:
    """Penguins with personal data beside them, and text that only looks a little like it."""
    rng = np.random.default_rng(seed)
    return penguins(rows, seed).assign(
        contact=[f"user{n}@example.org" for n in range(rows)],
        telephone_or_not=[f"+44 20 7946 {n:04d}" for n in range(rows)],
        customer_name=[f"Person {n}" for n in range(rows)],
        account=["DE89 3704 0044 0532 0130 00"] * rows,
        client_ip=[f"10.0.{n // 250}.{n % 250}" for n in range(rows)],
        remark=[f"{n}@x.org" if n < rows // 2 else "none" for n in range(rows)],
        size=rng.choice(["S", "M", "L"], rows),
    )


def test_personal_data_is_flagged_kept_out_of_the_features_and_the_config():
    data = customers()
    adoption = infer_spec(data, "species", "classification")
    spec = adoption.spec
    flagged = ["contact", "telephone_or_not", "customer_name", "account", "client_ip"]
    assert [column.name for column in spec.columns if column.pii] == flagged
    assert all(spec.column(name).role == "identifier" for name in flagged)
    assert spec.feature_names == ["island", "bill_length_mm", "body_mass_g", "sex", "size"]
    assert adoption.notes["contact"] == (
        "pii: 100% of values look like e-mail addresses; not a feature"
    )
    assert adoption.notes["telephone_or_not"].startswith("pii: 100% of values look like phone")
    assert adoption.notes["account"].startswith("pii: 100% of values look like IBANs")
    assert adoption.notes["customer_name"] == (
        "pii: the name 'customer_name' suggests a person's name, and 200 of its 200 distinct "
        "values are each held by fewer than 5 rows, so they can single out a person; "
        "not a feature"
    )
    assert spec.column("remark").role == "ignored"  # half e-mails: free text, not flagged
    text = config_text(
        {"validated_path": "v", "train_path": "t", "test_path": "s", "test_size": 0.2},
        spec,
        Path("data/raw/customers.csv"),
        Path("customers.csv"),
    )
    written = yaml.safe_load(text)["columns"]
    assert written["contact"] == {"role": "identifier", "pii": True}
    for name in flagged:
        assert not any(str(value) in text for value in data[name].head(50))


@pytest.mark.parametrize("name, first", [("rownames", 1), ("X", 1), ("Unnamed: 0", 0), ("n", 7)])
def test_a_row_number_is_an_identifier_whatever_its_name(name, first):
    data = penguins().drop(columns="penguin_id")
    data.insert(0, name, range(first, first + len(data)))
    adoption = infer_spec(data, "species", "classification")
    assert adoption.spec.column(name).role == "identifier"
    assert name not in adoption.spec.feature_names
    assert adoption.notes[name] == (
        f"identifier: 300 distinct consecutive integers ({first} to {first + 299}), a row "
        "number: not learned from (set its role to numeric if it is a quantity)"
    )


def test_integers_with_a_gap_or_a_repeat_stay_numeric():
    rows = np.arange(300)
    data = penguins().assign(gap=np.where(rows < 150, rows, rows + 1), repeat=rows // 2)
    spec = infer_spec(data, "species", "classification").spec
    assert spec.column("gap").role == "numeric" and spec.column("repeat").role == "numeric"


def test_a_row_number_written_by_pandas_is_adopted_as_an_identifier(project, capsys):
    source = project / "incoming" / "row_numbered.csv"
    source.parent.mkdir()
    # Shuffled, then written with its index, as `to_csv` does by default.
    penguins().drop(columns="penguin_id").sample(frac=1, random_state=0).to_csv(source)
    assert main(["adopt-data", str(source), "--target", "species", "--task", "classification"]) == 0
    out = capsys.readouterr().out
    note = "identifier: 300 distinct consecutive integers (0 to 299), a row number"
    assert re.search(rf"Unnamed: 0 +{re.escape(note)}", out)
    config = yaml.safe_load((project / "conf/data/row_numbered.yaml").read_text())
    assert config["columns"]["Unnamed: 0"] == {"role": "identifier"}


def test_a_name_alone_is_not_personal_data_the_values_confirm_it():
    rows = 300
    data = penguins(rows).assign(
        address=np.where(np.arange(rows) % 3, "Urban", "Rural"),  # each value held by many
        Name=[f"Person {n}" for n in range(rows)],
        zip_code=[f"{1000 + n % 70}" for n in range(rows)],  # 70 codes, 50 held by 4 rows
        contact=[f"user{n}@example.org" for n in range(rows)],  # an innocent name
    )
    adoption = infer_spec(data, "species", "classification")
    spec, notes = adoption.spec, adoption.notes
    assert spec.column("address").role == "categorical" and not spec.column("address").pii
    assert notes["address"] == (
        "categorical: 2 values; not pii: the name 'address' suggests a postal address, but "
        "each of its 2 distinct values is held by 5 rows or more, so none singles out a person"
    )
    assert [column.name for column in spec.columns if column.pii] == ["Name", "zip_code", "contact"]
    assert notes["Name"].startswith("pii: the name 'Name' suggests a person's name, and 300 of")
    assert notes["zip_code"] == (
        "pii: the name 'zip_code' suggests a postal address, and 50 of its 70 distinct values "
        "are each held by fewer than 5 rows, so they can single out a person; not a feature"
    )
    assert notes["contact"] == "pii: 100% of values look like e-mail addresses; not a feature"
    assert "pii" not in notes["island"]  # nothing in its name or values suggests it


def git_status(root: Path) -> str:
    return git(root, "status", "--porcelain", "--untracked-files=all")


@pytest.fixture
def committed(project):
    """The scratch project with a raw file already tracked, all of it committed: git status
    is clean."""
    (project / "data/raw").mkdir(parents=True)
    (project / "data/raw/.gitignore").write_text("/earlier.csv\n")
    git_commit(project)
    assert git_status(project) == ""
    return project


def _writable(path: Path) -> bool:
    """Whether this process can still change `path` (a file's content, a directory's entries)."""
    try:
        if path.is_dir():
            (path / ".probe").touch()
            (path / ".probe").unlink()
        else:
            path.open("a").close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def read_only(*paths: Path):
    """`paths` made unwritable, then given back: by their mode, and where a mode does not
    bind (root) by the immutable attribute; the test is skipped where neither can."""
    modes = {path: path.stat().st_mode for path in paths}
    frozen: list[Path] = []
    try:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
            if _writable(path):
                done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
                if done.returncode == 0:
                    frozen.append(path)
                if _writable(path):
                    pytest.skip("this process can make no file read-only (root without chattr)")
        yield
    finally:
        for path in frozen:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        for path, mode in modes.items():
            path.chmod(mode)


@contextlib.contextmanager
def file_size_limit(size: int):
    """A real write failure part-way through a file: the process may write no file beyond
    `size` bytes (a full disk or quota, as the write sees it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@contextlib.contextmanager
def failing(step: str, root: Path):
    """A real fault at one step of the adoption."""
    if step == "copy":
        with file_size_limit(4096):
            yield
    elif step == "dvc add":
        # A cache that cannot be written: DVC fails after it has added to .gitignore.
        (root / ".dvc/cache").write_text("not a directory\n")
        yield
        (root / ".dvc/cache").unlink()
    elif step == "dvc config":
        config = root / ".dvc/config"
        kept = config.read_bytes()
        config.write_text("[core\n")
        yield
        config.write_bytes(kept)
    elif step == "config write":
        with read_only(root / "conf/data"):
            yield
    elif step == "default switch":
        with read_only(root / "conf/config.yaml", root / "conf"):
            yield
    else:  # params: the project's root takes no new file
        with read_only(root):
            yield


@pytest.mark.parametrize(
    "step", ["copy", "dvc add", "dvc config", "config write", "default switch", "params"]
)
def test_a_failed_step_leaves_the_project_as_it_was_and_a_retry_succeeds(
    committed, tmp_path_factory, capsys, step
):
    source = tmp_path_factory.mktemp("incoming") / "retried.csv"
    penguins(rows=400).to_csv(source, index=False)  # beyond the copy's 4096 bytes
    command = ["adopt-data", str(source), "--target", "species", "--task", "classification"]
    with failing(step, committed):
        before = snapshot(committed)
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "the project is as it was" in err and "Traceback" not in err
        assert snapshot(committed) == before
    assert git_status(committed) == ""
    assert main(command) == 0, capsys.readouterr().err
    assert (committed / "conf/data/retried.yaml").exists()
    assert "- data: retried" in (committed / "conf/config.yaml").read_text()
    assert git_status(committed).splitlines() == [
        " M conf/config.yaml",
        " M data/raw/.gitignore",
        "?? conf/data/retried.yaml",
        "?? data/raw/retried.csv.dvc",
        "?? params.yaml",
    ]
