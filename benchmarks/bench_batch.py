"""Batch scoring of a 1,000,000-row Parquet file: `score` against a bare in-memory script.

The baseline, measured in the same run on the same file and model, reads the whole
file, calls predict_proba once and writes the result: no validation, no chunks.
Targets: `score` reaches >= 80% of its rows/s with <= 1/4 of its peak memory.
Both run as fresh processes; wall time includes start-up. Peak memory is the
process's maximum resident set, also shown above the imports-only floor.

    .venv/bin/python benchmarks/bench_batch.py [--project PATH] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _baked import ENV, project

MAKE_DATA = """
import sys
import pandas as pd
raw = pd.read_csv("data/raw/breast_cancer.csv")
rows = raw.sample(n=int(sys.argv[2]), replace=True, random_state=0).reset_index(drop=True)
rows.insert(0, "row_id", range(len(rows)))
rows.to_parquet(sys.argv[1], index=False)
"""

BARE = """
import json, sys
import joblib, pandas as pd
source, target, package = sys.argv[1:4]
threshold = json.load(open(f"{package}/lineage.json"))["params"]["evaluate"]["threshold"]
model = joblib.load(f"{package}/model.joblib")
df = pd.read_parquet(source)
columns = [c for c in df.columns if c not in ("row_id", "malignant")]
proba = model.predict_proba(df[columns].to_numpy(dtype="float64"))[:, 1]
df["probability"] = proba
df["prediction"] = (proba >= threshold).astype("int64")
df.to_parquet(target, index=False)
"""

IMPORTS_ONLY = "import {module}.score, {module}.cli"

# Runs a command and prints its wall time and its peak resident memory (KiB).
MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{done.returncode} {seconds} {peak}")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a baked project (default: bake a fresh one)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    args = parser.parse_args()

    baked = project(args.project)
    python = str(baked / ".venv/bin/python")
    module = baked.name.replace("-", "_")
    package = str(baked / "models/candidate")
    scratch = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    source = scratch / "rows.parquet"
    subprocess.run([python, "-c", MAKE_DATA, str(source), str(args.rows)], cwd=baked, check=True)
    mib = source.stat().st_size / 2**20
    print(f"project {baked}\ninput {source}: {args.rows:,} rows, {mib:.0f} MiB")

    floor_s, floor_mib = measure([python, "-c", IMPORTS_ONLY.format(module=module)], baked)
    bare_s, bare_mib = measure(
        [python, "-c", BARE, str(source), str(scratch / "bare.parquet"), package], baked
    )
    score = [str(baked / ".venv/bin" / baked.name), "score", "--model", package]
    options = ["--chunk-size", str(args.chunk_size)]
    target = scratch / "ours.parquet"
    ours_s, ours_mib = measure([*score, *options, str(source), str(target)], baked)
    # ONNX Runtime against scikit-learn: forests may differ by one tree's vote on a rare
    # row (see the project's test_predict.py), so agreement is reported, not exact.
    check = (
        "import pandas as pd, sys; a, b = (pd.read_parquet(p) for p in sys.argv[1:]);"
        "assert len(a) == len(b);"
        "d = (a['probability'] - b['probability']).abs();"
        "print(f'{d.max():.2g} {(d > 1e-6).mean():.2%} {(a.prediction != b.prediction).sum()}')"
    )
    agreement = subprocess.run(
        [python, "-c", check, str(scratch / "bare.parquet"), str(scratch / "ours.parquet")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    bare_rps, ours_rps = args.rows / bare_s, args.rows / ours_s
    speed, memory = ours_rps / bare_rps, ours_mib / bare_mib
    above_floor = (ours_mib - floor_mib) / max(bare_mib - floor_mib, 1e-9)
    print(f"imports only:    {floor_s:6.2f} s               peak {floor_mib:6.0f} MiB")
    print(f"bare script:     {bare_s:6.2f} s {bare_rps:>10,.0f} rows/s  peak {bare_mib:6.0f} MiB")
    print(f"`score`:         {ours_s:6.2f} s {ours_rps:>10,.0f} rows/s  peak {ours_mib:6.0f} MiB"
          f"  (chunks of {args.chunk_size:,}, validated)")  # fmt: skip
    print(
        f"outputs: max probability difference {agreement[0]}, {agreement[1]} of rows differ "
        f"by more than 1e-6, {agreement[2]} labels differ"
    )
    verdict = "PASS" if speed >= 0.8 else "MISS"
    print(f"\nspeed: {speed:.0%} of the bare script's rows/s (target >= 80%)  {verdict}")
    verdict = "PASS" if memory <= 0.25 else "MISS"
    print(f"peak memory: {memory:.2f} of the bare script's (target <= 0.25)  {verdict}")
    print(f"  above the imports-only floor: {above_floor:.2f} of the bare script's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
