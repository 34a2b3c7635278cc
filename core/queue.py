"""The Celery application, built from settings (no broker connection at import).

Both processes build it: the web process only sends with it, a worker also registers
the task functions (``include``). Queues and routes come from the task contracts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from core import streams
from core.settings import Settings
from core.tasks import (
    BACKFILL,
    BOOTSTRAP,
    CALIBRATE_DUPLICATES,
    CHOOSE_MATCHING,
    DEFAULT_QUEUE,
    DIGEST,
    FOLLOWUP,
    FOLLOWUP_REPO,
    FORGET,
    INDEX,
    INFERENCE_QUEUE,
    RECOVER_DELIVERIES,
    REFRESH_DUPLICATES,
    REFRESH_DUPLICATES_ALL,
    RETRAIN,
    RETRAIN_ALL,
    A,
    Task,
    task_routes,
)

T = TypeVar("T")

__all__ = [
    "DEFAULT_QUEUE",
    "INFERENCE_QUEUE",
    "TIME_LIMITS",
    "broker_url",
    "create_celery",
    "enqueue",
    "run_bounded",
    "time_limits",
]

#: Seconds a task may run (soft: it is stopped with ``SoftTimeLimitExceeded`` and fails
#: without a retry; hard: its process is killed) when :data:`TIME_LIMITS` names no other.
#: A GitHub call waits at most ``Settings.max_rate_limit_wait`` (60 s) and an effect's
#: lock three times ``Settings.lock_timeout`` (90 s) (``core/settings.py``, fixed: no
#: environment variable sets them), so five minutes is ample for one delivery's work; no
#: input can make a task hold a worker for longer.
SOFT_TIME_LIMIT = 300
HARD_TIME_LIMIT = 360
#: Tasks that legitimately run long: ``(soft, hard)`` seconds.
TIME_LIMITS: dict[str, tuple[int, int]] = {
    RETRAIN.name: (6 * 3600, 6 * 3600 + 600),  # fine-tuning an org's encoder on CPUs
    BOOTSTRAP.name: (3600, 3600 + 300),  # a repository's history, taxonomy and gates
    BACKFILL.name: (3600, 3600 + 300),  # review history; resumable when stopped
    INDEX.name: (3600, 3600 + 300),  # embedding a repository's history
    RETRAIN_ALL.name: (900, 960),
    FOLLOWUP_REPO.name: (1800, 1860),  # one repository's due items, several calls each
    FORGET.name: (900, 960),
    RECOVER_DELIVERIES.name: (900, 960),
    # Reading, embedding and replaying a repository's issues (up to 5,000).
    CALIBRATE_DUPLICATES.name: (3600, 3600 + 300),
    REFRESH_DUPLICATES.name: (900, 960),  # issues changed since the last scan, reactions
    CHOOSE_MATCHING.name: (1800, 1860),  # replaying up to 10,000 changes (15-45 s measured)
}


def broker_url(redis_url: str) -> str:
    """Kombu's spelling of a Redis URL (unix sockets are ``redis+socket://``)."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


