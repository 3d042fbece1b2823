"""Time the template's spine: bake, first green, pre-commit, no-op repro, CLI start-up.

Every figure is printed next to a baseline measured in the same run (with the ratio)
and the target it must meet. Run from the template's root with its venv:

    .venv/bin/python benchmarks/bench_spine.py [--runs 5] [--json figures.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from _baked import ENV, TEMPLATE


@dataclass
class Figure:
    name: str
    seconds: float
    target: float | None = None
    baseline_name: str | None = None
    baseline_seconds: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.baseline_seconds if self.baseline_seconds else None

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.seconds <= self.target else "MISS"


def run(cmd: list[str], cwd: Path) -> float:
    """Run a command to completion and return its wall time; a failure stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode} in {cwd}\n{done.stdout}{done.stderr}")
    return elapsed


def median_of(cmd: list[str], cwd: Path, runs: int) -> float:
    return statistics.median(run(cmd, cwd) for _ in range(runs))


def bake(dest: Path, hooks: bool = True) -> tuple[Path, float]:
    """Bake the default answers into a fresh folder under dest; return the project and the time."""
    out = Path(tempfile.mkdtemp(dir=dest))
    cmd = ["cookiecutter", "--no-input", "--output-dir", str(out), str(TEMPLATE)]
    seconds = run(cmd if hooks else [*cmd, "--accept-hooks", "no"], dest)
    (project,) = [p for p in out.iterdir() if (p / "pyproject.toml").exists()]
    return project, seconds


