"""The ``steward`` command line: the one place that composes every part of Steward.

Each feature module exposes ``register(subparsers)`` that adds its parsers and sets
``func`` to a handler ``(argparse.Namespace) -> int``. Heavy imports (torch, celery)
happen inside handlers so ``steward --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules that contribute subcommands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "app.commands",
    "workers.cli",
    "models.triage.cli",
    "models.reviewers.cli",
    "models.duplicates.cli",
    "workers.dataset.cli",
    "workers.retrain.cli",
    "workers.deliveries.cli",
    "workers.matching.cli",
    "workers.digest.cli",
    "workers.triage.live_eval",
    "workers.triage.status",
)


def installed_version() -> str:
    """The installed distribution's version (``unknown`` when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("steward")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser from every command module that is importable."""
    parser = argparse.ArgumentParser(
        prog="steward",
        description="Steward: triage, reviewer suggestions and welcomes for GitHub organisations.",
    )
    parser.add_argument("--version", action="version", version=f"steward {installed_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency must not be hidden
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``steward`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