def create_celery(settings: Settings, *, include: Sequence[str] = ()) -> Celery:
    """A Celery app whose tasks survive a killed worker and never run on stale acks.

    ``include`` names the modules that register task functions (a worker's, not the
    web process's concern).
    """
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL must be set before creating the Celery app")
    streams.register()
    redis_url, password = streams.split_password(settings.redis_url)
    app = Celery("steward", broker=streams.broker_url(settings.redis_url), include=list(include))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=DEFAULT_QUEUE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # The password apart: Celery leaves it out of `inspect stats`, `inspect conf`
        # and Flower's pages, which show the transport options.
        broker_password=password,
        broker_transport_options={
            "redis_url": redis_url,
            # Seconds a held message may go untouched before another worker claims it
            # (a live worker touches what it holds three times as often).
            "visibility_timeout": settings.visibility_timeout,
        },
        # `celery inspect`/`control`, worker events and Flower: broadcasts through Redis
        # pub/sub (core/broadcast.py). Task events only once asked for (`celery control
        # enable_events`; Flower asks every few seconds).
        worker_enable_remote_control=True,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        task_routes=task_routes(),
        beat_schedule=beat_schedule(settings),
        # Enforced by the prefork pool; :func:`run_bounded` enforces the soft limit in
        # the threads and solo pools, which do not support Celery's time limits.
        task_soft_time_limit=SOFT_TIME_LIMIT,
        task_time_limit=HARD_TIME_LIMIT,
        task_annotations={
            name: {"soft_time_limit": soft, "time_limit": hard}
            for name, (soft, hard) in TIME_LIMITS.items()
        },
    )
    app.set_default()
    return app


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Periodic tasks for ``steward worker --beat``: retrain every repository's model
    every ``STEWARD_RETRAIN_HOURS`` and ask GitHub to redeliver what Steward missed
    every ``STEWARD_RECOVER_MINUTES`` (each left out when its setting is 0); route
    unanswered items (``followup`` in each repository's config) every hour; write or
    edit each repository's weekly digest (``digest`` in its config) every 6 hours; read
    each repository's new duplicates and corrections daily; forget what was uninstalled
    ``STEWARD_RETENTION_DAYS`` ago, daily.
    """
    schedule: dict[str, dict[str, Any]] = {
        "followup": {
            "task": FOLLOWUP.name,
            "schedule": timedelta(hours=1),
            "options": {"expires": 3600},
        },
        "digest": {
            "task": DIGEST.name,
            "schedule": timedelta(hours=6),
            # The next run posts the same numbers; a missed one is not worth queueing.
            "options": {"expires": 6 * 3600},
        },
        # What was uninstalled STEWARD_RETENTION_DAYS ago is deleted (run_forget).
        "forget": {
            "task": FORGET.name,
            "schedule": timedelta(days=1),
            "options": {"expires": 24 * 3600},
        },
        # New duplicates and corrections read daily; a calibration follows when due.
        "refresh-duplicates": {
            "task": REFRESH_DUPLICATES_ALL.name,
            "schedule": timedelta(days=1),
            "options": {"expires": 24 * 3600},
        },
    }
    if settings.retrain_hours > 0:
        schedule["retrain-all"] = {
            "task": RETRAIN_ALL.name,
            "schedule": timedelta(hours=settings.retrain_hours),
        }
    if settings.recover_minutes > 0:
        schedule["recover-deliveries"] = {
            "task": RECOVER_DELIVERIES.name,
            "schedule": timedelta(minutes=settings.recover_minutes),
            # A run missed while no worker was up is not worth queueing twice.
            "options": {"expires": settings.recover_minutes * 60},
        }
    return schedule


def enqueue(app: Celery, task: Task[A], args: A, **options: Any) -> None:
    """Queue ``task`` with ``args`` (checked against its contract) on its queue."""
    app.send_task(task.name, kwargs=task.message(args), queue=task.queue, **options)


def time_limits(name: str) -> tuple[int, int]:
    """``(soft, hard)`` seconds task ``name`` may run."""
    return TIME_LIMITS.get(name, (SOFT_TIME_LIMIT, HARD_TIME_LIMIT))


async def run_bounded(work: Awaitable[T], *, name: str) -> T:
    """Await ``work`` for at most task ``name``'s soft time limit; past it, raise
    ``SoftTimeLimitExceeded`` as the prefork pool would (the task fails, no retry). A
    timeout inside the work (a slow GitHub call) is the work's own and passes through.
    """
    soft, _ = time_limits(name)
    try:
        async with asyncio.timeout(soft) as limit:
            return await work
    except TimeoutError:
        if limit.expired():
            raise SoftTimeLimitExceeded(
                f"{name} ran past its soft time limit of {soft} s (core.queue.TIME_LIMITS)"
            ) from None
        raise
