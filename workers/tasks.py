"""Celery tasks: thin wrappers that run an async flow and turn GitHub trouble into retries.

Tasks carry ids and a few scalar fields, never whole payloads. They are ``acks_late``
(set on the app) so a killed worker's task is run again; every flow's effects are
idempotent, so a second run changes nothing that the first applied.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from celery import Task, shared_task
from gidgethub import GitHubBroken

from app.logs import log_context
from workers.flows.feedback import run_feedback
from workers.flows.history import run_backfill, run_record_pull
from workers.flows.installations import run_installation_sync
from workers.flows.retrain import queue_retrains, run_retrain
from workers.flows.reviewers import run_issue_people, run_reviewers
from workers.flows.triage import run_triage
from workers.flows.welcome import run_welcome
from workers.github import GitHubUnavailable, RateLimited, backoff_delay
from workers.runtime import TaskContext, get_runtime

log = logging.getLogger(__name__)

Flow = Callable[..., Awaitable[dict[str, Any]]]
TRANSIENT = (GitHubUnavailable, GitHubBroken, aiohttp.ClientError, asyncio.TimeoutError)
MAX_RETRIES = 12


async def _run_flow(flow: Flow, kwargs: dict[str, Any]) -> dict[str, Any]:
    async with get_runtime().task_context() as ctx:
        return await flow(ctx, **kwargs)


def run_task(task: Task, flow: Flow, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run ``flow`` for one task, retrying later on rate limits and GitHub outages."""
    context = {
        "delivery": kwargs.get("delivery_id"),
        "installation": kwargs.get("installation_id"),
        "repo": f"{kwargs['owner']}/{kwargs['repo']}" if "owner" in kwargs else None,
        "number": kwargs.get("number"),
        "task": task.name,
    }
    with log_context(**context):
        try:
            return asyncio.run(_run_flow(flow, kwargs))
        except RateLimited as exc:
            log.warning("rate limited; task retries in %.0fs", exc.wait_seconds)
            raise task.retry(countdown=exc.wait_seconds, max_retries=MAX_RETRIES) from exc
        except TRANSIENT as exc:
            delay = 5 + backoff_delay(task.request.retries, base=5, cap=600)
            log.warning("GitHub unavailable (%r); task retries in %.0fs", exc, delay)
            raise task.retry(countdown=delay, max_retries=MAX_RETRIES) from exc


@shared_task(name="steward.welcome", bind=True)  # type: ignore[untyped-decorator]
def welcome(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Welcome a first-time contributor (see :func:`workers.flows.welcome.run_welcome`)."""
    return run_task(self, run_welcome, kwargs)


@shared_task(name="steward.installation", bind=True)  # type: ignore[untyped-decorator]
def installation(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Record an installation change (see :mod:`workers.flows.installations`)."""
    return run_task(self, run_installation_sync, kwargs)


@shared_task(name="steward.feedback", bind=True)  # type: ignore[untyped-decorator]
def feedback(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Record a human label change that corrects the bot (see :mod:`workers.flows.feedback`)."""
    return run_task(self, run_feedback, kwargs)


@shared_task(name="steward.triage", bind=True)  # type: ignore[untyped-decorator]
def triage(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Label a new item (see :mod:`workers.flows.triage`); runs on the inference queue."""
    return run_task(self, run_triage, kwargs)


@shared_task(name="steward.reviewers", bind=True)  # type: ignore[untyped-decorator]
def reviewers(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Request or suggest reviewers (see :mod:`workers.flows.reviewers`)."""
    return run_task(self, run_reviewers, kwargs)


@shared_task(name="steward.issue_people", bind=True)  # type: ignore[untyped-decorator]
def issue_people(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Rank people who could help with a new issue."""
    return run_task(self, run_issue_people, kwargs)


@shared_task(name="steward.record_pull", bind=True)  # type: ignore[untyped-decorator]
def record_pull(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Add a merged pull request to the review history."""
    return run_task(self, run_record_pull, kwargs)


@shared_task(name="steward.backfill", bind=True)  # type: ignore[untyped-decorator]
def backfill(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Collect a repository's review history (resumable; see :mod:`workers.flows.history`)."""
    return run_task(self, run_backfill, kwargs)


@shared_task(name="steward.retrain", bind=True)  # type: ignore[untyped-decorator]
def retrain(self: Task, **kwargs: Any) -> dict[str, Any]:
    """Fine-tune a repository's model and promote it if better (see
    :mod:`workers.flows.retrain`); runs on the inference queue.
    """
    return run_task(self, run_retrain, kwargs)


@shared_task(name="steward.retrain_all")  # type: ignore[untyped-decorator]
def retrain_all() -> dict[str, Any]:
    """Queue ``steward.retrain`` for every active repository (Celery beat runs this)."""
    queued = queue_retrains(get_runtime().store, lambda job: retrain.apply_async(kwargs=job))
    log.info("queued %d retrain(s)", queued)
    return {"queued": queued}


__all__ = [
    "TaskContext",
    "backfill",
    "feedback",
    "installation",
    "issue_people",
    "record_pull",
    "retrain",
    "retrain_all",
    "reviewers",
    "triage",
    "welcome",
]
