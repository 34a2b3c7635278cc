"""The route task on a real Redis: a delivery the receiver kept becomes its feature tasks,
each in its installation's lane and class, once; what cannot be routed is refused here.

The receiver's side is tests/integration/test_receiver.py; the routing rules are the
same ``core/routing`` the job-sending receiver runs (its tests there, and the fuzzer).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from core import lanes
from core.deliveries import accepted, delivery_key
from core.settings import Settings, load_settings
from core.tasks import BACKGROUND, DEFAULT_QUEUE, INFERENCE_QUEUE, INTERACTIVE, RouteArgs
from tests.support import SECRET, example, free_port, key_pair, retarget, with_author
from workers import routing
from workers.routing import route_delivery


@dataclass
class Ctx:
    """What the route task reads: the worker's Redis client and settings."""

    redis: redis.Redis
    settings: Settings


@pytest.fixture
def ctx(redis_url: str) -> Iterator[Ctx]:
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=None,
    ).with_overrides(redis_url=redis_url, app_slug="steward")
    client = redis.Redis.from_url(redis_url)
    yield Ctx(client, settings)
    client.close()


async def run_route(ctx: Ctx, args: RouteArgs) -> dict[str, Any]:
    return route_delivery(ctx.redis, ctx.settings, args)


async def keep(ctx: Ctx, body: bytes) -> str:
    """What the receiver does: the body under a fresh delivery key."""
    delivery = str(uuid.uuid4())
    ctx.redis.set(delivery_key(delivery), body, ex=3600)
    return delivery


def first_issue(installation: int, login: str = "newbie") -> bytes:
    payload = retarget(example("issues.opened"), owner="o", repo="r", installation_id=installation)
    return json.dumps(with_author(payload, "issue", login, "NONE")).encode()


async def lane_tasks(ctx: Ctx, queue: str, priority: str, lane: int) -> list[str]:
    entries = ctx.redis.xrange(lanes.lane_key(queue, priority, str(lane)))
    return sorted(json.loads(fields[b"m"])["headers"]["task"] for _, fields in entries)


async def test_a_delivery_fans_out_into_its_lanes_once(ctx: Ctx) -> None:
    installation = 515_001
    delivery = await keep(ctx, first_issue(installation))
    args = RouteArgs(delivery_id=delivery, event="issues", installation_id=installation)
    result = await run_route(ctx, args)
    assert sorted(result["queued"]) == [
        "steward.duplicates",
        "steward.embed",
        "steward.first_response",
        "steward.issue_people",
        "steward.triage",
        "steward.welcome",
    ]
    assert await lane_tasks(ctx, DEFAULT_QUEUE, INTERACTIVE, installation) == ["steward.welcome"]
    assert await lane_tasks(ctx, INFERENCE_QUEUE, INTERACTIVE, installation) == [
        "steward.duplicates",
        "steward.issue_people",
        "steward.triage",
    ]
    assert await lane_tasks(ctx, DEFAULT_QUEUE, BACKGROUND, installation) == [
        "steward.first_response"
    ]
    assert await lane_tasks(ctx, INFERENCE_QUEUE, BACKGROUND, installation) == ["steward.embed"]
    # Routed: the body is gone, the key (what the recovery reads) stays with its TTL.
    assert ctx.redis.get(delivery_key(delivery)) == b"1"
    assert 0 < ctx.redis.ttl(delivery_key(delivery)) <= 3600
    recovery = aioredis.Redis.from_url(str(ctx.settings.redis_url))
    assert await accepted(recovery, [delivery]) == {delivery}
    await recovery.aclose()
    # The same message again (a killed worker's, claimed): nothing more is queued.
    assert await run_route(ctx, args) == {"skipped": "routed already", "queued": []}
    assert await lane_tasks(ctx, DEFAULT_QUEUE, INTERACTIVE, installation) == ["steward.welcome"]


async def test_the_lane_follows_the_parsed_installation(ctx: Ctx) -> None:
    """The edge's lane is a guess from the raw body; what the route queues is not."""
    delivery = await keep(ctx, first_issue(515_002))
    await run_route(ctx, RouteArgs(delivery_id=delivery, event="issues", installation_id=None))
    assert await lane_tasks(ctx, DEFAULT_QUEUE, INTERACTIVE, 515_002) == ["steward.welcome"]


@pytest.mark.parametrize(
    ("event", "body", "outcome"),
    [
        ("issues", first_issue(515_003, "dependabot[bot]"), "bot_sender"),
        ("issues", first_issue(515_003, "steward[bot]"), "bot_sender"),
        ("issues", b'{"action": "closed", "installation": {"id": 515003}}', "ignored"),
        ("issues", b"{not json", "malformed"),
        (
            "issues",
            b'{"action": "opened", "issue": 7, "installation": {"id": 515003}}',
            "bad_payload",
        ),
    ],
    ids=["another bot", "the App itself", "no handler", "not JSON", "an odd field"],
)
async def test_what_is_not_routed_says_why_and_drops_the_body(
    ctx: Ctx, event: str, body: bytes, outcome: str
) -> None:
    delivery = await keep(ctx, body)
    result: dict[str, Any] = await run_route(
        ctx, RouteArgs(delivery_id=delivery, event=event, installation_id=515_003)
    )
    assert result["outcome"] == outcome and isinstance(result["skipped"], str)
    assert ctx.redis.get(delivery_key(delivery)) == b"1"  # still a duplicate later
    for queue in (DEFAULT_QUEUE, INFERENCE_QUEUE):
        for priority in (INTERACTIVE, BACKGROUND):
            assert await lane_tasks(ctx, queue, priority, 515_003) == []


async def test_installation_events_from_bots_are_still_routed(ctx: Ctx) -> None:
    payload = example("installation.created")
    payload["installation"]["id"] = 515_004
    payload["sender"] = {"login": "renovate[bot]", "type": "Bot", "id": 9}
    delivery = await keep(ctx, json.dumps(payload).encode())
    result = await run_route(
        ctx, RouteArgs(delivery_id=delivery, event="installation", installation_id=515_004)
    )
    assert result["queued"] == ["steward.installation"]


async def test_a_body_gone_is_skipped(ctx: Ctx) -> None:
    result = await run_route(
        ctx, RouteArgs(delivery_id=str(uuid.uuid4()), event="issues", installation_id=1)
    )
    assert result == {"skipped": "the delivery's body is gone"}


def test_a_redis_error_retries_the_route_instead_of_dropping_it(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route that failed for Redis would leave an accepted delivery unrouted for good
    (the recovery sees its key): it is retried, without limit."""

    class Task:
        request = SimpleNamespace(retries=0)
        asked: tuple[float, int | None] | None = None

        def retry(self, *, countdown: float, max_retries: int | None) -> Exception:
            self.asked = (countdown, max_retries)
            return RuntimeError("retry")

    gone = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    monkeypatch.setattr(
        routing, "get_runtime", lambda: SimpleNamespace(redis=gone, settings=ctx.settings)
    )
    task = Task()
    kwargs = {"delivery_id": "d-1", "event": "issues", "installation_id": 1}
    with pytest.raises(RuntimeError, match="retry"):
        routing.route_task(task, kwargs)  # type: ignore[arg-type]
    assert task.asked is not None and task.asked[1] is None and task.asked[0] >= 1
    assert routing.route_task(task, {"event": 7}) == {  # type: ignore[arg-type]
        "rejected": "steward.route: event must be str, not 7"
    }
