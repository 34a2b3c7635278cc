"""The route task: one verified delivery in, its feature tasks out, once.

The receiver kept the delivery's body under its delivery key (:mod:`core.deliveries`)
and queued one ``steward.route`` message in the installation's lane. Here the body is
parsed, bots' events skipped and every feature's router run (:mod:`core.routing.intake`,
pure); then one script (:data:`core.streams.FANOUT_SCRIPT`) adds every feature task to
its own lane and class and replaces the body with the mark ``1``, only if the body is
still there. A route task run twice (a killed worker's message claimed, a redelivered
message) therefore queues its tasks once, and the delivery key stays what the recovery
of missed deliveries reads.

A body that cannot be routed (not JSON, a field missing or odd) is refused here: the
task ends with the reason, the delivery is counted as ``bad_payload`` or ``malformed``
(``steward_deliveries_total``) and logged once with its id; GitHub was answered 202.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from core import streams
from core.deliveries import delivery_key
from core.metrics import record_delivery
from core.routing import Job, build_router
from core.routing.intake import Refused, Skips, route_body
from core.tasks import RouteArgs
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

#: The value of a delivery key once its delivery was routed (or when it never held one).
ROUTED = b"1"


@cache
def router() -> Router:
    """Every feature's routes, built once per process."""
    return build_router()


async def run_route(ctx: TaskContext, args: RouteArgs) -> dict[str, Any]:
    """Route the delivery ``args`` names and queue its feature tasks (once)."""
    key = delivery_key(str(args.delivery_id))
    body = await ctx.redis.get(key)
    if body is None:
        log.warning("delivery %s: its body is gone (older than the key's TTL)", args.delivery_id)
        return {"skipped": "the delivery's body is gone"}
    if body == ROUTED:
        return {"skipped": "routed already", "queued": []}
    event = sansio.Event(body, event=args.event, delivery_id=str(args.delivery_id))
    skips = Skips(app_slug=ctx.settings.app_slug, ignore_bots=ctx.settings.ignore_bots)
    try:
        routed = route_body(event, router(), skips=skips, content_type=args.content_type)
    except Refused as exc:
        return await _refused(ctx, key, args=args, exc=exc)
    queued = await fan_out(ctx, key, routed.jobs)
    if routed.outcome != "queued":
        record_delivery(args.event, routed.outcome)
        return {"skipped": routed.message, "outcome": routed.outcome}
    return {"outcome": routed.outcome, "queued": queued}


async def fan_out(ctx: TaskContext, key: str, jobs: Sequence[Job]) -> list[str]:
    """Queue ``jobs`` and mark the delivery routed, in one script; the names queued
    (none when another run did it first)."""
    args: list[str] = []
    for job in jobs:
        args += streams.placed(job.task, job.kwargs)
    script = ctx.redis.register_script(streams.FANOUT_SCRIPT)
    if not await script(keys=[key], args=args):
        return []
    return [job.task for job in jobs]


async def _refused(ctx: TaskContext, key: str, *, args: RouteArgs, exc: Refused) -> dict[str, Any]:
    record_delivery(args.event if exc.outcome == "bad_payload" else "unknown", exc.outcome)
    log.warning("refused delivery %s (%s): %s", args.delivery_id, args.event, exc)
    if exc.__cause__ is not None:
        log.error("a route failed on %s", args.event, exc_info=exc.__cause__)
    await fan_out(ctx, key, ())  # nothing to queue; the body is dropped
    return {"skipped": f"refused: {exc}", "outcome": exc.outcome}
