"""The acknowledgement's cost in Redis: one script per delivery, one message per delivery.

On a redis-server of this test's own (its command counters start at zero): a burst of
signed deliveries from several installations into the receiver ``steward serve`` runs
costs exactly one ``EVALSHA`` each (plus an ``EVAL`` for a call that found the script
not loaded yet) and no other command from the receiver; each leaves its body under its
delivery key and one ``steward.route`` message in its installation's lane; a redelivery
is one more script call that adds nothing; a refused delivery (bad signature, too large) costs Redis
nothing at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import ClientSession

from app.web import EdgeLimits, Receiver, StreamPublisher, create_app, default_router
from core import lanes
from core.deliveries import delivery_key
from core.settings import load_settings
from core.tasks import DEFAULT_QUEUE, INTERACTIVE
from tests.support import (
    SECRET,
    example,
    free_port,
    key_pair,
    private_redis,
    retarget,
    serving,
)

PATH = "/api/github/webhooks"


@pytest.fixture
def own_redis() -> Iterator[str]:
    """A redis-server of this test's own, so its command counters are this test's."""
    with private_redis() as (url, _):
        yield url


def delivery(installation: int, *, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    payload = retarget(
        example("issues.opened"), owner="o", repo="ack", installation_id=installation
    )
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (``INFO`` itself left out)."""
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if name not in ("cmdstat_info", "cmdstat_ping")
    }


async def test_one_script_and_one_message_per_delivery(own_redis: str) -> None:
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=None,
    ).with_overrides(redis_url=own_redis)
    client = aioredis.Redis.from_url(own_redis)
    publish = StreamPublisher(own_redis, 3600, client)
    receiver = Receiver(
        settings=settings,
        redis=client,
        publish=publish,
        router=default_router(),
        ready_checks={},
        limits=EdgeLimits(max_body=64 * 1024),
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    sent = [delivery(installation) for installation in (101, 102, 103) for _ in range(20)]
    async with serving(create_app(receiver), port), ClientSession() as session:

        async def post(body: bytes, headers: dict[str, str]) -> int:
            async with session.post(url, data=body, headers=headers) as resp:
                return resp.status

        # The first delivery alone: it finds the script not loaded yet (EVALSHA answers
        # NOSCRIPT, then EVAL loads it); the burst after it finds it loaded. (Sent all at
        # once, how many of the burst miss it depends only on the machine's speed.)
        statuses = [await post(*sent[0])]
        statuses += await asyncio.gather(*(post(body, headers) for body, headers in sent[1:]))
        again = await post(*sent[0])  # a redelivery
        forged = await post(*delivery(101, secret="not-it"))
        too_big = await post(b"{" + b" " * (64 * 1024) + b"}", delivery(101)[1])
    await publish.close()
    await client.aclose()

    assert statuses == [202] * 60 and (again, forged, too_big) == (200, 401, 413)
    sync = redis.Redis.from_url(own_redis)
    calls = commands(sync)
    # One script call per acknowledgement (a redelivery's included); ``EVAL`` once, for
    # the first, which found the script not loaded yet. Counted inside the script: two
    # XADDs a delivery (its lane, the bell), nothing for the redelivery.
    assert calls["evalsha"] == 61 and calls.get("eval", 0) == 1, calls
    assert calls["xadd"] == 2 * 60 and calls["set"] == 61, calls
    inside = {"set", "xadd", "sadd", "zscore", "zrange", "zadd", "xgroup|create"}
    assert set(calls) <= {"evalsha", "eval", "hello", *inside}, calls  # no parse, no routing
    for installation in (101, 102, 103):
        lane = lanes.lane_key(DEFAULT_QUEUE, INTERACTIVE, str(installation))
        messages = [json.loads(f[b"m"]) for _, f in sync.xrange(lane)]
        assert [m["headers"]["task"] for m in messages] == ["steward.route"] * 20
    for body, headers in sent:
        assert sync.get(delivery_key(headers["X-GitHub-Delivery"])) == body
    ring = sync.zrange(lanes.ring_key(DEFAULT_QUEUE, INTERACTIVE), 0, -1)
    assert sorted(ring) == [b"101", b"102", b"103"]  # each lane once, however long
