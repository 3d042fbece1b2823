"""Time a warm bake to a ready repository against cookiecutter-data-science's bake.

Both generators are launched the same way, from uv's cache (`uv tool run --offline`), after
one warm-up bake each; the bakes alternate and the figure is the median. Then the bake is
split into its steps: the post-gen hook's commands replayed on bare renders. Run from the
template's root with its venv:

    .venv/bin/python benchmarks/bench_bake.py [--runs 5] [--ccds-template PATH]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _baked import ENV, TEMPLATE

TARGET = 3.0  # seconds: a warm bake to a locked, DVC-initialised, committed repository
CCDS = "cookiecutter-data-science==2.3.0"
CCDS_REPO = "https://github.com/drivendataorg/cookiecutter-data-science"
CCDS_TAG = "v2.3.0"
# Where cookiecutter keeps the clone of a template it was given by URL: after one online
# `ccds` run it is there, and passing it as a path bakes offline.
CCDS_CLONE = Path.home() / ".cookiecutters" / "cookiecutter-data-science"


def timed(cmd: list[str], cwd: Path) -> float:
    """Run a command to completion and return its wall time; a failure stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode} in {cwd}\n{done.stdout}{done.stderr}")
    return elapsed


def ccds_template(given: Path | None, scratch: Path) -> Path:
    """A local copy of ccds's template: the one given, cookiecutter's clone, or a fresh clone."""
    if given:
        return given
    if (CCDS_CLONE / "ccds.json").exists():
        return CCDS_CLONE
    clone = scratch / "cookiecutter-data-science"
    done = subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", "--branch", CCDS_TAG, CCDS_REPO, str(clone)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(
            f"cannot clone {CCDS_REPO} ({done.stderr.strip()}): pass a local copy of its "
            f"template at {CCDS_TAG} with --ccds-template PATH"
        )
    return clone


def launcher(package: str, command: str, offline: bool) -> list[str]:
    return ["uv", "tool", "run", *(["--offline"] if offline else []), "--from", package, command]


def bake_ours(dest: Path, offline: bool = True, hooks: bool = True) -> tuple[Path, float]:
    """Bake this template's defaults into a fresh folder; return the project and the time."""
    out = Path(tempfile.mkdtemp(dir=dest))
    package = f"cookiecutter=={importlib.metadata.version('cookiecutter')}"
    cmd = [*launcher(package, "cookiecutter", offline), "--no-input", "-o", str(out),
           str(TEMPLATE)]  # fmt: skip
    seconds = timed(cmd if hooks else [*cmd, "--accept-hooks", "no"], dest)
    (project,) = [p for p in out.iterdir() if (p / "pyproject.toml").exists()]
    return project, seconds


def bake_ccds(dest: Path, template: Path, offline: bool = True) -> float:
    """Bake ccds's defaults (its `--no-input` answers) into a fresh folder; return the time."""
    out = Path(tempfile.mkdtemp(dir=dest))
    cmd = [*launcher(CCDS, "ccds", offline), "--no-input", "-o", str(out), str(template)]
    seconds = timed(cmd, dest)
    if not any(out.iterdir()):
        sys.exit(f"ccds wrote nothing into {out}")
    return seconds


