"""The project's command (its console script runs `groundwork.cli:main`).

One subcommand per pipeline step. Heavy libraries are imported inside each command so that
`--help` starts fast.
"""

import argparse
import sys
from collections.abc import Callable, Sequence

from .errors import UserFacingError
from .project import COMMAND, DESCRIPTION


def _params(args: argparse.Namespace) -> None:
    from .config import compose_config, write_params

    changed = write_params(compose_config(args.overrides))
    print("params.yaml updated" if changed else "params.yaml up to date")


def _step(module_name: str) -> Callable[[argparse.Namespace], None]:
    def command(_args: argparse.Namespace) -> None:
        from importlib import import_module

        from .config import load_params

        import_module(f".{module_name}", __package__).run(load_params())

    return command


def _serve(args: argparse.Namespace) -> None:
    import os

    from .release.package import load_package
    from .release.registry import resolve_package_path
    from .serving.access import (
        AccessError,
        access_from_environment,
        anonymous_refusal,
        is_loopback,
    )

    # Refuse bad keys, an open port or a missing or altered model here, with one message,
    # before any worker starts.
    access = access_from_environment()
    refusal = anonymous_refusal(access, args.host, os.environ)
    if refusal:
        raise AccessError(refusal)
    path = resolve_package_path(args.model).resolve()
    version = load_package(path).version
    os.environ["MODEL_PATH"] = str(path)
    os.environ["LOG_LEVEL"] = args.log_level
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker counts into this folder, and a scrape adds them up (serving/metrics.py).
        import atexit
        import shutil
        import tempfile

        shared = tempfile.mkdtemp(prefix="metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
        atexit.register(shutil.rmtree, shared, ignore_errors=True)
    import structlog
    import uvicorn

    log = structlog.get_logger(__name__)
    if access.open:
        reach = "this machine only" if is_loopback(args.host) else "anyone (ALLOW_ANONYMOUS)"
        log.warning("serving without API keys", host=args.host, callers=reach)
    else:
        log.info("API keys required", keys=len(access.keys), open_metrics=access.open_metrics)
    log.info("serving model", path=str(path), version=version)
    uvicorn.run(
        f"{__package__}.serving.api:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,  # keep the structlog setup
        # Each prediction is already logged to the prediction log.
        access_log=False,
    )


def _score(args: argparse.Namespace) -> None:
    from .release.registry import resolve_package_path

    package = resolve_package_path(args.model)
    if args.engine == "spark":
        from .serving.spark_score import score_with_spark

        rows = score_with_spark(args.input, args.output, package, args.master, args.partitions)
        print(f"{rows} rows scored into {args.output} (a Parquet dataset, by Spark)")
        return
    if args.master or args.partitions:
        raise UserFacingError("--master and --partitions are options of --engine spark.")
    from .serving.batch import score_file

    rows = score_file(args.input, args.output, package, args.chunk_size)
    print(f"{rows} rows scored into {args.output}")


def _share(push: bool) -> None:
    share_hint = "uv run dvc push && git push --follow-tags origin HEAD"
    if not push:
        print(f"not shared (--no-push): share it with `{share_hint}`")
        return
    from .release.registry import share

    problems = share()
    if not problems:
        print("shared: the packages are on the DVC remote, the commits and tags on origin")
        return
    for problem in problems:
        print(f"warning: not shared: {problem}", file=sys.stderr)
    print(f"Once that is fixed, share it with `{share_hint}`", file=sys.stderr)


def _restart_hint(served: str | None) -> None:
    """A running server loaded its model at start: say what serves the new one."""
    if served:
        print(
            f"A server started before this still serves {served}: stop `make serve` and run "
            "it again. An image carries its model: `make image deploy` rolls out the new one."
        )


def _promote(args: argparse.Namespace) -> None:
    from .config import load_params
    from .release.registry import promote
    from .settings import PromotionSettings

    settings = PromotionSettings.from_config(load_params())
    result = promote(settings, allow_dirty=args.allow_dirty)
    if result.version == result.previous:
        print(f"the candidate is already in production as {result.version}: nothing to promote")
    else:
        for check in result.checks:
            print(f"  {check}")
        print(f"promoted {result.version} to production (previous: {result.previous or 'none'})")
        _restart_hint(result.previous)
    _share(not args.no_push)


def _write_verdict(path: str | None, verdict: str) -> None:
    """Append `verdict=<verdict>` to `path`: a line of GitHub's $GITHUB_OUTPUT and of a
    GitLab dotenv report, so a CI job can act on the gate without reading its prose."""
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"verdict={verdict}\n")


