"""The `{{ cookiecutter.project_slug }}` command: one subcommand per pipeline step.

Heavy libraries are imported inside each command so that `--help` starts fast.
"""

import argparse
import sys
from collections.abc import Callable, Sequence

from . import __doc__ as DESCRIPTION
from .errors import UserFacingError


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


def _sample_data(args: argparse.Namespace) -> None:
    from .data import write_sample_data

    print(f"sample data written to {write_sample_data(args.path)}")


# Pipeline steps: command -> (module that runs it, help text).
STEPS = {
    "validate": ("data", "validate the raw data against the schema"),
    "features": ("features", "split the validated data into train and test sets"),
    "train": ("train", "fit the configured model"),
    "evaluate": ("evaluate", "score the model on the test set; write metrics and plots"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="{{ cookiecutter.project_slug }}", description=DESCRIPTION)
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    params = commands.add_parser("params", help="compose conf/ into params.yaml")
    params.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=C")
    params.set_defaults(handler=_params)

    for name, (module_name, help_text) in STEPS.items():
        commands.add_parser(name, help=help_text).set_defaults(handler=_step(module_name))

    sample = commands.add_parser("sample-data", help="write the sample data set to data/raw")
    sample.add_argument("path", nargs="?", default="data/raw/breast_cancer.csv")
    sample.set_defaults(handler=_sample_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .log import configure_logging

    configure_logging(args.log_level)
    try:
        args.handler(args)
    except UserFacingError as exc:
        import structlog

        structlog.get_logger(__name__).error("command failed", command=args.command)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
