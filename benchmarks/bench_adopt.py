"""`adopt-data` on a 1,000,000-row CSV against `pandas.read_csv` of the same file.

The file is penguin-like (text categories, missing values, an id column; see _baked.py).
Both run through `uv run` in a fresh process each, best of `--runs`, in a clone of the
project (its committed files and its venv), so the project itself is left as it was:
  - baseline: `uv run python -c "import pandas; pandas.read_csv(FILE)"`;
  - `uv run <slug> adopt-data FILE --target species --id penguin_id --name bench_adopted`:
    read and infer the config, copy into data/raw, `dvc add` (hash and cache), write
    conf/data/<name>.yaml, conf/config.yaml and params.yaml.
    Target: at most 2x the baseline's time.
Between runs the clone is put back as committed (`git reset --hard`, `git clean -fdx`,
keeping the venv), DVC cache included, so each adoption starts from nothing.
Then, for the record, where one adoption's time goes, timed in-process.

    .venv/bin/python benchmarks/bench_adopt.py [--project PATH] [--rows 1000000] [--runs 3]

Exits non-zero only on errors; a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _baked import (
    ENV,
    ID,
    TARGET,
    machine_line,
    project,
    run,
    slug,
    verdict,
    write_penguins,
)

NAME = "bench_adopted"
READ_CSV = "import sys, pandas; pandas.read_csv(sys.argv[1])"

# Runs in the clone: one adoption through the CLI's own entry point,
# with its stages timed by wrapping the functions `adopt` calls (those that exist).
PHASES = """
import json, shutil, sys, time, types
start = time.perf_counter()
import groundwork.cli as cli
import groundwork.data.adopt as adopt
import groundwork.config as config
imported = time.perf_counter() - start
spent = {}


def timed(owner, name, label):
    original = getattr(owner, name, None)
    if original is None:
        return
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds, calls = spent.get(label, (0.0, 0))
            spent[label] = (seconds + time.perf_counter() - began, calls + 1)
    setattr(owner, name, wrapper)


timed(adopt, "read_table", "read the file (pandas)")
timed(adopt, "infer_spec", "infer the spec")
timed(adopt, "_tracked_elsewhere", "look for the same file under DVC")
# adopt's own copy only: DVC may call shutil too.
adopt.shutil = types.ModuleType("shutil")
adopt.shutil.__dict__.update(vars(shutil))
timed(adopt.shutil, "copyfile", "copy into data/raw")
timed(adopt, "_dvc_add", "dvc add (import dvc, hash, cache)")
timed(config, "compose_config", "compose the config (Hydra)")
timed(config, "write_params", "write params.yaml")
began = time.perf_counter()
code = cli.main(sys.argv[1:])
total = time.perf_counter() - began
print(json.dumps({"code": code, "imports": imported, "main": total, "spent": spent}))
"""


def best(cmd: list[str], cwd: Path, runs: int, reset=None) -> float:
    """The best wall time of `runs` fresh runs of `cmd` (`reset` is called after each)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout}{done.stderr}")
        if reset is not None:
            reset()
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a baked project (default: bake a fresh one)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="fresh runs each; the best counts")
    args = parser.parse_args()

    baked = project(args.project)
    scratch = Path(tempfile.mkdtemp(prefix="bench-adopt-"))
    clone = scratch / baked.name  # same name: the CLI's name and the module stay the same
    run(["git", "clone", "--quiet", str(baked), str(clone)], scratch)
    run(["uv", "sync", "--locked", "--quiet"], clone)
    source = write_penguins(clone, scratch / "penguins_1m.csv", args.rows, seed=2)
    mib = source.stat().st_size / 2**20
    print(f"project {baked} (cloned into {clone})")
    print(f"input {source}: {args.rows:,} penguin-like rows, {mib:.0f} MiB")

    def reset() -> None:
        run(["git", "reset", "--quiet", "--hard"], clone)
        run(["git", "clean", "-fdxq", "-e", ".venv"], clone)

    adopt = ["adopt-data", str(source), "--target", TARGET, "--id", ID, "--name", NAME]
    floor = best(["uv", "run", "python", "-c", "pass"], clone, args.runs)
    base = best(["uv", "run", "python", "-c", READ_CSV, str(source)], clone, args.runs)
    ours = best(["uv", "run", slug(clone), *adopt], clone, args.runs, reset)
    phases = run(["uv", "run", "python", "-c", PHASES, *adopt], clone).stdout.splitlines()[-1]
    reset()
    phases = json.loads(phases)
    if phases["code"] != 0:
        sys.exit(f"adopt-data in-process exited {phases['code']}")
    ratio = ours / base
    print(f"\nfresh processes, best of {args.runs}:")
    print(f"  {'`uv run python -c pass` (start-up floor):':<43}{floor:6.2f} s")
    print(f"  {'baseline: pandas.read_csv of the file:':<43}{base:6.2f} s")
    print(f"  {f'`uv run {slug(clone)} adopt-data`:':<43}{ours:6.2f} s")
    print(f"\n  adopt-data vs read_csv: {ratio:.2f}x its time (target <= 2x)  "
          f"{verdict(ratio <= 2)}")  # fmt: skip
    print("\nwhere one adoption's time goes (in-process, one run):")
    print(f"  {'imports (cli, data.adopt, config)':<42} {phases['imports']:6.2f} s")
    for label, (seconds, calls) in phases["spent"].items():
        times = f"  ({calls} calls)" if calls > 1 else ""
        print(f"  {label:<42} {seconds:6.2f} s{times}")
    rest = phases["main"] - sum(seconds for seconds, _ in phases["spent"].values())
    print(f"  {'the rest of main()':<42} {rest:6.2f} s")
    print(machine_line())
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