def _gate(args: argparse.Namespace) -> None:
    from .config import load_params
    from .release.registry import PromotionRefused, gate
    from .settings import PromotionSettings

    settings = PromotionSettings.from_config(load_params())
    try:
        result = gate(settings)
    except PromotionRefused:
        _write_verdict(args.verdict_file, "refused")
        raise
    scores = ", ".join(f"{name} {value:.4f}" for name, value in result.candidate_scores.items())
    if result.version is not None:
        print(
            f"the candidate is already in production as {result.version}, nothing to promote: "
            f"{scores}"
        )
        _write_verdict(args.verdict_file, "identical")
        return
    for check in result.checks:
        print(f"  {check}")
    against = f"production {result.previous}" if result.previous else "no production model yet"
    print(f"the candidate passes the gate ({against}): {scores}. Promote it: make promote")
    _write_verdict(args.verdict_file, "promote")


def _rollback(args: argparse.Namespace) -> None:
    from .release.registry import rollback

    previous, restored = rollback(args.to)
    print(f"production is now {restored} (was {previous})")
    _restart_hint(previous)
    _share(not args.no_push)


def _history(_args: argparse.Namespace) -> None:
    from .release.registry import history

    events = history()
    if not events:
        print(f"no registry events yet: run `uv run {COMMAND} promote`.")
        return
    rows = [
        (
            f"{event['timestamp']:%Y-%m-%d %H:%M}",
            event["event"],
            event["version"] or "",
            event["stage"] or "",
            f"{event['author']} <{event['author_email']}>",
            (event["message"] or "").splitlines()[0] if event["message"] else "",
        )
        for event in events
    ]
    header = ("when (UTC)", "event", "version", "stage", "author", "message")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def _status(_args: argparse.Namespace) -> None:
    from .worktree import changed_files, status_message

    print(status_message(changed_files()))


def _platform_changes(args: argparse.Namespace) -> None:
    from . import __version__
    from .changelog import changes_since, installed_changelog

    print(changes_since(args.since, __version__, installed_changelog()))


