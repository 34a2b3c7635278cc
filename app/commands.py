"""Subcommands of the web process and the shared store: ``serve``, ``demo``, ``config-docs``,
``migrate`` (``steward worker`` lives in :mod:`workers.cli`)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from core.logs import configure_logging
from core.settings import load_settings_or_exit


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the webhook receiver (plus embedded Redis and a worker when REDIS_URL is unset)."""
    from app.server import serve

    settings = load_settings_or_exit()
    if args.port:
        settings = settings.with_overrides(port=args.port)
    if args.web_only:  # a sibling started by `serve --web-processes N`
        from app.server import run_web

        configure_logging(settings.log_level, settings.log_format)
        run_web(settings, reuse_port=True, relay=False)
        return 0
    return serve(settings, start_worker=args.worker, web_processes=args.web_processes)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the bot against the offline fake GitHub and print what it does."""
    from app.demo import run_demo

    return run_demo(verbose=args.verbose)


def cmd_config_docs(args: argparse.Namespace) -> int:
    """Print the `.github/steward.yml` reference (the schema is the documentation)."""
    from core.config_schema import schema_markdown

    print(schema_markdown())
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema."""
    from core.store import open_store

    settings = load_settings_or_exit()
    open_store(settings.database_url_or_default)
    print(f"database at {settings.database_url_or_default.split('@')[-1]} is up to date")
    return 0


def register(subparsers: Any) -> None:
    """Add the bot's own subcommands."""
    serve = subparsers.add_parser("serve", help="run the bot (embedded Redis + worker by default)")
    serve.add_argument("--port", type=int, default=None, help="override PORT")
    group = serve.add_mutually_exclusive_group()
    group.add_argument(
        "--worker",
        dest="worker",
        action="store_true",
        default=None,
        help="also start a worker even when REDIS_URL is set",
    )
    group.add_argument(
        "--no-worker",
        dest="worker",
        action="store_false",
        help="web process only (workers run elsewhere)",
    )
    serve.add_argument(
        "--web-processes",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY") or 1),
        metavar="N",
        help="web processes sharing the port (SO_REUSEPORT; default $WEB_CONCURRENCY or 1)",
    )
    serve.add_argument("--web-only", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    demo = subparsers.add_parser("demo", help="replay real deliveries against a fake GitHub")
    demo.add_argument("--verbose", action="store_true")
    demo.set_defaults(func=cmd_demo)

    docs = subparsers.add_parser("config-docs", help="print the .github/steward.yml reference")
    docs.set_defaults(func=cmd_config_docs)

    migrate = subparsers.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(func=cmd_migrate)