def default_answers() -> dict:
    """The answers `--no-input` gives, rendered the way cookiecutter renders them."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    sys.path.insert(0, str(TEMPLATE))  # as cookiecutter does, for local_extensions.py
    context = generate_context(context_file=TEMPLATE / "cookiecutter.json")
    return {**prompt_for_config(context, no_input=True), "_template": str(TEMPLATE)}


def post_gen_steps(dest: Path, runs: int) -> dict[str, float]:
    """Median time of each command the post-gen hook runs, replayed on bare renders.

    The hook's own functions run unchanged; only its `run` helper is wrapped to time
    each command. Whatever the hook does outside those commands is `other`.
    """
    hook_file = TEMPLATE / "hooks" / "post_gen_project.py"
    spec = importlib.util.spec_from_file_location("post_gen", hook_file)
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    answers = default_answers()
    timings: dict[str, list[float]] = defaultdict(list)
    hook_run = hook.run

    def timed_run(cmd, cwd, env=None):
        start = time.perf_counter()
        try:
            return hook_run(cmd, cwd, env)
        finally:
            label = " ".join(cmd[:2])
            label = "uv run dvc setup (venv + dvc)" if label == "uv run" else label
            timings[label].append(time.perf_counter() - start)

    hook.run = timed_run
    saved_environ = dict(os.environ)
    os.environ.clear()  # the hook reads os.environ, as it does under cookiecutter
    os.environ.update(ENV)
    try:
        for _ in range(runs):
            project, _ = bake(dest, hooks=False)
            start = time.perf_counter()
            hook.prune(project, answers["ci"])
            hook.setup_repository(project, answers)
            total = time.perf_counter() - start
            timings["total"].append(total)
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
    steps = {label: statistics.median(times) for label, times in timings.items()}
    steps["other"] = steps["total"] - sum(v for k, v in steps.items() if k != "total")
    return steps


def first_green(dest: Path) -> dict[str, float]:
    """Bake, then `make pipeline` and `make test`, as the README tells a new user."""
    project, baked = bake(dest)
    pipeline = run(["make", "pipeline"], project)
    tests = run(["make", "test"], project)
    return {"bake": baked, "make pipeline": pipeline, "make test": tests,
            "total": baked + pipeline + tests, "project": str(project)}  # fmt: skip


def machine_facts() -> dict:
    uv = subprocess.run(["uv", "--version"], env=ENV, capture_output=True, text=True).stdout
    return {
        "cores": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "python": platform.python_version(),
        "uv": uv.strip(),
        "platform": platform.platform(),
        "bytecode_cache_unset_in_shell": "PYTHONDONTWRITEBYTECODE" in os.environ,
    }


def print_table(figures: list[Figure]) -> None:
    header = ("figure", "median", "baseline", "base", "ratio", "target", "")
    rows = [header]
    for f in figures:
        rows.append((
            f.name,
            f"{f.seconds:.2f}s",
            f.baseline_name or "-",
            f"{f.baseline_seconds:.2f}s" if f.baseline_seconds is not None else "-",
            f"{f.ratio:.1f}x" if f.ratio is not None else "-",
            f"<= {f.target:g}s" if f.target is not None else "-",
            f.verdict,
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per median (default: 5)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if shutil.which("uv", path=ENV["PATH"]) != str(Path(sys.executable).parent / "uv"):
        sys.exit("run with the template's venv: .venv/bin/python benchmarks/bench_spine.py")

    machine = machine_facts()
    print(f"machine: {machine['cores']} cores, load average at start "
          f"{' '.join(f'{x:.2f}' for x in machine['load_average_start'])}; "
          f"Python {machine['python']}, {machine['uv']}; medians of {args.runs} runs")  # fmt: skip
    if machine["bytecode_cache_unset_in_shell"]:
        print("note: PYTHONDONTWRITEBYTECODE is set in this shell; unset for the benchmark")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-spine-") as scratch:
        dest = Path(scratch)

        print("1/5 bake vs bare render ...", flush=True)
        full = statistics.median(bake(dest)[1] for _ in range(args.runs))
        bare = statistics.median(bake(dest, hooks=False)[1] for _ in range(args.runs))
        figures.append(Figure("bake to a ready repo", full, 2.0, "bare render (hooks off)", bare))
        steps = post_gen_steps(dest, args.runs)
        steps["cookiecutter + hook processes"] = full - bare - steps["total"]

        print("2/5 time to first green (one warm-up, one measured) ...", flush=True)
        first_green(dest)  # warms the uv cache for this template's lock
        green = first_green(dest)
        figures.append(Figure("first green: bake+pipeline+test", green["total"], 45.0))
        project = Path(green["project"])
        slug = project.name

        print("3/5 pre-commit ...", flush=True)
        fresh, _ = bake(dest)
        run(["make", "lint"], fresh)  # first run: syncs the dev tools; fails if a file needs fixing
        figures.append(Figure(
            "pre-commit run --all-files (warm)",
            median_of([".venv/bin/pre-commit", "run", "--all-files"], fresh, args.runs), 2.0,
            "ruff check .", median_of([".venv/bin/ruff", "check", "."], fresh, args.runs),
        ))  # fmt: skip

        print("4/5 no-op dvc repro ...", flush=True)
        dvc = ["uv", "run", "dvc"]
        figures.append(Figure(
            "uv run dvc repro (nothing changed)",
            median_of([*dvc, "repro"], project, args.runs), 2.5,
            "uv run dvc --version", median_of([*dvc, "--version"], project, args.runs),
        ))  # fmt: skip

        print("5/5 CLI start-up ...", flush=True)
        figures.append(Figure(
            f"{slug} --help",
            median_of([f".venv/bin/{slug}", "--help"], project, args.runs), 0.5,
            "python -c pass", median_of([".venv/bin/python", "-c", "pass"], project, args.runs),
        ))  # fmt: skip

    load_end = os.getloadavg()
    print()
    print_table(figures)
    print()
    print("where the bake goes (post-gen hook commands replayed on bare renders, medians):")
    print(f"  {'bare render':32} {bare:6.2f}s")
    for label, seconds in steps.items():
        if label != "total":
            print(f"  {label:32} {seconds:6.2f}s")
    print(f"  {'= bake to a ready repo':32} {full:6.2f}s")
    print("first green: " + ", ".join(
        f"{k} {v:.1f}s" for k, v in green.items() if k not in ("total", "project")
    ))  # fmt: skip
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load_end)}")
    print()
    for f in figures:
        if f.verdict:
            print(f"{f.verdict} {f.name}: {f.seconds:.2f}s (target <= {f.target:g}s)")

    if args.json:
        report = {
            "machine": {**machine, "load_average_end": load_end, "runs": args.runs},
            "figures": [{**asdict(f), "ratio": f.ratio, "verdict": f.verdict} for f in figures],
            "bake_breakdown": {"bare render": bare, **steps, "bake": full},
            "first_green": {k: v for k, v in green.items() if k != "project"},
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
