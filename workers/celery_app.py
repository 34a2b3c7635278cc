"""The worker's Celery application: the shared one, with Steward's task functions registered.

``celery -A workers.celery_app <command>`` (``inspect ping``, ``control``, ``events``,
``flower``) finds the app as this module's ``app``, built on first use from the
environment and ``.env`` as every Steward process reads them (``REDIS_URL`` is enough).
"""

from __future__ import annotations

from celery import Celery

from core.queue import create_celery
from core.settings import Settings

#: The module whose import registers every task function.
TASK_MODULES = ("workers.tasks",)


def create_worker_celery(settings: Settings) -> Celery:
    """The Celery app a worker runs (the web process uses :func:`core.queue.create_celery`)."""
    return create_celery(settings, include=TASK_MODULES)


def __getattr__(name: str) -> Celery:
    """``app``: the worker's Celery app from this process's settings (Celery's ``-A``)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from core.settings import load_settings_or_exit

    app = create_worker_celery(load_settings_or_exit())
    globals()["app"] = app
    return app
