"""Shared fixtures: bake real projects and run commands in them."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from bake_env import bake_environment, cookiecutter_config, runtime_index

TEMPLATE = Path(__file__).resolve().parents[1]
HOOKS = TEMPLATE / "hooks"

# Every option value appears in at least one combination; each is baked and run.
COMBINATIONS = {
    "default": {},
    "py312-gitlab-s3": {
        "project_name": "Fraud Scores",
        "python_version": "3.12",
        "license": "BSD-3-Clause",
        "ci": "gitlab",
        "dvc_remote": "s3",
    },
    "py313-noci-gcs": {
        "project_name": "Demand Forecast",
        "task": "regression",
        "python_version": "3.13",
        "license": "Apache-2.0",
        "ci": "none",
        "dvc_remote": "gcs",
    },
    # The longest slug (63 characters) and module name (63) the hook accepts: the generated
    # code must stay within its linter's line length with them.
    "proprietary-azure": {
        "project_name": "Credit Risks of Small Business Loans Across Regions and Sectors",
        "module_name": "credit_risk_model_of_small_business_loans_in_each_region_sector",
        "license": "Proprietary",
        "ci": "github",
        "dvc_remote": "azure",
    },
}


ENV = bake_environment()
os.environ.update(ENV)


# The template's CI (.ci/run) installs every tool the suite uses; there, a missing one is
# a failure. Elsewhere its tests skip, saying what to install.
TOOLS_REQUIRED = os.environ.get("CI", "").lower() == "true"


def missing_tool(reason: str):
    """Stop a test that needs a tool this machine lacks: a failure under CI, else a skip."""
    if TOOLS_REQUIRED:
        pytest.fail(f"CI=true and {reason}: .ci/run should have installed it")
    pytest.skip(reason)


def load_hook(name: str):
    """Import a hook script as a module (its ANSWERS line stays unrendered)."""
    spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(cmd: list[str] | str, cwd: Path, check: bool = True, env: dict | None = None, **kwargs):
    """Run a command in a baked project; on failure show its whole output."""
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env or ENV,
        capture_output=True,
        text=True,
        shell=isinstance(cmd, str),
        **kwargs,
    )
    if check and done.returncode != 0:
        output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        pytest.fail(f"{cmd!r} exited {done.returncode}\n{output}")
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_url(url: str, process: subprocess.Popen, timeout: float = 30, output=None) -> None:
    """Wait until `url` answers; fail the test if `process` exits or time runs out first,
    showing what the process wrote to `output` (a file) when given."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                said = ""
                if output is not None:
                    output.seek(0)
                    said = f"; the process wrote:\n{output.read()}"
                pytest.fail(f"{url} did not answer{said}")
            time.sleep(0.2)


@pytest.fixture(scope="session", autouse=True)
def served_runtime(tmp_path_factory) -> str:
    """Every bake of the session resolves the runtime from an index on 127.0.0.1 serving the
    wheel of this checkout's runtime/, as a company's projects resolve it from theirs.

    Bakes get the index's URL as the answer `_runtime_index`, through cookiecutter's user
    config: pytest-cookies reads the config file below, and cookiecutter's command line,
    its Python API and cruft read the file that COOKIECUTTER_CONFIG names."""
    with runtime_index(tmp_path_factory.mktemp("runtime-index")) as url:
        config = cookiecutter_config(tmp_path_factory.mktemp("cookiecutter-user"), url)
        for environment in (os.environ, ENV):
            environment["COOKIECUTTER_CONFIG"] = str(config)
        yield url


@pytest.fixture(scope="session")
def _cookiecutter_config_file(served_runtime) -> Path:
    """pytest-cookies' user config: the one `served_runtime` wrote."""
    return Path(os.environ["COOKIECUTTER_CONFIG"])


def serve_command(project: Path, *args: str) -> list[str]:
    # The command is the slug, which a clone's folder need not be named after.
    answers = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    return ["uv", "run", "--frozen", answers["project_slug"], "serve", *args]


@contextlib.contextmanager
def running_api(
    project: Path, *args: str, env: dict | None = None, timeout: float = 90, output_path=None
):
    """`<slug> serve ARGS --port <free>` in the project; yields its URL once /health answers.
    The server's output is kept in `output_path` when given."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The server's output goes to a file: a pipe nobody reads would block a chatty server.
    kept = open(output_path, "w+") if output_path else tempfile.TemporaryFile("w+")  # noqa: SIM115
    with kept as output:
        server = subprocess.Popen(
            serve_command(project, *args, "--port", str(port)),
            cwd=project,
            env=env or ENV,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for_url(f"{url}/health", server, timeout, output)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def bake(cookies, **context) -> Path:
    """Bake the template with the given answers; fail the test with the hook's message."""
    result = cookies.bake(extra_context=context)
    if result.exit_code != 0:
        pytest.fail(f"bake failed: {result.exception!r}")
    return Path(result.project_path)


@pytest.fixture(scope="session")
def default_project(cookies_session) -> Path:
    """One baked default project whose pipeline has run, shared by read-only tests."""
    project = bake(cookies_session, **COMBINATIONS["default"])
    run(["make", "pipeline"], project)
    return project


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`--dist loadgroup`), a test module runs on one worker, so its
    module-scoped bakes are made once; a test can name its own group instead, as
    test_bake.py's combinations and test_ci_runners.py's providers do, to run beside the
    rest of its module."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    # The runtime's own suite is one long test: started first, it runs beside the bakes
    # instead of after them.
    items.sort(key=lambda item: item.module.__name__ != "test_runtime")
