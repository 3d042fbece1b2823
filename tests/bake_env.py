"""The environment bakes and their commands run in, and the index that serves them the
runtime: shared by the tests and the benchmarks."""

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
RUNTIME = "groundwork-runtime"  # the runtime's distribution name


def interpreter_dirs() -> list[str]:
    """Folders holding python3.12 / python3.13, so uv finds every version the options offer."""
    dirs = []
    for version in ("3.12", "3.13"):
        for candidate in sorted(Path.home().glob(f".pyenv/versions/{version}*/bin")):
            if (candidate / f"python{version}").exists():
                dirs.append(str(candidate))
                break
    return dirs


def bake_environment() -> dict[str, str]:
    """This template's venv first on PATH (it provides uv, cookiecutter, cruft), then
    interpreters for the other Python versions, so version-manager shims cannot interfere."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), *interpreter_dirs(), env["PATH"]]
    )
    env.pop("VIRTUAL_ENV", None)
    # A user's shell lets Python cache bytecode; without the cache every start of
    # dvc, pre-commit's tools or pytest recompiles its imports (seconds each).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["DVC_NO_ANALYTICS"] = "1"
    # One uv cache for every bake, even those that run with a scratch HOME.
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env.setdefault("LOG_FORMAT", "json")
    return env


def publish(source: Path, root: Path) -> None:
    """Build the runtime's wheel from `source` into the simple index at `root`, and list it
    with the wheels already there (a release adds a version to an index)."""
    files = root / "simple" / RUNTIME
    files.mkdir(parents=True, exist_ok=True)
    build = ["uv", "build", "--quiet", "--wheel", "--out-dir", str(files), str(source)]
    done = subprocess.run(build, cwd=TEMPLATE, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the runtime's wheel did not build:\n{done.stdout}{done.stderr}")
    links = "".join(
        f'<a href="{wheel.name}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}">'
        f"{wheel.name}</a>\n"
        for wheel in sorted(files.glob("*.whl"))
    )
    (files / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")


@contextlib.contextmanager
def runtime_index(root: Path) -> Iterator[str]:
    """The runtime's wheel, built from runtime/, served as a PEP 503 simple index on
    127.0.0.1: what a company's index (devpi, Artifactory, GitLab's package registry) is to
    its projects. A simple index is static files, so the standard library's http.server
    serves it; no index server is needed to show that uv resolves the runtime like any
    dependency. Yields the index's URL."""
    publish(TEMPLATE / "runtime", root)
    (root / "simple" / "index.html").write_text(f'<a href="{RUNTIME}/">{RUNTIME}</a>\n')
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/simple"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/{RUNTIME}/", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the runtime's index did not answer on {url}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def cookiecutter_config(folder: Path, index: str) -> Path:
    """A cookiecutter user config whose bakes answer `_runtime_index` with `index`:
    cookiecutter's command line, its Python API and cruft read the file COOKIECUTTER_CONFIG
    names."""
    config = folder / "config.yaml"
    settings = {
        "cookiecutters_dir": str(folder / "cookiecutters"),
        "replay_dir": str(folder / "replay"),
        "default_context": {"_runtime_index": index},
    }
    config.write_text(json.dumps(settings))  # JSON is YAML
    return config
