"""What the serving, batch and adopt benchmarks share: a baked project that has adopted
a penguin-like data set (categories, missing values, an id column) and run its pipeline,
the generator of that data, servers started from the project, and memory read from /proc."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
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
from bake_env import (  # noqa: E402 - the tests' environment and runtime index, shared
    bake_environment,
    cookiecutter_config,
    runtime_index,
)

ENV = bake_environment()
# Bakes resolve the runtime as the suite's do: this checkout's wheel, served on 127.0.0.1
# for as long as the script runs.
_SCRATCH = Path(tempfile.mkdtemp(prefix="groundwork-bench-index-"))
_INDEX = contextlib.ExitStack()
_INDEX.callback(shutil.rmtree, _SCRATCH, ignore_errors=True)
atexit.register(_INDEX.close)
ENV["COOKIECUTTER_CONFIG"] = str(
    cookiecutter_config(_SCRATCH, _INDEX.enter_context(runtime_index(_SCRATCH / "index")))
)


def run(cmd: list[str], cwd: Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run `cmd`; exit with its output if it fails (unless check is False)."""
    done = subprocess.run(cmd, cwd=cwd, env=kwargs.pop("env", ENV), capture_output=True,
                          text=True, **kwargs)  # fmt: skip
    if check and done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited {done.returncode}\n{done.stdout}{done.stderr}")
    return done


# Penguin-like rows, seeded: `species` (3 classes) is the target; `island` and `sex` are
# text categories; `sex` and `bill_length_mm` have missing values; `penguin_id` is a numeric
# id. Numbers are drawn per species and clipped at 2.5 standard deviations, so that a large
# file stays inside the ranges `adopt-data` infers from a small one of the same kind.
# Runs with the baked project's Python (numpy, pandas, pyarrow). `penguins(rows, seed)`
# is also pasted into other in-project scripts.
PENGUINS = """
import numpy as np
import pandas as pd

SPECIES = ["Adelie", "Chinstrap", "Gentoo"]
ISLANDS = ["Biscoe", "Dream", "Torgersen"]
# Per species: its share, its islands' shares, then (mean, sd) of each measure.
SHARES = [0.44, 0.20, 0.36]
ISLAND_SHARES = [[0.33, 0.37, 0.30], [0.05, 0.90, 0.05], [0.90, 0.05, 0.05]]
MEASURES = {
    "bill_length_mm": ([38.8, 48.8, 47.5], [2.7, 3.3, 3.1], 1),
    "bill_depth_mm": ([18.3, 18.4, 15.0], [1.2, 1.1, 1.0], 1),
    "flipper_length_mm": ([190.0, 196.0, 217.0], [6.5, 7.1, 6.5], 0),
    "body_mass_g": ([3700.0, 3733.0, 5076.0], [380.0, 330.0, 430.0], 0),
}


def penguins(rows, seed=0):
    rng = np.random.default_rng(seed)
    species = rng.choice(3, size=rows, p=SHARES)
    bounds = np.cumsum(ISLAND_SHARES, axis=1)[:, :-1]
    island = (rng.random(rows)[:, None] > bounds[species]).sum(axis=1)
    male = rng.random(rows) < 0.5
    frame = {"penguin_id": np.arange(1, rows + 1), "species": np.array(SPECIES)[species],
             "island": np.array(ISLANDS)[island]}
    for name, (means, sds, digits) in MEASURES.items():
        z = np.clip(rng.standard_normal(rows), -2.5, 2.5)
        value = np.array(means)[species] + np.array(sds)[species] * z
        if name == "body_mass_g":
            value += np.where(male, 250.0, -250.0)
        value = value.round(digits)
        frame[name] = value.astype("int64") if digits == 0 else value
    frame["sex"] = np.where(male, "male", "female").astype(object)
    df = pd.DataFrame(frame)
    df.loc[rng.random(rows) < 0.03, "sex"] = None
    df.loc[rng.random(rows) < 0.02, "bill_length_mm"] = np.nan
    return df
"""

WRITE_PENGUINS = (
    PENGUINS
    + """
import sys
out, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
df = penguins(rows, seed)
if out.endswith(".csv"):
    df.to_csv(out, index=False)
else:
    df.to_parquet(out, index=False)
"""
)

NAME = "penguins"  # the adopted data config: conf/data/penguins.yaml
TARGET, ID = "species", "penguin_id"
ADOPT_ROWS = 3000


def write_penguins(baked: Path, path: Path, rows: int, seed: int) -> Path:
    """Write `rows` penguin-like rows to `path` (.csv or .parquet) with the project's Python."""
    run([str(baked / ".venv/bin/python"), "-c", WRITE_PENGUINS, str(path), str(rows), str(seed)],
        baked)  # fmt: skip
    return path


def bake(out: Path | None = None) -> Path:
    """A fresh default bake (hooks on: git, `uv lock`, DVC) named Penguin Bench."""
    out = out or Path(tempfile.mkdtemp(prefix="bench-"))
    print(f"baking a project into {out} ...", flush=True)
    run(["cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out),
         "project_name=Penguin Bench"], out)  # fmt: skip
    [baked] = [p for p in out.iterdir() if (p / "pyproject.toml").exists()]
    return baked


def slug(baked: Path) -> str:
    return baked.name


def project(path: str | None) -> Path:
    """The given baked project, else a fresh bake; adopted with penguin-like data
    (`adopt-data penguins.csv --target species --id penguin_id`) unless it has been already,
    and its pipeline run unless its candidate package was built from that data."""
    baked = bake() if path is None else Path(path).resolve()
    if not (baked / "conf/data" / f"{NAME}.yaml").exists():
        # A bake creates no venv (the first `uv run` builds it); the generator needs pandas.
        run(["uv", "sync", "--locked", "--quiet"], baked)
        source = Path(tempfile.mkdtemp(prefix="bench-data-")) / f"{NAME}.csv"
        write_penguins(baked, source, ADOPT_ROWS, seed=0)
        print(f"adopting {ADOPT_ROWS:,} penguin-like rows (uv run {slug(baked)} adopt-data) ...",
              flush=True)  # fmt: skip
        run(["uv", "run", slug(baked), "adopt-data", str(source), "--target", TARGET,
             "--id", ID, "--name", NAME], baked)  # fmt: skip
        shutil.rmtree(source.parent)  # adopt-data copied it into data/raw
    lineage = baked / "models/candidate/lineage.json"
    raw = f"data/raw/{NAME}.csv"
    if not lineage.exists() or json.loads(lineage.read_text())["data"]["path"] != raw:
        print("running its pipeline (make pipeline) ...", flush=True)
        run(["make", "pipeline"], baked)
        if json.loads(lineage.read_text())["data"]["path"] != raw:
            sys.exit(f"{baked}: its pipeline does not read {raw}: make `- data: {NAME}` the "
                     "default in conf/config.yaml, or give no --project")  # fmt: skip
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


# Runs a command and prints its wall time and the peak resident memory (KiB) of the
# largest process in its tree (`uv run` waits for the Python it starts).
MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{done.returncode} {seconds} {peak}")
sys.stderr.write(done.stderr[-4000:])
"""


def measure(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `cmd`, in a fresh process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], cwd=cwd, env=ENV, capture_output=True, text=True
    )
    code, seconds, peak_kib = done.stdout.split()
    if code != "0":
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return float(seconds), int(peak_kib) / 1024


def verdict(met: bool) -> str:
    return "ok" if met else "MISSED"


def machine_line() -> str:
    """The core count and load average the figures were measured under."""
    load_average = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"\n{os.cpu_count()} cores, load average {load_average}"
