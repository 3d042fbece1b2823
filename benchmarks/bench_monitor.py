"""`monitor` over a prediction log of 1,000,000 lines, against reading the same file bare.

The project has adopted penguin-like data (text categories, missing values; see _baked.py).
The log is written as the service writes it: one JSON line per prediction of the candidate
model, on fresh penguin-like rows. Measured in the same run, on the same file: `wc -l`
(the floor for reading lines) and a bare `pandas.read_json(lines=True)` (reading the JSON
lines into a table, nothing else). Targets: `uv run <slug> monitor` in <= 60 s and <= 1.5 GiB
peak on 2 cores. Each runs as a fresh process; wall time includes start-up.

    .venv/bin/python benchmarks/bench_monitor.py [--project PATH] [--lines 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _baked import machine_line, measure, project, slug, verdict, write_penguins

# Runs in the project's venv: the prediction log of the candidate on the given rows, each
# line as the runtime's API (groundwork.serving.api) writes it.
WRITE_LOG = """
import datetime, json, sys
import pandas as pd
from groundwork.release.package import load_package
from groundwork.release.predictor import Predictor
rows, log = pd.read_parquet(sys.argv[1]), sys.argv[2]
predictor = Predictor(load_package("models/candidate"))
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
records = rows[predictor.spec.feature_names].astype(object).where(rows.notna(), None)
with open(log, "w") as out:
    for first in range(0, len(records), 100_000):
        chunk = records.iloc[first:first + 100_000].to_dict("records")
        for n, (record, output) in enumerate(zip(chunk, predictor.records(chunk))):
            moment = start + datetime.timedelta(seconds=first + n)
            out.write(json.dumps({"event": "prediction", "timestamp": moment.isoformat(),
                "request_id": f"{first + n:x}", "model_version": predictor.version,
                "latency_ms": 1.0, "inputs": record, "outputs": output}) + "\\n")
"""
READ_JSON = "import sys, pandas as pd; print(len(pd.read_json(sys.argv[1], lines=True)))"
TARGET_SECONDS, TARGET_MIB = 60, 1.5 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a baked project (default: bake a fresh one)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()

    baked = project(args.project)
    scratch = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    rows = write_penguins(baked, scratch / "rows.parquet", args.lines, seed=2)
    log = scratch / "predictions.jsonl"
    print(f"writing a prediction log of {args.lines:,} lines ...", flush=True)
    python = str(baked / ".venv/bin/python")
    measure([python, "-c", WRITE_LOG, str(rows), str(log)], baked)
    mib = log.stat().st_size / 2**20
    print(f"project {baked}\nlog {log}: {args.lines:,} lines, {mib:.0f} MiB")

    wc_s, wc_mib = measure(["wc", "-l", str(log)], baked)
    bare_s, bare_mib = measure([python, "-c", READ_JSON, str(log)], baked)
    monitor = ["uv", "run", slug(baked), "monitor", "--log", str(log), "--model",
               "models/candidate", "--out", str(scratch / "monitoring")]  # fmt: skip
    ours_s, ours_mib = measure(monitor, baked)
    rate = {name: args.lines / s for name, s in (("wc", wc_s), ("bare", bare_s), ("ours", ours_s))}
    print("fresh processes, one run each:")
    print(f"  wc -l:                      {wc_s:6.2f} s {rate['wc']:>12,.0f} lines/s  "
          f"peak {wc_mib:6.0f} MiB")  # fmt: skip
    print(f"  pandas.read_json(lines):    {bare_s:6.2f} s {rate['bare']:>12,.0f} lines/s  "
          f"peak {bare_mib:6.0f} MiB")  # fmt: skip
    print(f"  `monitor` (read, drift, reports): {ours_s:6.2f} s {rate['ours']:>12,.0f} "
          f"lines/s  peak {ours_mib:6.0f} MiB")  # fmt: skip
    print(
        f"\n`monitor` against pandas.read_json: {ours_s / bare_s:.2f}x its time, "
        f"{ours_mib / bare_mib:.2f}x its peak memory"
    )
    print(f"time: {ours_s:.1f} s (target <= {TARGET_SECONDS} s)  "
          f"{verdict(ours_s <= TARGET_SECONDS)}")  # fmt: skip
    print(f"peak memory: {ours_mib:.0f} MiB (target <= {TARGET_MIB:.0f} MiB)  "
          f"{verdict(ours_mib <= TARGET_MIB)}")  # fmt: skip
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
