"""Development through a webhook relay (``WEBHOOK_PROXY_URL``): the relay's event stream
is read, each delivery is POSTed to the local receiver with GitHub's headers, and its
signature still matches. The relay is a local server speaking smee.io's event stream.
The event-stream parser and the relay URL's settings: tests/unit/test_relay.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from app.relay import run_relay
from app.routes import Job
from app.server import build_web_app
from core.settings import load_settings
from core.store import open_store
from fakegithub.deliveries import sign
from tests.support import SECRET, example, free_port, key_pair, retarget, serving


def relayed(payload: dict[str, Any], delivery: str) -> str:
    """A delivery as smee.io streams it: GitHub's headers as keys, the payload as body."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    event = {
        "x-github-event": "issues",
        "x-github-delivery": delivery,
        "x-hub-signature-256": sign(body, SECRET),
        "content-type": "application/json",
        "host": "smee.io",
        "body": payload,
        "query": {},
        "timestamp": 1764700000000,
    }
    return json.dumps(event)


async def test_deliveries_from_the_relay_reach_the_receiver(
    redis_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    payload = retarget(example("issues.opened"), owner="o", repo="relayed")
    payload["issue"]["title"] = "Ünïcode survives the relay: ✓"
    delivery = str(uuid.uuid4())
    # A later delivery: the relay forwards one at a time, in order, so once the receiver
    # has queued this one's jobs it has answered the duplicate before it.
    marker = str(uuid.uuid4())
    done = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"event: ready\ndata: {}\n\n: keep-alive\n\n")
        for relayed_id in (delivery, delivery, marker):  # the second is a duplicate
            await resp.write(f"data: {relayed(payload, relayed_id)}\n\n".encode())
        await done.wait()  # the relay keeps the stream open
        return resp

    relay_app = web.Application()
    relay_app.router.add_get("/abc123", stream)
    relay_port, receiver_port = free_port(), free_port()
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=tmp_path / "none.env",
    ).with_overrides(redis_url=redis_url)
    jobs: list[Job] = []
    redis = aioredis.Redis.from_url(redis_url)
    receiver = build_web_app(settings, redis=redis, store=open_store(sqlite_url), send=jobs.append)
    target = f"http://127.0.0.1:{receiver_port}{settings.webhook_path}"
    async with serving(relay_app, relay_port), serving(receiver, receiver_port):
        task = asyncio.create_task(run_relay(f"http://127.0.0.1:{relay_port}/abc123", target))
        try:
            for _ in range(100):
                if sum(j.kwargs["delivery_id"] == marker for j in jobs) >= 6:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the relay did not forward the later delivery: {jobs}")
        finally:
            done.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await redis.aclose()
    expected = [
        "steward.duplicates",
        "steward.embed",
        "steward.first_response",
        "steward.issue_people",
        "steward.triage",
        "steward.welcome",
    ]
    assert sorted(j.task for j in jobs if j.kwargs["delivery_id"] == delivery) == expected
    assert sorted(j.task for j in jobs if j.kwargs["delivery_id"] == marker) == expected
    assert len(jobs) == 12  # the duplicate queued nothing
