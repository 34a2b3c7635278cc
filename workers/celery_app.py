"""The worker's Celery application: the shared one, with Steward's task functions registered."""

from __future__ import annotations

from celery import Celery

from core.queue import create_celery
from core.settings import Settings

#: The module whose import registers every task function.
TASK_MODULES = ("workers.tasks",)


def create_worker_celery(settings: Settings) -> Celery:
    """The Celery app a worker runs (the web process uses :func:`core.queue.create_celery`)."""
    return create_celery(settings, include=TASK_MODULES)
