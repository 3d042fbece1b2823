"""Serving throughput and latency, with wrk, against a FastAPI hello world in the same run.

The project has adopted penguin-like data (text categories, missing values; see _baked.py).
Servers run on 127.0.0.1 with 2 uvicorn workers each, prediction logging on:
  - baseline: a FastAPI app whose only route is GET /health;
  - our POST /predict with one record that has a null in each nullable column and a text
    category (target: >= 35% of the baseline's requests/s; p99 <= 10 ms at 8 connections),
    and with 100 records; the baseline and the one-record runs alternate (`--rounds`), and
    the best of each counts;
  - the same /predict on a second server started with SERVE_METRICS=0 (no GET /metrics, no
    counting), alternated with the first (target: with metrics >= 90% of its requests/s);
  - the same /predict on a third server started with API_KEYS (two keys), each request
    presenting one as `Authorization: Bearer`, alternated with the first (target: keys on
    >= 95% of keys off's requests/s);
  - a load run: 64 connections on /predict (target: zero errors), with the server's memory
    before and after;
  - `mlflow models serve` of the same model.joblib (2 workers), the same record per
    POST /invocations (target: our /predict >= 10x its requests/s). mlflow is installed
    from PyPI into a throwaway venv, never into the project; `--no-mlflow` skips this part.
Also, in-process with timeit in the project's venv: the cost of the numpy preprocessing
(`model.encoding.Encoding.transform`) for 1 row and per row at 100,000 rows, next to
scikit-learn's fitted prepare + scale steps on the same rows.

Needs wrk (`apt-get install -y wrk`). Run from the template's root with its venv:

    .venv/bin/python benchmarks/bench_serving.py [--project PATH] [--seconds 10] [--rounds 2]
                                                 [--no-mlflow]

Exits non-zero only on errors; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

from _baked import (
    ENV,
    PENGUINS,
    free_port,
    machine_line,
    project,
    rss_mib,
    run,
    start,
    stop,
    verdict,
)

HELLO = """from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health():
    return {"status": "ok"}
"""

# wrk calls done() once at the end: print the figures as one JSON line.
REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "errors": %d, "non_2xx": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.connect + e.read + e.write + e.timeout, e.status))
end
"""

# Runs in the project's venv: the preprocessing's cost, in-process.
# The rows are given as the API and `score` hand them to Encoding.transform: one record as
# lists of Python values (None = missing), 100,000 generated rows as a frame's arrays.
ENCODING_COST = (
    PENGUINS
    + """
import json, sys, timeit
import pandas as pd
from groundwork.model.encoding import Encoding
from groundwork.release.package import load_package
from groundwork.release.predictor import Predictor

package = load_package(sys.argv[1])
record = json.loads(sys.argv[2])
names = package.spec.feature_names
encoding = Encoding(**package.signature["encoding"])
prepare = package.model[:-1]  # the fitted prepare and scale steps
predictor = Predictor(package, threads=1)  # as each API worker has it


def best(call, number):
    return min(timeit.repeat(call, number=number, repeat=5)) / number


one = {name: [record[name]] for name in names}
one_frame = pd.DataFrame([record], columns=names).astype(
    {name: "float64" for name in package.spec.numeric}
)
frame = penguins(100_000, seed=3)[names]
many = {name: frame[name].to_numpy() for name in names}
print(json.dumps({
    "encoding_1": best(lambda: encoding.transform(one, 1), 2000),
    "sklearn_1": best(lambda: prepare.transform(one_frame), 200),
    "records_1": best(lambda: predictor.records([record]), 1000),
    "encoding_100k": best(lambda: encoding.transform(many, len(frame)), 3),
    "sklearn_100k": best(lambda: prepare.transform(frame), 3),
}))
"""
)


# Two keys, as during a rotation; requests present the second (both are compared each time).
API_KEYS = "bench-key-one-0123456789abcdef,bench-key-two-fedcba9876543210"
BEARER = "Bearer bench-key-two-fedcba9876543210"


def wrk(
    url: str, connections: int, seconds: int, body: str | None, scratch: Path, auth: str = ""
) -> dict:
    script = scratch / "wrk.lua"
    post = f'wrk.headers["Authorization"] = "{auth}"\n' if auth else ""
    if body is not None:
        (scratch / "body.json").write_text(body)
        post += (
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.body = io.open("{scratch / "body.json"}"):read("*a")\n'
        )
    script.write_text(post + REPORT)
    threads = min(2, connections)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["rps"] = figures["requests"] / figures["seconds"]
    return figures


