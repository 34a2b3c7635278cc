"""The route task: one verified delivery in, its feature tasks out, once.

The receiver kept the delivery's body under its delivery key (:mod:`core.deliveries`)
and queued one ``steward.route`` message in the installation's lane. Here the body is
parsed, bots' events skipped and every feature's router run (:mod:`core.routing.intake`,
pure); then one script (:data:`core.lanes.FANOUT_SCRIPT`) adds every feature task to
its own lane and class and replaces the body with the mark ``1``, only if the body is
still there. A route task run twice (a killed worker's message claimed, a redelivered
message) therefore queues its tasks once, and the delivery key stays what the recovery
of missed deliveries reads.

A body that cannot be routed (not JSON, a field missing or odd) is refused here: the
task ends with the reason, the delivery is counted as ``bad_payload`` or ``malformed``
(``steward_deliveries_total``) and logged once with its id; GitHub was answered 202.

The task is synchronous and uses the worker's own Redis client: it makes no GitHub
call, so it needs no event loop, HTTP session or installation token (it costs a fifth of
a task that does). A Redis error retries it (the delivery must not be dropped).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

import redis
from celery import Task
from gidgethub import sansio
from gidgethub.routing import Router

from core import lanes
from core.deliveries import delivery_key
from core.logs import log_context
from core.metrics import record_delivery, record_task
from core.routing import Job, build_router
from core.routing.intake import Refused, Skips, route_body
from core.settings import Settings
from core.tasks import ROUTE, RouteArgs, TaskArgsError
from workers.github import backoff_delay
from workers.runtime import get_runtime

log = logging.getLogger(__name__)

#: The value of a delivery key once its delivery was routed (or when it never held one).
ROUTED = b"1"


@cache
def router() -> Router:
    """Every feature's routes, built once per process."""
    return build_router()


def route_task(task: Task, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Celery task's body: parse the message, route, count how it ended."""
    started, outcome = time.perf_counter(), "failed"
    try:
        try:
            args = ROUTE.parse(kwargs)
        except TaskArgsError as exc:
            log.error("refused %s: %s", ROUTE.name, exc)
            outcome = "rejected"
            return {"rejected": str(exc)}
        runtime = get_runtime()
        with log_context(delivery=args.delivery_id, installation=args.installation_id):
            try:
                result = route_delivery(runtime.redis, runtime.settings, args)
            except redis.RedisError as exc:
                outcome = "retried"
                delay = 1 + backoff_delay(task.request.retries, base=1, cap=60)
                log.warning("Redis unavailable (%r); routing retries in %.0fs", exc, delay)
                raise task.retry(countdown=delay, max_retries=None) from exc
        outcome = "skipped" if "skipped" in result else "succeeded"
        return result
    finally:
        record_task(ROUTE.name, outcome, time.perf_counter() - started)


def route_delivery(client: redis.Redis, settings: Settings, args: RouteArgs) -> dict[str, Any]:
    """Route the delivery ``args`` names and queue its feature tasks (once)."""
    key = delivery_key(str(args.delivery_id))
    body = client.get(key)
    if body is None:
        log.warning("delivery %s: its body is gone (older than the key's TTL)", args.delivery_id)
        return {"skipped": "the delivery's body is gone"}
    if body == ROUTED:
        return {"skipped": "routed already", "queued": []}
    event = sansio.Event(body, event=args.event, delivery_id=str(args.delivery_id))
    skips = Skips(app_slug=settings.app_slug, ignore_bots=settings.ignore_bots)
    try:
        routed = route_body(event, router(), skips=skips, content_type=args.content_type)
    except Refused as exc:
        return _refused(client, key, args=args, exc=exc)
    queued = fan_out(client, key, routed.jobs)
    if routed.outcome != "queued":
        record_delivery(args.event, routed.outcome)
        return {"skipped": routed.message, "outcome": routed.outcome}
    return {"outcome": routed.outcome, "queued": queued}


def fan_out(client: redis.Redis, key: str, jobs: Sequence[Job]) -> list[str]:
    """Queue ``jobs`` and mark the delivery routed, in one script; the names queued
    (none when another run did it first)."""
    args: list[str] = []
    for job in jobs:
        args += lanes.placed(job.task, job.kwargs)
    if not client.register_script(lanes.FANOUT_SCRIPT)(keys=[key], args=args):
        return []
    return [job.task for job in jobs]


def _refused(client: redis.Redis, key: str, *, args: RouteArgs, exc: Refused) -> dict[str, Any]:
    record_delivery(args.event if exc.outcome == "bad_payload" else "unknown", exc.outcome)
    log.warning("refused delivery %s (%s): %s", args.delivery_id, args.event, exc)
    if exc.__cause__ is not None:
        log.error("a route failed on %s", args.event, exc_info=exc.__cause__)
    fan_out(client, key, ())  # nothing to queue; the body is dropped
    return {"skipped": f"refused: {exc}", "outcome": exc.outcome}
