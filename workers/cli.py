"""``steward worker``: a Celery worker for Steward's queues (composed by :mod:`app.cli`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.settings import load_settings_or_exit


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker for Steward's queues."""
    from core.logs import configure_logging, register_secret
    from core.metrics import configure_metrics
    from core.queue import DEFAULT_QUEUE, INFERENCE_QUEUE
    from workers import runtime
    from workers.celery_app import create_worker_celery

    settings = load_settings_or_exit()
    if not settings.redis_url:
        print(
            "steward worker: REDIS_URL is not set. Point it at your Redis, or run "
            "`steward serve`, which embeds Redis and a worker.",
            file=sys.stderr,
        )
        return 2
    if not settings.is_configured:
        print(
            "steward worker: APP_ID, PRIVATE_KEY and WEBHOOK_SECRET must be set "
            "(run `steward serve` once to create the App).",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level, settings.log_format)
    for secret in (settings.webhook_secret, settings.private_key):
        register_secret(secret)
    runtime.configure(settings)
    configure_metrics(settings.metrics_dir_or_default, clean=True)  # the pool's children too
    app = create_worker_celery(settings)
    queues = args.queues or f"{DEFAULT_QUEUE},{INFERENCE_QUEUE}"
    argv = [
        "worker",
        "--loglevel",
        settings.log_level.upper().replace("TRACE", "DEBUG"),
        "--queues",
        queues,
        "--concurrency",
        str(args.concurrency),
        "--pool",
        args.pool,
        "--hostname",
        args.hostname,
        "--without-gossip",
        "--without-mingle",
    ]
    if args.beat:
        # Embedded Celery beat: the periodic retrain; its schedule file lives in the data dir.
        argv += ["--beat", "--schedule", str(settings.data_dir / "celerybeat-schedule")]
    app.worker_main(argv)
    return 0


def register(subparsers: Any) -> None:
    """Add ``steward worker``."""
    worker = subparsers.add_parser("worker", help="run a Celery worker")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="tasks run at once (threads share one loaded model)",
    )
    worker.add_argument(
        "--pool",
        default="threads",
        choices=["threads", "prefork", "solo"],
        help="threads (default): concurrent tasks micro-batch model inference",
    )
    worker.add_argument("--queues", default=None, help="comma-separated queues (default: all)")
    worker.add_argument("--hostname", default="steward@%h")
    worker.add_argument(
        "--beat",
        action="store_true",
        help="also run the scheduler (periodic retraining); run it in one worker only",
    )
    worker.set_defaults(func=cmd_worker)
