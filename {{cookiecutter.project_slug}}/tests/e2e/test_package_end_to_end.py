"""End to end over the package the pipeline built (run `make pipeline` first): the
project's command serves it over real HTTP, and scores the raw data file in batch.
`make e2e` runs these; CI runs them after the pipeline. `make test` leaves them out."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e

# The project's command, as `uv run <slug>` runs it: the runtime's CLI in this environment.
COMMAND = [sys.executable, "-m", "groundwork"]


@pytest.fixture(scope="module")
def package(cfg):
    path = ROOT / cfg.artifacts.package
    if not (path / "lineage.json").exists():
        pytest.fail(f"no package in {cfg.artifacts.package}: run `make pipeline` first")
    return path


@pytest.fixture(scope="module")
def served(package):
    """`<slug> serve` on a free port of 127.0.0.1; its URL once /health answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [*COMMAND, "serve", "--model", str(package), "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"`serve` did not answer on {url} (exit code {server.poll()})")
            time.sleep(0.3)
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_the_service_predicts_its_own_example_over_http(served, spec):
    with urllib.request.urlopen(f"{served}/openapi.json", timeout=10) as response:
        example = json.load(response)["components"]["schemas"]["Record"]["examples"][0]
    body = json.dumps([example]).encode()
    request = urllib.request.Request(
        f"{served}/predict", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        [prediction] = json.load(response)["predictions"]
    if spec.is_classification:
        assert prediction["prediction"] in spec.target.classes
    else:
        assert isinstance(prediction["prediction"], float)


def test_batch_scoring_scores_every_row_of_the_raw_file(package, cfg, tmp_path):
    raw, scored = ROOT / cfg.data.raw_path, tmp_path / "scored.parquet"
    command = [*COMMAND, "score", str(raw), str(scored), "--model", str(package)]
    subprocess.run(command, cwd=ROOT, check=True)
    rows = len(pd.read_parquet(raw)) if raw.suffix == ".parquet" else len(pd.read_csv(raw))
    assert len(pd.read_parquet(scored)) == rows