def request_record(schema: dict) -> dict:
    """The API's own example record, with None in every nullable column; it must then hold
    a missing value and a text category, or the benchmark does not measure what it says."""
    record = dict(schema["examples"][0])
    fields = schema["properties"]
    for name, field in fields.items():
        if any(option.get("type") == "null" for option in field.get("anyOf", [])):
            record[name] = None
    texts = [name for name, value in record.items() if isinstance(value, str)]
    if None not in record.values() or not texts:
        sys.exit(f"the example record {record} lacks a missing value or a text category")
    return record


# Runs in the throwaway venv: the project's model.joblib in MLflow's format, served by
# scikit-learn's predict_proba like our /predict. Pickled like model.joblib: MLflow's default
# (skops) refuses the pipeline unless each of its types is listed as trusted.
SAVE_MLFLOW_MODEL = """import sys, joblib, mlflow.sklearn
mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2],
                          serialization_format="cloudpickle", pyfunc_predict_fn="predict_proba")
"""


def mlflow_server(baked: Path, scratch: Path) -> tuple[list[str], dict] | None:
    """`mlflow models serve` of the project's model and its environment, or None if mlflow
    cannot be installed."""
    project_python = str(baked / ".venv/bin/python")
    # Same Python, scikit-learn and numpy as the project, so its model.joblib loads as is.
    pins = run([project_python, "-c", "from importlib.metadata import version as v; "
                "print(f'scikit-learn=={v(\"scikit-learn\")} numpy=={v(\"numpy\")}')"],
               baked).stdout.split()  # fmt: skip
    venv = scratch / "mlflow-venv"
    print(f"installing mlflow ({', '.join(pins)}) into {venv} ...", flush=True)
    for cmd in (
        ["uv", "venv", "--quiet", "--python", project_python, str(venv)],
        ["uv", "pip", "install", "--quiet", "--python", str(venv / "bin/python"), "mlflow", *pins],
    ):
        done = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"MLFLOW NOT INSTALLED, no mlflow baseline: {' '.join(cmd)} failed:\n"
                  f"{done.stdout}{done.stderr}")  # fmt: skip
            return None
    model_dir = scratch / "mlflow-model"
    save = [str(venv / "bin/python"), "-c", SAVE_MLFLOW_MODEL]
    run([*save, str(baked / "models/candidate/model.joblib"), str(model_dir)], scratch)
    cmd = [str(venv / "bin/mlflow"), "models", "serve", "-m", str(model_dir),
           "--env-manager", "local", "-h", "127.0.0.1", "-w", "2"]  # fmt: skip
    # mlflow starts `uvicorn` from PATH: make it the one in its venv. Quiet as ours is (no
    # access log).
    return cmd, ENV | {
        "PATH": f"{venv / 'bin'}{os.pathsep}{ENV['PATH']}",
        "UVICORN_ACCESS_LOG": "false",
        "UVICORN_LOG_LEVEL": "warning",
    }


