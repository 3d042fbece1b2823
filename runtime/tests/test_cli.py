"""The command's subcommands, run as a user runs them: `main([...])` in a scratch project, on
real files, git and DVC repositories and a real server on 127.0.0.1."""

import importlib
import json
import os
import re
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest
import uvicorn
from conftest import ROOT, dvc, dvc_add, git_commit, new_repository, records, write_raw

from groundwork import COMMAND
from groundwork.cli import main
from groundwork.config import compose_config
from groundwork.data.load import data_spec
from groundwork.release.package import load_package

KEY = "cli-test-key-0123456789"


def log_events(text: str) -> list[dict]:
    """The JSON log records in `text` (LOG_FORMAT=json), skipping anything else."""
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def event(events: list[dict], name: str) -> dict:
    [found] = [record for record in events if record.get("event") == name]
    return found


# --- python -m groundwork ------------------------------------------------------------------


def test_python_m_groundwork_lists_the_subcommands(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "groundwork", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: groundwork ")
    for command in ("serve", "score", "promote", "rollback", "commit-run", "pull", "monitor"):
        assert f"    {command} " in done.stdout


def test_python_m_groundwork_exits_with_the_command_s_code(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["groundwork", "score", "in.csv", "out.csv", "--model", "m", "--master", "local"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("groundwork", run_name="__main__")
    assert exited.value.code == 1
    assert "--master and --partitions are options of --engine spark" in capsys.readouterr().err


# --- serve ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, alive, seconds: float = 90) -> None:
    """Until `url`/health answers; fail at once if `alive()` says the server stopped."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{url}/health", timeout=2).raise_for_status()
            return
        except httpx.TransportError:
            assert alive(), "the server stopped before it answered"
            assert time.monotonic() < deadline, f"no answer from {url} in {seconds}s"
            time.sleep(0.2)


@pytest.fixture
def serving(monkeypatch, tmp_path):
    """`serving(*args)`: `serve` run by main() in a thread, on a free port; the context's
    value has its `url`, and after the context the command's exit `code`. The real uvicorn
    server is kept at hand, to be stopped as Ctrl-C stops it."""
    servers = []

    class KeptServer(uvicorn.Server):
        def __init__(self, config):
            super().__init__(config)
            servers.append(self)

    # The module, not the function `uvicorn.main` that the package exports under its name.
    monkeypatch.setattr(importlib.import_module("uvicorn.main"), "Server", KeptServer)
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("PREDICTION_LOG", str(tmp_path / "predictions.jsonl"))
    for name in ("MODEL_PATH", "API_KEYS", "API_KEYS_FILE", "ALLOW_ANONYMOUS"):
        monkeypatch.delenv(name, raising=False)
    # The command sets these for its workers: put back as they were, or later tests would
    # find this test's model in $MODEL_PATH. (monkeypatch restores only what it changed.)
    kept = {name: os.environ.get(name) for name in ("MODEL_PATH", "LOG_LEVEL")}

    @contextmanager
    def serve(*args: str):
        port = free_port()
        server = SimpleNamespace(url=f"http://127.0.0.1:{port}", code=None)

        def run() -> None:
            server.code = main(["serve", "--port", str(port), *args])

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        wait_for(server.url, thread.is_alive)
        try:
            yield server
        finally:
            servers[-1].should_exit = True
            thread.join(30)
            assert not thread.is_alive(), "the server did not stop"

    yield serve
    for name, value in kept.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_serve_answers_callers_that_present_a_key_and_refuses_the_others(
    serving, model_package, sample, spec, monkeypatch, capsys
):
    monkeypatch.setenv("API_KEYS", KEY)
    with serving("--model", str(model_package)) as server:
        health = httpx.get(f"{server.url}/health").json()
        refused = httpx.post(f"{server.url}/predict", json=records(sample, spec, 2))
        answered = httpx.post(
            f"{server.url}/predict", json=records(sample, spec, 2), headers={"X-API-Key": KEY}
        )
    assert server.code == 0
    version = load_package(model_package).version
    assert health == {"status": "ok", "model_version": version}
    assert refused.status_code == 401
    assert answered.status_code == 200 and len(answered.json()["predictions"]) == 2
    events = log_events(capsys.readouterr().err)
    assert event(events, "API keys required")["keys"] == 1
    served = event(events, "serving model")
    assert served["path"] == str(model_package.resolve()) and served["version"] == version


@pytest.mark.parametrize(
    "host, environment, callers",
    [
        ("127.0.0.1", {}, "this machine only"),
        ("0.0.0.0", {"ALLOW_ANONYMOUS": "true"}, "anyone (ALLOW_ANONYMOUS)"),
    ],
)
def test_serve_without_keys_says_who_may_call(
    serving, model_package, sample, spec, monkeypatch, capsys, host, environment, callers
):
    monkeypatch.setenv("MODEL_PATH", str(model_package))  # no --model: $MODEL_PATH
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with serving("--host", host) as server:
        answered = httpx.post(f"{server.url}/predict", json=records(sample, spec, 1))
    assert server.code == 0
    assert answered.status_code == 200, answered.text
    warning = event(log_events(capsys.readouterr().err), "serving without API keys")
    assert warning["host"] == host and warning["callers"] == callers
    assert warning["level"] == "warning"


def test_serve_with_workers_adds_up_their_metrics_and_cleans_up_after_ctrl_c(
    model_package, sample, spec, tmp_path
):
    port, scratch = free_port(), tmp_path / "tmp"
    scratch.mkdir()
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("API_KEYS", "API_KEYS_FILE", "PROMETHEUS_MULTIPROC_DIR", "MODEL_PATH")
    } | {"TMPDIR": str(scratch), "PREDICTION_LOG": str(tmp_path / "predictions.jsonl")}
    command = [sys.executable, "-m", "groundwork", "serve", "--model", str(model_package)]
    with (tmp_path / "server.log").open("w") as output:
        server = subprocess.Popen(
            [*command, "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, lambda: server.poll() is None)
        [shared] = scratch.glob("metrics-*")  # the workers' shared metrics folder
        for row in records(sample, spec, 6):  # a new connection each: either worker answers
            assert httpx.post(f"{url}/predict", json=row).status_code == 200
        scraped = httpx.get(f"{url}/metrics").text
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    said = (tmp_path / "server.log").read_text()
    version = load_package(model_package).version
    assert f'predict_requests_total{{model_version="{version}",status="200"}} 6.0' in scraped
    assert code == 0, said
    assert not shared.exists(), "the metrics folder outlived the server"


def test_serve_refuses_a_key_file_it_cannot_read(model_package, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("API_KEYS_FILE", str(tmp_path / "missing-keys"))
    assert main(["serve", "--model", str(model_package)]) == 1
    err = capsys.readouterr().err
    assert f"API_KEYS_FILE={tmp_path / 'missing-keys'} cannot be read" in err
    assert "Traceback" not in err


# --- score ---------------------------------------------------------------------------------


def test_spark_options_are_refused_for_the_pandas_engine(model_package, sample, tmp_path, capsys):
    source = write_raw(sample, tmp_path / "in.csv")
    for option in (["--master", "local[1]"], ["--partitions", "2"]):
        args = ["score", str(source), str(tmp_path / "out.csv"), "--model", str(model_package)]
        assert main([*args, *option]) == 1
        assert "--master and --partitions are options of --engine spark" in (
            capsys.readouterr().err
        )
    assert not (tmp_path / "out.csv").exists()


# --- params and sample-data ----------------------------------------------------------------


def test_params_composes_the_overrides_and_says_when_nothing_changed(workdir, capsys):
    assert main(["params", "seed=7"]) == 0
    assert capsys.readouterr().out == "params.yaml updated\n"
    assert "seed: 7\n" in (workdir / "params.yaml").read_text()
    assert main(["params", "seed=7"]) == 0
    assert capsys.readouterr().out == "params.yaml up to date\n"


def project_reading(data: str, root: Path, monkeypatch) -> Path:
    """A scratch project whose default data config is `data`, entered."""
    shutil.copytree(ROOT / "conf", root / "conf")
    config = root / "conf/config.yaml"
    config.write_text(re.sub(r"(?m)^  - data: \w+$", f"  - data: {data}", config.read_text()))
    monkeypatch.chdir(root)
    return root


def test_sample_data_writes_rows_that_the_pipeline_validates(tmp_path, monkeypatch, capsys):
    workdir = project_reading("breast_cancer", tmp_path, monkeypatch)
    cfg = compose_config()
    assert main(["sample-data"]) == 0
    assert capsys.readouterr().out == f"sample data written to {cfg.data.raw_path}\n"
    written = pd.read_csv(workdir / cfg.data.raw_path)
    columns = {column.name for column in data_spec(cfg).columns}
    assert columns <= set(written.columns) and len(written)
    assert main(["params"]) == 0 and main(["validate"]) == 0
    assert main(["sample-data", "elsewhere/rows.csv"]) == 0
    assert pd.read_csv(workdir / "elsewhere/rows.csv").equals(written)


def test_sample_data_refuses_a_data_config_of_one_s_own_data(tmp_path, monkeypatch, capsys):
    project_reading("own", tmp_path, monkeypatch)
    data = tmp_path / "conf/data"
    own = [line for line in (data / "breast_cancer.yaml").read_text().splitlines()
           if not line.startswith("sample:")]  # fmt: skip
    (data / "own.yaml").write_text("\n".join(own).replace("breast_cancer.csv", "own.csv"))
    assert main(["sample-data"]) == 1
    err = capsys.readouterr().err
    assert "reads data/raw/own.csv, which is your own data, not a sample set" in err
    assert "`make data`" in err
    assert not (tmp_path / "data").exists()


# --- status and commit-run outside git -----------------------------------------------------


def test_status_and_commit_run_outside_git_say_so(workdir, monkeypatch, capsys):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(workdir.parent))
    assert main(["status"]) == 0
    assert "not a git repository" in capsys.readouterr().out
    assert main(["params"]) == 0
    capsys.readouterr()
    assert main(["commit-run"]) == 1
    assert "not a git repository: run `git init` first" in capsys.readouterr().err


# --- pull ----------------------------------------------------------------------------------


def test_pull_with_nothing_tracked_says_so(workdir, capsys):
    assert main(["pull"]) == 0
    assert capsys.readouterr().out == "up to date: nothing is tracked by DVC yet\n"


TRACKED = {"data/raw/rows.csv": "id,value\n1,0.5\n", "models/registry/v0.0.1.txt": "model\n"}


@pytest.fixture(scope="module")
def tracked_template(tmp_path_factory):
    """A project under git whose data file and model file DVC tracks and pushed to a local
    remote inside it (`storage`, named by a relative path); the workspace copies and DVC's
    cache deleted, as in a fresh clone."""
    root = tmp_path_factory.mktemp("tracked")
    (root / "conf").symlink_to(ROOT / "conf", target_is_directory=True)
    git_commit(root, "scratch project")
    for path, text in TRACKED.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
        dvc_add(root, path)
    (root / "storage").mkdir()
    dvc(root, "remote", "add", "--default", "storage", "storage")
    dvc(root, "push", "--quiet")
    git_commit(root, "track the files")
    for path in TRACKED:
        (root / path).unlink()
    shutil.rmtree(root / ".dvc/cache")
    return root


@pytest.fixture
def tracked(tracked_template, tmp_path, monkeypatch):
    """A copy of the tracked project, as the working directory; the tracked files."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    shutil.copytree(tracked_template, tmp_path / "project", symlinks=True)
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def test_pull_fetches_every_pointer_under_data_and_models(tracked, capsys):
    assert main(["pull"]) == 0
    pointers = sorted(f"{path}.dvc" for path in TRACKED)
    assert capsys.readouterr().out == f"up to date: {', '.join(pointers)}\n"
    for path, text in TRACKED.items():
        assert (tracked / path).read_text() == text


def test_pull_of_one_pointer_fetches_only_its_file(tracked):
    assert main(["pull", "models/registry/v0.0.1.txt.dvc"]) == 0
    assert (tracked / "models/registry/v0.0.1.txt").read_text() == "model\n"
    assert not (tracked / "data/raw/rows.csv").exists()


def test_pull_without_the_remote_folder_says_where_it_should_be(tracked, capsys):
    shutil.rmtree(tracked / "storage")
    assert main(["pull"]) == 1
    err = capsys.readouterr().err
    assert f"the DVC remote 'storage' is the folder {tracked / 'storage'}, which does not" in err
    assert "uv run dvc remote modify --local storage url /path/to/storage" in err


# --- the registry: history and promote without remotes ---------------------------------------


@pytest.fixture
def registry_project(workdir, monkeypatch):
    """The scratch project under git and DVC with the model registry's settings, and no
    remote of either kind."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(workdir.parent))
    for name in (".gto", "artifacts.yaml"):
        shutil.copy(ROOT / name, workdir / name)
    new_repository(workdir)
    dvc(workdir, "init", "--quiet")
    (workdir / ".gitignore").write_text("/data/\n/models/candidate/\n/reports/\n")
    git_commit(workdir, "scratch project")
    return workdir


def test_history_before_any_promotion_says_how_to_start(registry_project, capsys):
    assert main(["history"]) == 0
    assert capsys.readouterr().out == f"no registry events yet: run `uv run {COMMAND} promote`.\n"


def test_a_promotion_that_cannot_be_shared_says_what_is_missing(
    registry_project, cfg, sample, model_package, monkeypatch, capsys
):
    from groundwork.release import cost

    monkeypatch.setattr(cost, "LATENCY_CALLS", 60)  # scikit-learn timed 60 times, not 300
    monkeypatch.setattr(cost, "WARMUP_CALLS", 5)
    write_raw(sample, registry_project / cfg.data.raw_path)
    for step in (["params"], ["validate"], ["features"]):
        assert main(step) == 0, step
    shutil.copytree(model_package, registry_project / cfg.artifacts.package)
    capsys.readouterr()
    assert main(["promote", "--allow-dirty"]) == 0
    out, err = capsys.readouterr()
    assert "promoted v0.0.1 to production (previous: none)" in out
    assert "A server started before this" not in out  # nothing served before
    assert "warning: not shared: the model packages did not reach the DVC remote" in err
    assert "no default DVC remote is configured" in err
    assert "Once that is fixed, share it with `uv run dvc push && git push" in err
    # Registered all the same: production is the new version.
    assert main(["production"]) == 0
    assert capsys.readouterr().out == "models/registry/v0.0.1\n"


# --- notebook-to-module --------------------------------------------------------------------


def test_notebook_to_module_writes_the_module_and_its_test(tmp_path, monkeypatch, capsys):
    import nbformat

    (tmp_path / "conf").symlink_to(ROOT / "conf", target_is_directory=True)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src/fixture_project").mkdir(parents=True)
    (tmp_path / "src/fixture_project/cli.py").write_text('"""The command."""\n')
    (tmp_path / "tests").mkdir()
    notebook = nbformat.v4.new_notebook()
    cell = (
        "# spread: each numeric feature's range\nraw[spec.numeric].max() - raw[spec.numeric].min()"
    )
    notebook.cells.append(nbformat.v4.new_code_cell(cell, metadata={"tags": ["export"]}))
    nbformat.write(notebook, tmp_path / "spread.ipynb")
    monkeypatch.chdir(tmp_path)
    assert main(["notebook-to-module", "spread.ipynb", "spread"]) == 0
    module, test = Path("src/fixture_project/spread.py"), Path("tests/test_spread.py")
    assert capsys.readouterr().out == (
        f"wrote {module} and {test}. Run `make test`, then `git add {module} {test}`.\n"
    )
    assert "def spread(raw: pd.DataFrame, spec: DataSpec) -> pd.Series:" in module.read_text()
    assert "from fixture_project.spread import" in test.read_text()
    assert main(["notebook-to-module", "spread.ipynb", "spread"]) == 1
    assert f"'spread' clashes with {module}, {test}, which exist already" in (
        capsys.readouterr().err
    )
