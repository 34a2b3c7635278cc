"""``GET /metrics``: Prometheus text of every Steward process on this machine.

The counters and histograms that web processes and workers wrote to the multiprocess
directory are merged at scrape time (:func:`core.metrics.render`, in a thread so
deliveries keep flowing), plus two things read then: each queue stream's length from
Redis, and the live label precision per repository from the store. The precision is
cached (:class:`PrecisionCache`, 60 s) and refreshed in the background, so a scrape
never waits for the database after the first one.

Not public by default: the webhook port must be reachable from GitHub, and the metrics
name private repositories and installations. ``STEWARD_METRICS_TOKEN`` serves them
there to ``Authorization: Bearer <token>`` (compared as bytes, in constant time);
``STEWARD_METRICS_PORT`` serves them on a listener of their own, bound to
``STEWARD_METRICS_HOST`` (127.0.0.1 by default), the token required there too when it is
set. With neither, ``/metrics`` on the webhook port is a 404 that says how to turn it on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client.metrics_core import Metric

from app.dashboard.security import same_secret, secure_app
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
    """Whether an ``Authorization`` header carries the token (always, with no token set).

    Compared as bytes in constant time: a header with any bytes at all is a yes or a no.
    """
    if not token:
        return True
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and same_secret(given.strip(), token)


#: What ``/metrics`` on the webhook port answers when nothing turned it on there.
NOT_HERE = (
    "/metrics is not served on this port: it names private repositories. Set "
    "STEWARD_METRICS_TOKEN and scrape with 'Authorization: Bearer <token>', or set "
    "STEWARD_METRICS_PORT for a listener on 127.0.0.1 (STEWARD_METRICS_HOST to change it).\n"
)


async def metrics_off(request: web.Request) -> web.Response:
    """GET /metrics on the webhook port with no token set: a 404 that says how to turn it on."""
    return web.Response(status=404, text=NOT_HERE)


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


def metrics_app(endpoint: MetricsEndpoint) -> web.Application:
    """The metrics listener's application: ``GET /metrics`` alone."""
    app = web.Application()
    app[METRICS] = endpoint
    app.router.add_get("/metrics", handle_metrics)
    secure_app(app, ())
    return app


def attach_listener(app: web.Application, listener: web.Application, settings: Settings) -> None:
    """Serve ``listener`` on ``STEWARD_METRICS_HOST:STEWARD_METRICS_PORT`` while ``app`` runs."""
    host, port = settings.metrics_host, settings.metrics_port
    runners: list[web.AppRunner] = []

    async def start(_: web.Application) -> None:
        runner = web.AppRunner(listener, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            raise RuntimeError(
                f"cannot serve metrics on {host}:{port} ({exc.strerror}): set "
                "STEWARD_METRICS_PORT to a free port, or stop what listens there"
            ) from None
        runners.append(runner)
        if not settings.metrics_token and not is_loopback(host):
            log.warning(
                "metrics on %s:%d without STEWARD_METRICS_TOKEN: anyone who "
                "reaches that address reads repository names",
                host,
                port,
            )
        log.info("metrics listener on %s:%d", host, port)

    async def stop(_: web.Application) -> None:
        for runner in runners:
            await runner.cleanup()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def add_metrics(
    app: web.Application,
    settings: Settings,
    *,
    redis: aioredis.Redis,
    store: Store,
    listener: bool = True,
) -> None:
    """Serve ``GET /metrics`` from ``app`` where ``STEWARD_METRICS_TOKEN`` allows it, and
    from a listener of its own with ``STEWARD_METRICS_PORT`` (unless ``listener`` is
    False: a sibling web process, whose first process serves the listener for all)."""
    serve_listener = listener and settings.metrics_port is not None
    if not settings.metrics_token and not serve_listener:
        app.router.add_get("/metrics", metrics_off)
        return
    precision = PrecisionCache(store_precision(store))

    async def warm(_: web.Application) -> None:
        precision.warm()  # the first scrape need not wait for the database

    endpoint = MetricsEndpoint(token=settings.metrics_token, redis=redis, precision=precision)
    app[METRICS] = endpoint
    app.on_startup.append(warm)
    app.router.add_get("/metrics", handle_metrics if settings.metrics_token else metrics_off)
    if serve_listener:
        attach_listener(app, metrics_app(endpoint), settings)