def line(name: str, f: dict) -> str:
    return (
        f"  {name:<34} {f['rps']:>9.0f} req/s   p50 {f['p50_ms']:6.2f} ms   "
        f"p99 {f['p99_ms']:6.2f} ms   errors {f['errors']}   non-2xx {f['non_2xx']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a baked project (default: bake a fresh one)")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--load-seconds", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternated baseline and /predict runs; best of each"
    )
    parser.add_argument("--no-mlflow", action="store_true", help="skip the mlflow baseline")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: install it with `apt-get install -y wrk`")

    baked = project(args.project)
    venv = baked / ".venv/bin"
    scratch = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    (scratch / "hello.py").write_text(HELLO)
    lineage = json.loads((baked / "models/candidate/lineage.json").read_text())
    engine = "onnxruntime" if lineage.get("onnx", {}).get("verified") else "scikit-learn"
    print(f"project {baked}, data {lineage['data']['path']}, "
          f"model {lineage['params']['model']['_target_']} ({engine})")  # fmt: skip

    hello_port, api_port, bare_port, keyed_port = free_port(), free_port(), free_port(), free_port()
    hello = start(
        [str(venv / "uvicorn"), "hello:app", "--port", str(hello_port), "--workers", "2",
         "--no-access-log", "--log-level", "warning"],
        scratch, f"http://127.0.0.1:{hello_port}/health",
    )  # fmt: skip
    log = scratch / "predictions.jsonl"
    api = bare = keyed = None
    try:
        # The same service with GET /metrics and its counting off: what the metrics cost.
        bare = start(
            [str(venv / baked.name), "--log-level", "WARNING", "serve",
             "--model", "models/candidate", "--port", str(bare_port), "--workers", "2"],
            baked, f"http://127.0.0.1:{bare_port}/health",
            env=ENV | {"PREDICTION_LOG": str(scratch / "bare.jsonl"), "SERVE_METRICS": "0"},
        )  # fmt: skip
        # The same service with API keys on: what checking a key costs.
        keyed = start(
            [str(venv / baked.name), "--log-level", "WARNING", "serve",
             "--model", "models/candidate", "--port", str(keyed_port), "--workers", "2"],
            baked, f"http://127.0.0.1:{keyed_port}/health",
            env=ENV | {"PREDICTION_LOG": str(scratch / "keyed.jsonl"), "API_KEYS": API_KEYS},
        )  # fmt: skip
        api = start(
            [str(venv / baked.name), "--log-level", "WARNING", "serve",
             "--model", "models/candidate", "--port", str(api_port), "--workers", "2"],
            baked, f"http://127.0.0.1:{api_port}/health", env=ENV | {"PREDICTION_LOG": str(log)},
        )  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/openapi.json") as response:
            schema = json.load(response)["components"]["schemas"]["Record"]
        example = schema["examples"][0]
        record = request_record(schema)
        one = json.dumps(record)
        hundred = json.dumps([record, example] * 50)
        print(f"request body (1 record): {one}")
        predict = f"http://127.0.0.1:{api_port}/predict"
        request = urllib.request.Request(
            predict, one.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request) as response:
            print(f"its answer: {json.load(response)['predictions'][0]}")
        # Warm both up so neither pays for first-request work in the measurement.
        wrk(f"http://127.0.0.1:{hello_port}/health", 8, 2, None, scratch)
        wrk(predict, 8, 2, one, scratch)
        bare_predict = f"http://127.0.0.1:{bare_port}/predict"
        wrk(bare_predict, 8, 2, one, scratch)
        keyed_predict = f"http://127.0.0.1:{keyed_port}/predict"
        keyed_check = wrk(keyed_predict, 8, 2, one, scratch, auth=BEARER)
        if keyed_check["requests"] == 0 or keyed_check.get("non_2xx"):
            sys.exit(f"the keyed server did not answer 200: {keyed_check}")

        # Alternated, best of each: a burst of load from elsewhere hits both, not one.
        bases, singles, bares, keyeds = [], [], [], []
        for _ in range(args.rounds):
            health = f"http://127.0.0.1:{hello_port}/health"
            bases.append(wrk(health, 8, args.seconds, None, scratch))
            singles.append(wrk(predict, 8, args.seconds, one, scratch))
            bares.append(wrk(bare_predict, 8, args.seconds, one, scratch))
            keyeds.append(wrk(keyed_predict, 8, args.seconds, one, scratch, auth=BEARER))
        base = max(bases, key=lambda f: f["rps"])
        single = max(singles, key=lambda f: f["rps"])
        without_metrics = max(bares, key=lambda f: f["rps"])
        with_keys = max(keyeds, key=lambda f: f["rps"])
        batch = wrk(predict, 8, args.seconds, hundred, scratch)
        memory_before = rss_mib(api.pid)
        load = wrk(predict, 64, args.load_seconds, one, scratch)
        memory_after = rss_mib(api.pid)
    finally:
        for server in (api, bare, keyed):
            if server is not None:
                stop(server)
        stop(hello)

    ratio = single["rps"] / base["rps"]
    logged = sum(1 for _ in log.open()) if log.exists() else 0
    rotated = len(list(scratch.glob("predictions.jsonl.*")))
    print(f"\n8 connections, 2 uvicorn workers each, prediction logging on "
          f"(baseline and 1 record: best of {args.rounds} alternated runs)")  # fmt: skip
    if args.rounds > 1:
        each = ", ".join(f"{s['rps'] / b['rps']:.0%}" for b, s in zip(bases, singles, strict=True))
        print(f"  (/predict vs hello world in each round: {each})")
    print(line("baseline: hello world GET /health", base))
    print(line("POST /predict, 1 record", single))
    print(line("POST /predict, 100 records", batch))
    print(f"  -> 100 records: {batch['rps'] * 100:,.0f} predictions/s")
    print(f"\n  /predict vs hello world: {ratio:.0%} of its req/s (target >= 35%)  "
          f"{verdict(ratio >= 0.35)}")  # fmt: skip
    metrics_cost = single["rps"] / without_metrics["rps"]
    print(line("POST /predict, 1 record, SERVE_METRICS=0", without_metrics))
    print(f"  /predict with /metrics vs without: {metrics_cost:.0%} of its req/s "
          f"(target >= 90%)  {verdict(metrics_cost >= 0.9)}")  # fmt: skip
    keys_cost = with_keys["rps"] / single["rps"]
    print(line("POST /predict, 1 record, API keys on", with_keys))
    print(f"  /predict with keys vs without: {keys_cost:.0%} of its req/s "
          f"(target >= 95%)  {verdict(keys_cost >= 0.95)}")  # fmt: skip
    print(f"  /predict p99: {single['p99_ms']:.2f} ms (target <= 10 ms)  "
          f"{verdict(single['p99_ms'] <= 10)}")  # fmt: skip
    print(f"\nload: 64 connections, {args.load_seconds} s, POST /predict with 1 record")
    print(line("POST /predict, 1 record", load))
    errors = load["errors"] + load["non_2xx"]
    print(f"  errors: {errors} (target 0)  {verdict(errors == 0)}")
    print(f"  server memory (supervisor + workers): {memory_before:.0f} MiB before, "
          f"{memory_after:.0f} MiB after")  # fmt: skip
    print(f"  prediction log: {logged:,} lines in the current file, {rotated} rotated file(s)")

    cost = json.loads(
        run(
            [str(venv / "python"), "-c", ENCODING_COST,
             str(baked / "models/candidate"), one],
            baked,
        ).stdout.splitlines()[-1]
    )  # fmt: skip
    print("\npreprocessing, in-process (timeit, best of 5), numpy Encoding vs scikit-learn's")
    print("fitted prepare + scale steps on the same rows:")
    print(f"  1 row:        Encoding.transform {cost['encoding_1'] * 1e6:8.1f} us   "
          f"scikit-learn {cost['sklearn_1'] * 1e6:8.1f} us")  # fmt: skip
    print(f"  100,000 rows: Encoding.transform {cost['encoding_100k'] * 1e9 / 1e5:8.1f} ns/row"
          f"   scikit-learn {cost['sklearn_100k'] * 1e9 / 1e5:8.1f} ns/row")  # fmt: skip
    print(f"  Predictor.records, 1 record (preprocessing, ONNX, output): "
          f"{cost['records_1'] * 1e6:.1f} us")  # fmt: skip

    server = None if args.no_mlflow else mlflow_server(baked, scratch)
    if server is not None:
        (serve, serve_env), port = server, free_port()
        ping = f"http://127.0.0.1:{port}/ping"
        mlflow = start([*serve, "-p", str(port)], scratch, ping, env=serve_env)
        # Keep reading what it writes, so a full pipe never stalls it.
        threading.Thread(target=mlflow.stderr.read, daemon=True).start()
        try:
            invocations = f"http://127.0.0.1:{port}/invocations"
            split = {"columns": list(record), "data": [list(record.values())]}
            body = json.dumps({"dataframe_split": split})
            wrk(invocations, 8, 2, body, scratch)  # warm-up, as for ours
            theirs = wrk(invocations, 8, args.seconds, body, scratch)
        finally:
            stop(mlflow)
        ratio = single["rps"] / theirs["rps"]
        print("\nmlflow models serve of the same model.joblib: 8 connections, 2 workers")
        print(line("POST /predict, 1 record (above)", single))
        print(line("mlflow POST /invocations, 1 record", theirs))
        clean = all(f["errors"] == f["non_2xx"] == 0 for f in (single, theirs))
        print(f"  /predict vs mlflow: {ratio:.1f}x its req/s (target >= 10x)  "
              f"{verdict(ratio >= 10 and clean)}")  # fmt: skip
    print(machine_line())
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