def default_answers() -> dict:
    """The answers `--no-input` gives, rendered the way cookiecutter renders them."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    sys.path.insert(0, str(TEMPLATE))  # as cookiecutter does, for local_extensions.py
    context = generate_context(context_file=TEMPLATE / "cookiecutter.json")
    return {**prompt_for_config(context, no_input=True), "_template": str(TEMPLATE)}


def label(cmd: list[str]) -> str:
    if cmd[:2] == ["uv", "lock"]:
        return "uv lock" + (" --offline" if "--offline" in cmd else " (online)")
    return " ".join(cmd[:2])


def hook_steps(dest: Path, runs: int) -> dict[str, float]:
    """Median time of each step of the post-gen hook, replayed on bare renders.

    The hook's functions run unchanged; its `run` helper (every command) and its in-process
    DVC setup are wrapped to time them.
    """
    hook_file = TEMPLATE / "hooks" / "post_gen_project.py"
    spec = importlib.util.spec_from_file_location("post_gen", hook_file)
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    answers = default_answers()
    timings: dict[str, list[float]] = defaultdict(list)

    def timed(step, name_of):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                timings[name_of(*args)].append(time.perf_counter() - start)

        return call

    hook.run = timed(hook.run, lambda cmd, *_: label(cmd))
    hook.setup_dvc = timed(hook.setup_dvc, lambda *_: "DVC files (written in-process)")
    saved_environ = dict(os.environ)
    os.environ.clear()  # the hook reads os.environ, as it does under cookiecutter
    os.environ.update(ENV)
    try:
        for _ in range(runs):
            project, _ = bake_ours(dest, hooks=False)
            start = time.perf_counter()
            hook.prune(project, answers["ci"], answers["task"])
            hook.setup_repository(project, answers, say=lambda message: None)
            timings["total"].append(time.perf_counter() - start)
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
    return {name: statistics.median(times) for name, times in timings.items()}


def machine_line(runs: int) -> str:
    uv = subprocess.run(["uv", "--version"], env=ENV, capture_output=True, text=True).stdout
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cookiecutter = importlib.metadata.version("cookiecutter")
    return (f"machine: {os.cpu_count()} cores, load average {load}; Python "
            f"{platform.python_version()}, {uv.strip()}, cookiecutter {cookiecutter}; "
            f"medians of {runs} warm bakes")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="bakes per median (default: 5)")
    parser.add_argument("--ccds-template", type=Path, help="a local copy of ccds's template")
    args = parser.parse_args()
    if shutil.which("uv", path=ENV["PATH"]) != str(Path(sys.executable).parent / "uv"):
        sys.exit("run with the template's venv: .venv/bin/python benchmarks/bench_bake.py")

    print(machine_line(args.runs), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-bake-") as scratch:
        dest = Path(scratch)
        template = ccds_template(args.ccds_template, dest)
        print(f"ccds template: {template}")
        print("warm-up: one bake of each, online (fills uv's cache) ...", flush=True)
        bake_ours(dest, offline=False)
        bake_ccds(dest, template, offline=False)

        print(f"{args.runs} alternated bakes of each, and as many renders with hooks off ...",
              flush=True)  # fmt: skip
        ours, theirs, bare = [], [], []
        for _ in range(args.runs):
            theirs.append(bake_ccds(dest, template))
            ours.append(bake_ours(dest)[1])
            bare.append(bake_ours(dest, hooks=False)[1])
        print("the post-gen hook's steps, replayed on bare renders ...", flush=True)
        steps = hook_steps(dest, args.runs)

    ours_s, theirs_s, bare_s = (statistics.median(x) for x in (ours, theirs, bare))
    print()
    print("  ".join(f"{s:.2f}" for s in ours), "s: groundwork bakes")
    print("  ".join(f"{s:.2f}" for s in theirs), "s: ccds bakes")
    print()
    print(f"  baseline: ccds {CCDS.split('==')[1]}, defaults (files only)   {theirs_s:6.2f} s")
    print(f"  groundwork, hooks off (render only)            {bare_s:6.2f} s  "
          f"{bare_s / theirs_s:.2f}x ccds")  # fmt: skip
    print(f"  groundwork bake: git, uv lock, DVC, commit     {ours_s:6.2f} s  "
          f"{ours_s / theirs_s:.2f}x ccds")  # fmt: skip
    print()
    print("where the bake goes (render, then the post-gen hook's commands, medians):")
    print(f"  {'cookiecutter, render, pre-gen hook':36} {bare_s:6.2f} s  (hooks off)")
    for name, seconds in steps.items():
        if name != "total":
            print(f"  {name:36} {seconds:6.2f} s")
    print(f"  {'post-gen hook, in-process':36} {steps['total']:6.2f} s")
    print()
    verdict = "ok" if ours_s <= TARGET else "MISSED"
    print(f"bake: {ours_s:.2f} s, {ours_s / theirs_s:.2f}x ccds's (target <= {TARGET:g} s)  "
          f"{verdict}")  # fmt: skip
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