def _commit_run(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .config import load_params
    from .worktree import commit_run, run_summary

    metrics = Path(load_params().artifacts.evaluation) / "metrics.json"
    message = args.message or run_summary(metrics)
    committed = commit_run(message)
    if committed:
        print(f"committed {len(committed)} files: {message}")
    else:
        print("nothing to commit: the run is committed")


def _pull(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .remote import pull

    targets = args.targets or sorted(
        str(pointer) for pointer in [*Path("data").rglob("*.dvc"), *Path("models").rglob("*.dvc")]
    )
    if targets:
        pull(targets)
    print(f"up to date: {', '.join(targets) or 'nothing is tracked by DVC yet'}")


def _production(_args: argparse.Namespace) -> None:
    from .release.registry import production_path

    print(production_path())


NO_PUSH_HELP = "do not push the packages to the DVC remote nor the commits and tags to origin"


def _sample_data(args: argparse.Namespace) -> None:
    from .config import compose_config
    from .data.sample import SAMPLES, write_sample

    data = compose_config().data
    name = data.get("sample")
    if name not in SAMPLES:
        raise UserFacingError(
            f"the data config in use reads {data.raw_path}, which is your own data, not a "
            "sample set: fetch it with `make data` (in CI: point DVC at a remote the CI "
            "can reach and run `make data` instead of `make sample-data`), or switch back to "
            "the sample in conf/config.yaml."
        )
    print(f"sample data written to {write_sample(name, args.path or data.raw_path)}")


def _adopt_data(args: argparse.Namespace) -> None:
    from .config import compose_config
    from .data.adopt import adopt

    data = compose_config().data
    task = args.task or data.task
    config_path, adoption = adopt(
        args.path, args.target, task, tuple(args.id), args.name, base=data
    )
    spec = adoption.spec
    kind = f"{len(spec.target.classes)} classes" if spec.is_classification else "regression"
    print(f"target {spec.target.name!r}: {spec.task} ({kind})")
    width = max(len(name) for name in adoption.notes)
    for name, note in adoption.notes.items():
        print(f"  {name:<{width}}  {note}")
    if spec.pii:
        flagged = ", ".join(column.name for column in spec.columns if column.pii)
        print(
            f"personal data (pii: true, not features, never logged raw): {flagged}.\n"
            "Check these: a column wrongly flagged goes back to a feature role without `pii`."
        )
    print(
        f"wrote {config_path} and made it the default in conf/config.yaml.\n"
        f"Review it, then: make pipeline && make test\n"
        f"Commit it: git add {config_path} conf/config.yaml params.yaml data/raw && git commit"
    )


DRIFT_EXIT = 3  # `monitor --fail-on-drift` found drift: distinct from 1, a failed command


def _monitor(args: argparse.Namespace) -> int:
    from .config import load_params
    from .monitoring.monitor import monitor
    from .settings import MonitoringSettings

    settings = MonitoringSettings.from_config(load_params())
    summary = monitor(
        settings, args.log, args.reference, args.out, args.since, args.model, args.labels
    )
    out = args.out or settings.out
    dropped = False
    if "performance" in summary:
        found = summary["performance"]
        dropped = found["performance_drop"]
        checks = "; ".join(
            f"{c['metric']} {c['window']:.4f} (packaged {c['packaged']:.4f}"
            f"{', DROPPED beyond the allowance' if c['dropped'] else ''})"
            for c in found["checks"]
        )
        print(
            f"{found['labelled']} predictions labelled ({found['unmatched_labels']} labels "
            f"matched no logged prediction): {checks or 'nothing to compare'}."
        )
    if summary["status"] == "too_few_rows":
        print(f"{summary['message']} Wrote {out}/drift.json.")
        return DRIFT_EXIT if args.fail_on_drift and dropped else 0
    drifted = [name for name, column in summary["columns"].items() if column["drifted"]]
    skipped = f"; {summary['malformed_lines']} malformed log lines skipped"
    reasons = ", ".join(summary["drift_reasons"])  # what fails --fail-on-drift
    print(
        f"{summary['rows']} predictions compared with {summary['reference']['rows']} reference "
        f"rows{skipped if summary['malformed_lines'] else ''}.\n"
        f"data set drift: {'yes' if summary['dataset_drift'] else 'no'} "
        f"(drifted: {', '.join(drifted) or 'none'}); prediction drift: "
        f"{'yes' if summary['prediction']['drifted'] else 'no'}.\n"
        f"verdict: {f'drift ({reasons})' if reasons else 'no drift'}.\n"
        f"Wrote {out}/drift.json and {out}/drift.html."
    )
    return DRIFT_EXIT if args.fail_on_drift and (summary["drift_reasons"] or dropped) else 0


def _report(args: argparse.Namespace) -> None:
    from .config import load_params
    from .monitoring.report import business_report
    from .settings import MonitoringSettings

    settings = MonitoringSettings.from_config(load_params())
    print(f"wrote {business_report(settings, args.log, args.out, args.since)}")


def _notebook_to_module(args: argparse.Namespace) -> None:
    from .notebook_module import notebook_to_module

    module, test = notebook_to_module(args.notebook, args.name)
    print(f"wrote {module} and {test}. Run `make test`, then `git add {module} {test}`.")


# Pipeline steps: command -> (module that runs it, help text).
STEPS = {
    "validate": ("data.load", "validate the raw data against the rules in conf/data"),
    "features": ("model.features", "split the validated data into train and test sets"),
    "train": ("model.train", "fit the configured model"),
    "evaluate": ("model.evaluate", "score the model on the test set; write metrics and plots"),
    "package": ("release.build", "bundle the model with its lineage; verify its ONNX export"),
}


# The subcommands, one function a group, in the order `--help` lists them.
Commands = argparse._SubParsersAction
MODEL_HELP = "model package (default: $MODEL_PATH, else the production model)"


def _pipeline_commands(commands: Commands) -> None:
    """`params` and the pipeline's steps, as dvc.yaml runs them."""
    params = commands.add_parser("params", help="compose conf/ into params.yaml")
    params.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. seed=7")
    params.set_defaults(handler=_params)

    for name, (module_name, help_text) in STEPS.items():
        commands.add_parser(name, help=help_text).set_defaults(handler=_step(module_name))


def _serving_commands(commands: Commands) -> None:
    """`serve` and `score`: the model over HTTP and over files."""
    serve = commands.add_parser("serve", help="serve the model over HTTP (FastAPI)")
    serve.add_argument("--model", help=MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--workers", type=int, default=1, help="processes (default: 1)")
    serve.set_defaults(handler=_serve)

    score = commands.add_parser("score", help="score a CSV or Parquet file in chunks")
    score.add_argument("input", help="CSV or Parquet file with the feature columns")
    score.add_argument("output", help="file to write (.csv or .parquet), replaced atomically")
    score.add_argument("--model", help=MODEL_HELP)
    score.add_argument("--chunk-size", type=int, default=100_000, help="rows per chunk")
    score.add_argument(
        "--engine",
        choices=["pandas", "spark"],
        default="pandas",
        help="pandas: one process, in chunks (default); spark: Apache Spark (group `spark`)",
    )
    score.add_argument(
        "--master", help="Spark's master (default: spark-submit's, else local[*]: every core here)"
    )
    score.add_argument("--partitions", type=int, help="Spark: split the input into about N")
    score.set_defaults(handler=_score)


def _monitoring_commands(commands: Commands) -> None:
    """`monitor` and `report`: production's drift, metrics and story."""
    monitor = commands.add_parser(
        "monitor", help="drift of the logged inputs and predictions from the train split"
    )
    monitor.add_argument("--since", help="a duration (7d, 12h, 30m, 2w) or an ISO timestamp")
    monitor.add_argument("--log", help="the prediction log (default: monitoring.log)")
    monitor.add_argument("--reference", help="reference CSV/Parquet (default: the train split)")
    monitor.add_argument("--out", help="report folder (default: monitoring.out)")
    monitor.add_argument("--model", help=MODEL_HELP)
    monitor.add_argument(
        "--labels", help="CSV/Parquet of request_id, record and the target: the window's metrics"
    )
    monitor.add_argument(
        "--fail-on-drift",
        action="store_true",
        help=f"exit {DRIFT_EXIT} on drift (data set, predictions, a key column) or a metrics drop",
    )
    monitor.set_defaults(handler=_monitor)

    report = commands.add_parser(
        "report", help="the business report: production model, versions, traffic, drift"
    )
    report.add_argument("--since", help="traffic from: a duration (30d) or an ISO timestamp")
    report.add_argument("--log", help="the prediction log (default: monitoring.log)")
    report.add_argument("--out", help="report folder (default: monitoring.business)")
    report.set_defaults(handler=_report)


def _registry_commands(commands: Commands) -> None:
    """The registry: `promote`, `gate`, `rollback`, `production`, `history`."""
    promote = commands.add_parser(
        "promote", help="gate the candidate against production; register and promote it"
    )
    gate_help = "score the candidate against production under the gate; register nothing"
    gate = commands.add_parser("gate", help=gate_help)
    gate.add_argument(
        "--verdict-file",
        metavar="FILE",
        help="append verdict=promote, identical (to production) or refused to FILE, for CI",
    )
    gate.set_defaults(handler=_gate)
    rollback = commands.add_parser("rollback", help="put the previous production model back")
    rollback.add_argument("--to", metavar="VERSION", help="restore this version (e.g. v0.0.1)")
    promote.add_argument(
        "--allow-dirty",
        action="store_true",
        help="promote a candidate whose run is not committed (recorded in lineage and tags)",
    )
    for command, handler in ((promote, _promote), (rollback, _rollback)):
        command.add_argument("--no-push", action="store_true", help=NO_PUSH_HELP)
        command.set_defaults(handler=handler)
    production_help = "print the package directory of the production model"
    commands.add_parser("production", help=production_help).set_defaults(handler=_production)
    history_help = "who registered, promoted or rolled back which version, and when"
    commands.add_parser("history", help=history_help).set_defaults(handler=_history)


def _workspace_commands(commands: Commands) -> None:
    """The run in git and DVC, and the platform: `status`, `commit-run`, `pull`,
    `platform-changes`."""
    status_help = "say which of the run's files git does not hold yet"
    commands.add_parser("status", help=status_help).set_defaults(handler=_status)
    commit_run = commands.add_parser(
        "commit-run", help="commit the run: code, config, dvc.lock, metrics and plots"
    )
    commit_run.add_argument("-m", "--message", help="default: the run's metrics")
    commit_run.set_defaults(handler=_commit_run)
    pull = commands.add_parser(
        "pull", help="fetch the raw data and the registered models from the DVC remote"
    )
    pull.add_argument("targets", nargs="*", help="DVC pointers (default: data/ and models/)")
    pull.set_defaults(handler=_pull)
    changes = commands.add_parser(
        "platform-changes", help="what the runtime's changelog says changed since a version"
    )
    changes.add_argument("--since", required=True, metavar="VERSION", help="e.g. 0.1.0")
    changes.set_defaults(handler=_platform_changes)


def _data_commands(commands: Commands) -> None:
    """Data and code in: `sample-data`, `adopt-data`, `notebook-to-module`."""
    sample = commands.add_parser("sample-data", help="write the sample data set to data/raw")
    sample.add_argument("path", nargs="?", help="where to write it (default: data.raw_path)")
    sample.set_defaults(handler=_sample_data)

    adopt = commands.add_parser(
        "adopt-data", help="track a CSV/Parquet file with DVC and infer conf/data from it"
    )
    adopt.add_argument("path", help="the CSV or Parquet file")
    adopt.add_argument("--target", required=True, help="the column to predict")
    adopt.add_argument(
        "--task",
        choices=["classification", "regression"],
        help="default: the task of the data config in use",
    )
    adopt.add_argument(
        "--id", action="append", default=[], metavar="COLUMN", help="an identifier column"
    )
    adopt.add_argument("--name", help="the config's name (default: from the file name)")
    adopt.set_defaults(handler=_adopt_data)

    to_module = commands.add_parser(
        "notebook-to-module", help="turn a notebook's cells tagged `export` into a tested module"
    )
    to_module.add_argument("notebook", help="the .ipynb file")
    to_module.add_argument("name", help="the module's name: src/<package>/NAME.py")
    to_module.set_defaults(handler=_notebook_to_module)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=DESCRIPTION)
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _pipeline_commands,
        _serving_commands,
        _monitoring_commands,
        _registry_commands,
        _workspace_commands,
        _data_commands,
    ):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .log import configure_logging

    configure_logging(args.log_level)
    try:
        code = args.handler(args)
    except UserFacingError as exc:
        import structlog

        structlog.get_logger(__name__).error("command failed", command=args.command)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
