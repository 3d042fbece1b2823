"""What the serving and batch benchmarks share: a baked project whose pipeline has run,
servers started from it, and memory read from /proc."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TEMPLATE / "tests"))
from bake_env import bake_environment  # noqa: E402 - the tests' environment, shared

ENV = bake_environment()


def run(cmd: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=kwargs.pop("env", ENV), capture_output=True,
                          text=True, **kwargs)  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited {done.returncode}\n{done.stdout}{done.stderr}")
    return done


def project(path: str | None) -> Path:
    """The given project (its pipeline is run if needed), else a fresh default bake."""
    if path is None:
        out = Path(tempfile.mkdtemp(prefix="bench-"))
        print(f"baking the default project into {out} ...", flush=True)
        run(["cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out)], out)
        [baked] = [p for p in out.iterdir() if (p / "pyproject.toml").exists()]
    else:
        baked = Path(path).resolve()
    if not (baked / "models/candidate/lineage.json").exists():
        print("running its pipeline (make pipeline) ...", flush=True)
        run(["make", "pipeline"], baked)
    return baked


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], cwd: Path, url: str, env: dict | None = None) -> subprocess.Popen:
    """Start a server and wait until `url` answers 200."""
    server = subprocess.Popen(cmd, cwd=cwd, env=env or ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"{' '.join(cmd)} exited {server.returncode}:\n{server.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.3)
    server.kill()
    sys.exit(f"{' '.join(cmd)} did not answer {url} within 120 s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split()
        for child in children:
            found += descendants(int(child))
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (uvicorn workers), in MiB."""
    total_kib = 0
    for each in descendants(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except FileNotFoundError:
            continue
        total_kib += next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))  # fmt: skip
    return total_kib / 1024
