"""``GET /metrics``: Prometheus text of every Steward process on this machine.

The counters and histograms that web processes and workers wrote to the multiprocess
directory are merged at scrape time (:func:`core.metrics.render`, in a thread so
deliveries keep flowing), plus two things read then: each queue stream's length from
Redis, and the live label precision per repository from the store. The precision is
cached (:class:`PrecisionCache`, 60 s) and refreshed in the background, so a scrape
never waits for the database after the first one.

Open by default, like Probot's ``/probot/stats``; with ``STEWARD_METRICS_TOKEN`` set it
requires ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client.metrics_core import Metric

from core import metrics as core_metrics
from core.live_precision import precision_by_repository
from core.settings import Settings
from core.store import Store
from core.streams import stream_key
from core.tasks import DEFAULT_QUEUE, INFERENCE_QUEUE

log = logging.getLogger(__name__)

QUEUES = (DEFAULT_QUEUE, INFERENCE_QUEUE)
#: Seconds the live precision is reused before it is computed again.
PRECISION_TTL = 60.0
#: Longest wait for Redis during a scrape; past it the queue depth is left out.
REDIS_TIMEOUT = 1.0

PerRepo = dict[str, dict[str, Any]]


class PrecisionCache:
    """Live precision per repository, computed at most once per ``ttl`` seconds.

    :meth:`warm` starts the first computation when the web process starts, and the
    first call waits for it; later calls get the last value at once and, once it is
    older than ``ttl``, start one refresh in the background. A failed computation
    (database down) is logged and keeps the last value.
    """

    def __init__(
        self,
        compute: Callable[[], PerRepo],
        *,
        ttl: float = PRECISION_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``compute`` runs in a thread; ``clock`` is injectable for tests."""
        self._compute = compute
        self._ttl = ttl
        self._clock = clock
        self._value: PerRepo | None = None
        self._at: float | None = None  # when the last computation started
        self._refreshing: asyncio.Task[None] | None = None

    async def get(self) -> PerRepo:
        """The latest precision per repository (empty until one computation succeeded)."""
        if self._at is None or self._clock() - self._at > self._ttl:
            self.warm()
        if self._value is None and self._refreshing is not None:
            await asyncio.shield(self._refreshing)
        return self._value or {}

    def warm(self) -> asyncio.Task[None]:
        """Start computing in the background (unless that runs already); the task."""
        if self._refreshing is None:
            self._refreshing = asyncio.create_task(self._refresh_once())
        return self._refreshing

    async def _refresh_once(self) -> None:
        self._at = self._clock()  # a failure waits a ttl too, not every scrape
        try:
            self._value = await asyncio.to_thread(self._compute)
        except Exception:
            log.exception("live precision for /metrics failed; keeping the last value")
        finally:
            self._refreshing = None


def store_precision(store: Store) -> Callable[[], PerRepo]:
    """The computation :class:`PrecisionCache` runs: every repository, from the store."""

    def compute() -> PerRepo:
        return precision_by_repository(store.triage_decisions(), store.label_feedback())

    return compute


@dataclass
class MetricsEndpoint:
    """What ``/metrics`` reads, injected."""

    token: str | None
    redis: aioredis.Redis
    precision: PrecisionCache


METRICS = web.AppKey("metrics", MetricsEndpoint)


async def queue_depths(redis: aioredis.Redis) -> dict[str, int]:
    """Each queue's stream length (waiting plus held messages); empty if Redis is away."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                pipe.xlen(stream_key(queue))
            lengths = await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT)
    except Exception as exc:
        log.warning("queue depth for /metrics unavailable: %r", exc)
        return {}
    return {queue: int(n) for queue, n in zip(QUEUES, lengths, strict=True)}


def authorized(header: str, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries the token (always, with no token set)."""
    if not token:
        return True
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


async def handle_metrics(request: web.Request) -> web.Response:
    """GET /metrics: every process's metrics, queue depth and live precision."""
    endpoint = request.app[METRICS]
    if not authorized(request.headers.get("Authorization", ""), endpoint.token):
        raise web.HTTPUnauthorized(
            text="/metrics needs 'Authorization: Bearer <STEWARD_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    depths, precision = await asyncio.gather(queue_depths(endpoint.redis), endpoint.precision.get())
    families: list[Metric] = [core_metrics.queue_depth_family(depths)] if depths else []
    families += core_metrics.precision_families(precision)
    body = await asyncio.to_thread(core_metrics.render, families)
    return web.Response(body=body, headers={"Content-Type": core_metrics.CONTENT_TYPE})


def add_metrics(
    app: web.Application, settings: Settings, *, redis: aioredis.Redis, store: Store
) -> None:
    """Serve ``GET /metrics`` from ``app``."""
    precision = PrecisionCache(store_precision(store))

    async def warm(_: web.Application) -> None:
        precision.warm()  # the first scrape need not wait for the database

    app[METRICS] = MetricsEndpoint(token=settings.metrics_token, redis=redis, precision=precision)
    app.on_startup.append(warm)
    app.router.add_get("/metrics", handle_metrics)
