"""Wiring for ``steward serve``: Redis (embedded or given), store, Celery sender, web app."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiohttp import web

from app.dashboard import add_dashboard_notice, add_dashboard_routes
from app.dashboard.security import secure_app
from app.embedded import EmbeddedRedis, WorkerProcess
from app.metrics import add_metrics
from app.relay import attach_relay
from app.routes import Job
from app.setup import add_setup_routes
from app.web import (
    Publish,
    Receiver,
    StreamPublisher,
    create_app,
    default_router,
    sending_publisher,
)
from core.logs import configure_logging, register_secret
from core.metrics import configure_metrics
from core.settings import Settings
from core.store import Store, open_store

log = logging.getLogger(__name__)

WEBHOOK_PATH = web.AppKey("webhook_path", str)


async def _not_configured(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "error": "Steward is not set up yet: open / in a browser, or set APP_ID, "
            "PRIVATE_KEY and WEBHOOK_SECRET"
        },
        status=503,
    )


async def _status_page(request: web.Request) -> web.Response:
    return web.Response(
        text="Steward is running. Webhooks go to POST "
        f"{request.app[WEBHOOK_PATH]}; health at /healthz and /readyz.\n"
    )


def fast_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (Linux, macOS), else asyncio's.

    The receiver spends much of each delivery in the loop and its sockets; uvloop
    does that part in C.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def build_web_app(
    settings: Settings,
    *,
    redis: aioredis.Redis,
    store: Store,
    send: Callable[[Job], None] | None = None,
    metrics_listener: bool = True,
) -> web.Application:
    """The full web app: receiver when configured, the setup flow when not.

    Jobs go to the task streams in one atomic script per delivery; ``send`` (tests, or
    another broker) takes each job instead. Security headers and trusted proxies:
    :mod:`app.dashboard.security`. ``metrics_listener``: this process serves
    ``STEWARD_METRICS_PORT`` (the first of several web processes does, for all).
    """

    async def redis_ready() -> None:
        await redis.ping()

    async def db_ready() -> None:
        await asyncio.to_thread(store.ping)

    publish = _publisher(settings, redis, send)
    receiver = Receiver(
        settings=settings,
        redis=redis,
        publish=publish,
        router=default_router(),
        ready_checks={"redis": redis_ready, "database": db_ready},
    )
    app = create_app(receiver) if settings.is_configured else _setup_app(settings, receiver)
    secure_app(app, settings.trusted_proxies)
    if isinstance(publish, StreamPublisher):
        app.on_cleanup.append(lambda _: publish.close())
    add_metrics(app, settings, redis=redis, store=store, listener=metrics_listener)
    app[WEBHOOK_PATH] = settings.webhook_path
    if settings.is_configured:
        app.router.add_get("/", _status_page)
        add_dashboard_routes(app, settings, store)
    else:
        add_dashboard_notice(app)
    return app


def _publisher(
    settings: Settings, redis: aioredis.Redis, send: Callable[[Job], None] | None
) -> Publish:
    """Queue to the task streams in one atomic script, or hand each job to ``send``."""
    if send is None:
        return StreamPublisher(str(settings.redis_url), settings.delivery_ttl, redis)
    return sending_publisher(redis, settings.delivery_ttl, send)


def _setup_app(settings: Settings, receiver: Receiver) -> web.Application:
    app = web.Application()
    from app.web import RECEIVER, handle_health, handle_ready

    app[RECEIVER] = receiver
    app.router.add_post(settings.webhook_path, _not_configured)
    app.router.add_get("/healthz", handle_health)
    app.router.add_get("/readyz", handle_ready)
    add_setup_routes(app, settings, receiver.redis)
    return app


@dataclass
class Stack:
    """Everything ``serve`` starts, so it can be stopped in reverse order."""

    settings: Settings
    embedded_redis: EmbeddedRedis | None = None
    worker: WorkerProcess | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def start_backends(self, *, start_worker: bool | None) -> Settings:
        """Start embedded Redis (if no REDIS_URL) and the worker (embedded, or when asked)."""
        settings = self.settings
        embedded = not settings.redis_url
        if embedded:
            self.embedded_redis = EmbeddedRedis(settings.data_dir)
            settings = settings.with_overrides(redis_url=self.embedded_redis.start())
        want_worker = embedded if start_worker is None else start_worker
        if want_worker and settings.is_configured:
            env = {
                "REDIS_URL": str(settings.redis_url),
                "STEWARD_DATA_DIR": str(settings.data_dir),
                **self.extra_env,
            }
            if settings.database_url:
                env["DATABASE_URL"] = settings.database_url
            # Beat only on the embedded default: with a shared Redis, schedule it once elsewhere.
            self.worker = WorkerProcess(env, beat=embedded)
            self.worker.start()
        self.settings = settings
        return settings

    def stop(self) -> None:
        """Stop the worker (warm), then Redis (flushed to disk)."""
        if self.worker:
            self.worker.stop()
        if self.embedded_redis:
            self.embedded_redis.stop()


def serve(settings: Settings, *, start_worker: bool | None = None, web_processes: int = 1) -> int:
    """Run the bot until interrupted.

    With ``web_processes`` > 1, that many web processes share the port (``SO_REUSEPORT``:
    the kernel spreads connections over them) and one Redis; this process starts the
    backends, runs one of them and stops the others when it stops.
    """
    configure_logging(settings.log_level, settings.log_format)
    for secret in (
        settings.webhook_secret,
        settings.private_key,
        settings.client_secret,
        settings.metrics_token,
    ):
        register_secret(secret)
    # Before any child starts: they inherit PROMETHEUS_MULTIPROC_DIR and write there too.
    configure_metrics(settings.metrics_dir_or_default, clean=True)
    stack = Stack(settings)
    siblings: list[subprocess.Popen[bytes]] = []
    try:
        settings = stack.start_backends(start_worker=start_worker)
        if not settings.is_configured:
            log.warning(
                "no GitHub App configured: open http://localhost:%d/ to create one", settings.port
            )
        store = open_store(settings.database_url_or_default)  # migrated once, before siblings
        siblings = [_start_sibling(settings) for _ in range(web_processes - 1)]
        log.info(
            "listening on %s:%d, webhooks at %s (%d web process(es))",
            settings.host,
            settings.port,
            settings.webhook_path,
            web_processes,
        )
        run_web(settings, store=store, reuse_port=web_processes > 1)
    finally:
        _stop_siblings(siblings)
        stack.stop()
    return 0


def run_web(
    settings: Settings,
    *,
    store: Store | None = None,
    reuse_port: bool = False,
    relay: bool = True,
) -> None:
    """One web process: the app on uvloop until SIGINT or SIGTERM.

    ``relay``: this is the first of the web processes. With ``WEBHOOK_PROXY_URL`` set it
    forwards the relay's deliveries to its receiver (:mod:`app.relay`), and with
    ``STEWARD_METRICS_PORT`` it serves the metrics listener (for all of them).
    """
    store = store or open_store(settings.database_url_or_default)
    configure_metrics(settings.metrics_dir_or_default)

    async def app_factory() -> web.Application:
        client = aioredis.Redis.from_url(str(settings.redis_url))
        app = build_web_app(settings, redis=client, store=store, metrics_listener=relay)
        if relay and settings.webhook_proxy_url:
            local = f"http://127.0.0.1:{settings.port}{settings.webhook_path}"
            attach_relay(app, settings.webhook_proxy_url, local)

        async def close_redis(_: web.Application) -> None:
            await client.aclose()

        app.on_cleanup.append(close_redis)
        return app

    web.run_app(
        app_factory(),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        reuse_port=reuse_port or None,
        loop=fast_event_loop(),
    )


def _start_sibling(settings: Settings) -> subprocess.Popen[bytes]:
    """Another web process on the same port, with the backends this process resolved."""
    env = {
        **os.environ,
        "REDIS_URL": str(settings.redis_url),
        "DATABASE_URL": settings.database_url_or_default,
        "PORT": str(settings.port),
    }
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--web-only"], env=env)


def _stop_siblings(siblings: list[subprocess.Popen[bytes]]) -> None:
    for sibling in siblings:
        if sibling.poll() is None:
            sibling.send_signal(signal.SIGTERM)
    for sibling in siblings:
        try:
            sibling.wait(15)
        except subprocess.TimeoutExpired:
            sibling.kill()
