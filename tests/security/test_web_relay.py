"""The webhook relay client (``WEBHOOK_PROXY_URL``) against a relay that sends what it
should not: a line longer than a reader's buffer, a header with CR/LF in it (which
would split the forwarded request), an event that is not JSON, a line over the client's
limit. Each bad event is skipped and logged, the stream is kept, and the next good
delivery reaches the receiver. The relay is a local server speaking smee.io's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from app.relay import run_relay
from app.routes import Job
from app.server import build_web_app
from core.settings import load_settings
from core.store import open_store
from fakegithub.deliveries import sign
from tests.support import SECRET, example, free_port, key_pair, retarget, serving


def relayed(delivery: str, *, body_text: str = "", **headers: str) -> bytes:
    """One ``data:`` line as smee.io streams a delivery (``headers`` override GitHub's)."""
    payload = retarget(example("issues.opened"), owner="o", repo="relayed")
    payload["issue"]["body"] = body_text
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    event = {
        "x-github-event": "issues",
        "x-github-delivery": delivery,
        "x-hub-signature-256": sign(raw, SECRET),
        "content-type": "application/json",
        **headers,
        "body": payload,
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


@contextlib.asynccontextmanager
async def relay_into_receiver(
    lines: list[bytes], redis_url: str, sqlite_url: str, tmp_path: Path, **options: Any
) -> AsyncIterator[tuple[list[Job], asyncio.Task[None]]]:
    """A relay streaming ``lines`` (then holding the stream open), the receiver, and the
    relay client between them; the receiver's jobs and the client's task."""
    done = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for line in lines:
            await resp.write(line)
        await done.wait()
        return resp

    relay_app = web.Application()
    relay_app.router.add_get("/channel", stream)
    relay_port, receiver_port = free_port(), free_port()
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=tmp_path / "none.env",
    ).with_overrides(redis_url=redis_url)
    jobs: list[Job] = []
    redis = aioredis.Redis.from_url(redis_url)
    receiver = build_web_app(settings, redis=redis, store=open_store(sqlite_url), send=jobs.append)
    source = f"http://127.0.0.1:{relay_port}/channel"
    target = f"http://127.0.0.1:{receiver_port}{settings.webhook_path}"
    async with serving(relay_app, relay_port), serving(receiver, receiver_port):
        task = asyncio.create_task(run_relay(source, target, **options))
        try:
            yield jobs, task
        finally:
            done.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await redis.aclose()


async def delivered(jobs: list[Job], delivery: str, task: asyncio.Task[None]) -> None:
    """Wait until ``delivery``'s jobs were queued (the relay client must stay up)."""
    for _ in range(150):
        if any(j.kwargs["delivery_id"] == delivery for j in jobs):
            return
        if task.done():
            raise AssertionError(f"the relay client stopped: {task.exception()!r}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"{delivery} never reached the receiver")


def ids(jobs: list[Job]) -> set[str]:
    return {str(j.kwargs["delivery_id"]) for j in jobs}


BIG, GOOD = str(uuid.uuid4()), str(uuid.uuid4())
BAD_EVENTS = {
    # 600 KiB on one line, over aiohttp's line buffer: a real delivery, forwarded whole.
    "600 KiB line": (relayed(BIG, body_text="x" * (600 * 1024)), {BIG}),
    "CR/LF in a header": (relayed("split", **{"x-github-event": "issues\r\nX-Injected: 1"}), set()),
    "CR/LF in a header name": (relayed("named", **{"x-bad\r\nx-injected": "1"}), set()),
    "not JSON": (b"data: {not json\n\n", set()),
    "not an object": (b"data: [1, 2]\n\n", set()),
}


@pytest.mark.parametrize(("line", "forwarded"), BAD_EVENTS.values(), ids=BAD_EVENTS.keys())
async def test_a_bad_event_is_skipped_and_logged_and_the_next_one_delivered(
    redis_url: str,
    sqlite_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    line: bytes,
    forwarded: set[str],
) -> None:
    good = str(uuid.uuid4())
    with caplog.at_level(logging.INFO, logger="steward.relay"):
        async with relay_into_receiver([line, relayed(good)], redis_url, sqlite_url, tmp_path) as (
            jobs,
            task,
        ):
            await delivered(jobs, good, task)
            assert not task.done()
    assert ids(jobs) == forwarded | {good}
    messages = [r.getMessage() for r in caplog.records]
    if not forwarded:
        assert any("skipped" in m for m in messages), messages
    assert not any("X-Injected" in m for m in messages)  # what was sent is not echoed


async def test_a_line_over_the_limit_is_skipped_without_holding_it(
    redis_url: str, sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    over, good = str(uuid.uuid4()), str(uuid.uuid4())
    lines = [
        b"event: ready\ndata: {}\n\n",
        relayed(over, body_text="y" * (200 * 1024)),  # over a 64 KiB limit
        b"data: " + b"z" * (300 * 1024),  # an over-long line that never ends its event...
        b"\n\n",
        relayed(good),  # ...and the next event after it
    ]
    with caplog.at_level(logging.WARNING, logger="steward.relay"):
        async with relay_into_receiver(
            lines, redis_url, sqlite_url, tmp_path, max_line=64 * 1024
        ) as (jobs, task):
            await delivered(jobs, good, task)
    assert ids(jobs) == {good}
    assert any("longer than" in r.getMessage() for r in caplog.records)
