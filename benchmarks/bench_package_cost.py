"""What measuring the serving cost adds to `package`, on the sample a bake starts with.

A fresh default bake (the breast-cancer sample, a random forest) runs `make pipeline`
once; then `package` runs again and again, each time a fresh process through the CLI's
own entry point (`cli.main(["package"])` under `uv run python -c`), best of `--runs`:
  - baseline: `package` with `release.build.measure` replaced by a function that measures
    nothing, so the package is built and verified as before the cost measurement existed;
  - `package` as shipped: the same, with `release.cost.measure` (latency over 300 calls
    after a warm-up, a 10,000-row batch, the package's size, and a fresh process that
    loads the model twice for its memory) run on the package in its temporary folder and
    written into its lineage before it is published.
Target: the measurement adds <= 15 s. The last run is the shipped one, so the project's
package keeps its `cost`, printed at the end.

    .venv/bin/python benchmarks/bench_package_cost.py [--project PATH] [--runs 3]

`--project` must be a default bake whose pipeline has run. Exits non-zero only on errors;
a missed target prints MISSED.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _baked import TEMPLATE, machine_line, run, verdict
from bench_adopt import best

# Runs in the project; argv[1] is "off" to skip the measurement.
PACKAGE = """
import sys
import groundwork.cli as cli
import groundwork.release.build as build
if sys.argv[1] == "off":
    build.measure = lambda package, frame: {}
sys.exit(cli.main(["package"]))
"""


def sample_project(path: str | None) -> Path:
    if path:
        return Path(path).resolve()
    out = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    print(f"baking a project into {out} ...", flush=True)
    run(["cookiecutter", "--no-input", str(TEMPLATE), "-o", str(out)], out)
    [baked] = [p for p in out.iterdir() if (p / "pyproject.toml").exists()]
    print("running its pipeline (make pipeline) ...", flush=True)
    run(["make", "pipeline"], baked)
    return baked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a default bake whose pipeline has run")
    parser.add_argument("--runs", type=int, default=3, help="fresh runs each; the best counts")
    args = parser.parse_args()

    baked = sample_project(args.project)
    script = PACKAGE
    command = ["uv", "run", "--frozen", "python", "-c", script]
    base = best([*command, "off"], baked, args.runs)
    ours = best([*command, "on"], baked, args.runs)
    added = ours - base
    lineage = json.loads((baked / "models/candidate/lineage.json").read_text())
    print(f"project {baked}")
    print(f"\nfresh processes, best of {args.runs}:")
    print(f"  {'baseline: package without the measurement:':<46}{base:6.2f} s")
    print(f"  {'package with the cost measurement:':<46}{ours:6.2f} s")
    print(f"\n  the measurement adds {added:.2f} s, {ours / base:.2f}x the baseline's time "
          f"(target <= 15 s)  {verdict(added <= 15)}")  # fmt: skip
    print("\nthe candidate's cost, as packaged (lineage `cost`):")
    for name, value in lineage.get("cost", {}).items():
        print(f"  {name:<24}{value:>12,}")
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
