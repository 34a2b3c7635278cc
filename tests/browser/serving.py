"""The web app of ``steward serve`` on a real port, from a thread: what the browser tests open."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import redis.asyncio as aioredis
from aiohttp import web

from app.server import build_web_app
from core.settings import Settings
from core.store import Store
from tests.support import free_port


@contextlib.contextmanager
def web_app_in_thread(settings: Settings, store: Store, redis_url: str) -> Iterator[str]:
    """Serve ``build_web_app(settings, …)`` on 127.0.0.1 until the block ends; yields its URL.

    Queued jobs are dropped: these pages never queue work.
    """
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runners: list[web.AppRunner] = []

    async def start() -> None:
        redis = aioredis.Redis.from_url(redis_url)
        app = build_web_app(settings, redis=redis, store=store, send=lambda job: None)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
