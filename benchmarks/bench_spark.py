"""Batch scoring on Spark (`score --engine spark --master local[2]`) against the pandas engine.

The project has adopted penguin-like data (text categories, missing values; see _baked.py);
the inputs are fresh Parquet files of the same kind, 1,000,000 and 10,000,000 rows by
default, and a 100-row file for each engine's fixed start-up cost. Both engines run as
fresh processes through `uv run`, one after the other on the same file and model. For each
run: wall time, rows/s, CPU seconds (user + system of the whole process tree: the JVM and
Spark's Python workers included) and the peak resident memory of the whole tree, both
sampled from /proc every 0.1 s.

Per-row cost after start-up is (wall - start-up wall) / rows; per core it is CPU seconds per
row after the start-up's CPU. The aim: Spark's CPU per row within 1.5x the pandas engine's,
so that more cores scale it past one process. The crossover is the size at which the two
straight lines (start-up + rows x cost) cross on this machine, if Spark's per-row wall cost
is lower.

    .venv/bin/python benchmarks/bench_spark.py [--project PATH] [--sizes 1000000 10000000]

Needs Java (apt-get install openjdk-17-jre-headless). Exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _baked import (
    ENV,
    descendants,
    machine_line,
    project,
    rss_mib,
    run,
    slug,
    verdict,
    write_penguins,
)


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of `pid` and each descendant, by pid."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for each in descendants(pid):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            # Fields 14 and 15 of /proc/PID/stat, after the command name in parentheses.
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            found[each] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def measure_tree(cmd: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak resident MiB of `cmd` and all its descendants.

    Sampled from /proc every 0.1 s, because rusage misses the JVM: nobody waits for it,
    so its CPU (and its Python workers') never reaches this process's children's rusage.
    """
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    peak, cpu = [0.0], {}

    def sample() -> None:
        while process.poll() is None:
            # A process of the tree may end (or be a zombie) between listing and reading it.
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, StopIteration):
                peak[0] = max(peak[0], rss_mib(process.pid))
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                for pid, seconds in tree_cpu_seconds(process.pid).items():
                    cpu[pid] = max(cpu.get(pid, 0.0), seconds)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {process.returncode}:\n{stderr[-4000:]}")
    return seconds, sum(cpu.values()), peak[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a baked project (default: bake a fresh one)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        sys.exit("no Java runtime: apt-get install openjdk-17-jre-headless")

    baked = project(args.project)
    run(["uv", "sync", "--locked", "--quiet", "--group", "spark"], baked)
    scratch = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    model = ["--model", "models/candidate"]
    pandas_cmd = ["uv", "run", "--group", "spark", slug(baked), "score"]
    spark_options = ["--engine", "spark", "--master", args.master]
    engines = {
        "pandas": lambda source, target: [*pandas_cmd, source, f"{target}.parquet", *model],
        "spark": lambda source, target: [*pandas_cmd, source, target, *model, *spark_options],
    }
    figures: dict[tuple[str, int], tuple[float, float, float]] = {}
    for rows in [100, *args.sizes]:
        source = write_penguins(baked, scratch / f"rows-{rows}.parquet", rows, seed=2)
        mib = source.stat().st_size / 2**20
        print(f"\n{rows:,} rows ({mib:.0f} MiB of Parquet):", flush=True)
        for name, command in engines.items():
            target = scratch / f"out-{name}-{rows}"
            seconds, cpu, peak = measure_tree(command(str(source), str(target)), baked)
            figures[name, rows] = seconds, cpu, peak
            print(f"  {name:6} {seconds:8.2f} s {rows / seconds:>12,.0f} rows/s  "
                  f"CPU {cpu:8.2f} s  peak {peak:6.0f} MiB", flush=True)  # fmt: skip
            shutil.rmtree(target, ignore_errors=True)
            Path(f"{target}.parquet").unlink(missing_ok=True)
        source.unlink()

    print("\nstart-up (100 rows): " + ", ".join(
        f"{name} {figures[name, 100][0]:.2f} s wall, {figures[name, 100][1]:.2f} s CPU"
        for name in engines))  # fmt: skip
    for rows in args.sizes:
        cost = {}
        for name in engines:
            wall, cpu, _ = figures[name, rows]
            wall0, cpu0, _ = figures[name, 100]
            cost[name] = ((wall - wall0) / rows, (cpu - cpu0) / rows)
        ratio = cost["spark"][1] / cost["pandas"][1]
        print(f"{rows:,} rows, after start-up: pandas {cost['pandas'][0] * 1e6:.2f} us/row wall, "
              f"{cost['pandas'][1] * 1e6:.2f} us/row CPU; spark {cost['spark'][0] * 1e6:.2f} "
              f"us/row wall, {cost['spark'][1] * 1e6:.2f} us/row CPU")  # fmt: skip
        print(f"  Spark's CPU per row: {ratio:.2f}x the pandas engine's (aim <= 1.5)  "
              f"{verdict(ratio <= 1.5)}")  # fmt: skip
        saving = cost["pandas"][0] - cost["spark"][0]
        fixed = figures["spark", 100][0] - figures["pandas", 100][0]
        if saving > 0:
            print(f"  crossover: Spark on {args.master} beats one process above about "
                  f"{fixed / saving:,.0f} rows")  # fmt: skip
        else:
            print(f"  crossover: none; on {args.master} one process is faster at every size")
    print(machine_line())
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
