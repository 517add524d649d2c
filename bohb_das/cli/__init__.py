"""The ``bohb-das`` console script: the only place that parses arguments and prints.

Each subcommand lives in a module of this package with a ``register(subparsers)`` function; heavy
imports (torch models, hpbandster) happen inside the handlers, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

from tqdm import tqdm

from bohb_das.errors import ConfigError

SUBCOMMAND_MODULES = ("trial", "table", "plot", "bohb", "report", "bench", "presets", "plugins")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bohb-das",
        description="BOHB-tuned differentiable architecture search on 1-D inverse problems.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"bohb_das.cli.{name}").register(subparsers)
    return parser


class _AboveProgressBars(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def show_library_messages() -> None:
    """What the library announces on its ``bohb_das`` logger (e.g. a kernel build) goes to stderr,
    above any progress bar."""
    logger = logging.getLogger("bohb_das")
    if not logger.handlers:
        handler = _AboveProgressBars()
        handler.setFormatter(logging.Formatter("bohb-das: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # the flags of plugins' settings: plugins load here
        show_library_messages()
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"bohb-das: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bohb-das: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`bohb-das plugins | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so that the exit flush is quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
