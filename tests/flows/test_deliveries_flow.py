"""The recovery of missed deliveries in-process, against the fake GitHub's Hookshot.

The fake sends each delivery to a small receiver standing in for ``steward serve``
(it remembers the delivery id under Steward's own key and answers 202) or, while
"Steward is down", to a port nobody listens on. Each test then runs the recovery the
way the periodic task does (a fresh task context per run, the real Redis, the App's
JWT against the fake's delivery log) and checks what GitHub was asked and what the
receiver got.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from core.deliveries import delivery_key
from core.tasks import NoArgs
from fakegithub.fake import FakeGitHub
from tests.flows.conftest import Flows
from tests.support import ORG, SECRET, example, free_port, retarget, serving
from workers.deliveries.decide import RecoveryPolicy
from workers.deliveries.flow import (
    LOCK_KEY,
    MARK_KEY,
    DeliveryLog,
    RecoverOptions,
    Recovery,
    asked_key,
    claim,
    read_mark,
    recover,
    run_recover_deliveries,
)

#: No pause between asks, so the tests do not wait.
FAST = RecoveryPolicy(per_second=0)
ATTEMPTS = r"^/app/hook/deliveries/\d+/attempts$"


def seconds(moment: datetime) -> datetime:
    """A time as GitHub's log shows it (whole seconds)."""
    return moment.replace(microsecond=0)


@dataclass
class World:
    """The fake's Hookshot, a receiver standing in for Steward, and the flows."""

    flows: Flows
    fake: FakeGitHub
    redis: aioredis.Redis
    url: str
    received: list[str] = field(default_factory=list)

    def down(self) -> None:
        """Steward is down: nothing listens at the webhook URL."""
        self.fake.hooks.configure(f"http://127.0.0.1:{free_port()}/hook", SECRET)

    def up(self) -> None:
        """Steward is back."""
        self.fake.hooks.configure(self.url, SECRET)

    async def send(self, count: int) -> list[str]:
        """``count`` issues.opened deliveries; their guids, oldest first."""
        guids = []
        for number in range(1, count + 1):
            payload = retarget(example("issues.opened"), owner=ORG, repo="recover")
            payload["issue"]["number"] = number
            guid = str(uuid.uuid4())
            await self.fake.hooks.deliver("issues", payload, guid=guid)
            guids.append(guid)
        return guids

    async def run(self, policy: RecoveryPolicy = FAST, **options: Any) -> Recovery:
        """One recovery run, as the periodic task makes it (plus ``options``)."""
        async with self.flows.runtime.task_context() as ctx:
            log = DeliveryLog.open(ctx.session, ctx.settings, ctx.redis)
            return await recover(
                ctx.redis,
                log,
                ttl=ctx.settings.delivery_ttl,
                options=RecoverOptions(**options),
                policy=policy,
            )

    async def settle(self) -> None:
        """Wait until the redeliveries GitHub was asked for have been sent."""
        for _ in range(500):
            if self.fake.hooks.idle():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("redeliveries still in flight")

    def asks(self) -> list[str]:
        """The guids GitHub was asked to redeliver during this test, in order."""
        ids = [int(r.path.split("/")[4]) for r in self.flows.requests("POST", ATTEMPTS)]
        return [d.guid for i in ids for d in self.fake.hooks.deliveries if d.id == i]


@pytest.fixture
async def world(flows: Flows, fake: FakeGitHub, redis_url: str) -> AsyncIterator[World]:
    client = aioredis.Redis.from_url(redis_url)
    await client.delete(MARK_KEY, LOCK_KEY)
    fake.hooks.clear()
    port = free_port()
    made = World(flows, fake, client, f"http://127.0.0.1:{port}/hook")

    async def receive(request: web.Request) -> web.Response:
        guid = request.headers["X-GitHub-Delivery"]
        made.received.append(guid)
        await client.set(delivery_key(guid), "1", nx=True, ex=600)
        return web.json_response({"queued": ["steward.welcome"]}, status=202)

    app = web.Application()
    app.router.add_post("/hook", receive)
    async with serving(app, port):
        yield made
    fake.hooks.clear()
    await client.delete(MARK_KEY)
    await client.aclose()


async def test_missed_deliveries_come_back_once(world: World) -> None:
    world.down()
    guids = await world.send(3)
    world.up()

    # The newest attempt failed to connect: the receiver looks down, so one probe first.
    first = await world.run()
    assert (first.plan.receiver_down, first.asked) == (True, guids[:1])
    await world.settle()
    second = await world.run()
    assert (second.plan.receiver_down, second.asked) == (False, guids[1:])
    await world.settle()
    third = await world.run()

    assert third.asked == [] and third.plan.counts() == {"delivered": 3}
    assert world.received == guids  # each once, oldest first
    assert world.asks() == guids
    for guid in guids:
        failed, again = world.fake.hooks.attempts(guid)
        assert (failed.status_code, again.status_code, again.redelivery) == (0, 202, True)
        assert 0 < await world.redis.ttl(asked_key(guid)) <= world.flows.settings.delivery_ttl
    newest = max(d.delivered_at for d in world.fake.hooks.deliveries)
    assert await read_mark(world.redis) == seconds(newest)


async def test_what_steward_has_is_left_alone(world: World) -> None:
    world.up()
    (delivered,) = await world.send(1)
    world.down()
    (lost, accepted) = await world.send(2)
    await world.redis.set(delivery_key(accepted), "1", ex=60)  # answered after the timeout
    world.up()

    await world.redis.set(LOCK_KEY, "a run of the job", ex=30)
    done = await world.run(dry_run=True)  # only reads: no lock needed
    verdicts = {v.guid: v.verdict for v in done.plan.verdicts}
    assert verdicts == {delivered: "delivered", lost: "redeliver", accepted: "accepted"}
    assert done.asked == [] and world.asks() == [] and await read_mark(world.redis) is None

    assert (await world.run(no_probe=True)).skipped == "another recovery run holds the lock"
    await world.redis.delete(LOCK_KEY)
    done = await world.run(no_probe=True)
    await world.settle()
    assert done.asked == [lost] and world.received == [delivered, lost]


async def test_github_trouble_ends_the_run_and_the_next_one_resumes(world: World) -> None:
    world.down()
    guids = await world.send(3)
    world.up()

    world.fake.fail_next("GET", r"^/app/hook/deliveries$", status=502, times=2)
    done = await world.run(no_probe=True)
    assert done.stopped and "reading the delivery log" in done.stopped
    assert done.asked == [] and await read_mark(world.redis) is None

    world.fake.rate_limit_next("POST", ATTEMPTS, reset_in=3600)
    done = await world.run(no_probe=True)
    assert done.stopped and done.asked == []
    assert await world.redis.hgetall(asked_key(guids[0])) == {}  # the claim is given back
    assert await read_mark(world.redis) == seconds(
        world.fake.hooks.attempts(guids[0])[0].delivered_at
    )

    done = await world.run(no_probe=True)
    await world.settle()
    assert (done.stopped, done.asked, world.received) == (None, guids, guids)


async def test_two_runs_at_once_ask_once(world: World) -> None:
    world.down()
    guids = await world.send(3)
    world.up()
    # Another worker asked for the oldest delivery a moment ago; it is not asked again.
    record = {"id": 1, "at": datetime.now(UTC).isoformat()}
    assert await claim(world.redis, guids[0], 1, record=record, ttl=60)
    assert not await claim(world.redis, guids[0], 1, record=record, ttl=60)

    runs = await asyncio.gather(world.run(no_probe=True), world.run(no_probe=True))
    await world.settle()

    assert sorted(r.skipped or "" for r in runs) == ["", "another recovery run holds the lock"]
    assert [g for r in runs for g in r.asked] == guids[1:]
    assert world.asks() == guids[1:] and world.received == guids[1:]


async def test_a_redelivery_that_fails_again_is_asked_again_then_given_up(world: World) -> None:
    world.down()
    (guid,) = await world.send(1)
    policy = RecoveryPolicy(per_second=0, max_asks=2, retry_after=(timedelta(0),))

    for expected in (["redeliver"], ["redeliver"], ["gave up"]):
        done = await world.run(policy, no_probe=True)
        assert [v.verdict for v in done.plan.verdicts] == expected
        await world.settle()

    assert world.asks() == [guid, guid]
    assert [d.status_code for d in world.fake.hooks.attempts(guid)] == [0, 0, 0]
    assert world.received == []


async def test_a_run_asks_for_at_most_its_limit_and_the_next_run_for_the_rest(
    world: World,
) -> None:
    world.down()
    guids = await world.send(3)
    world.up()

    done = await world.run(limit=2, no_probe=True)
    assert done.asked == guids[:2] and done.plan.counts()["deferred"] == 1
    assert await read_mark(world.redis) == seconds(
        world.fake.hooks.attempts(guids[2])[0].delivered_at
    )
    await world.settle()
    done = await world.run(limit=2, no_probe=True)
    await world.settle()
    assert done.asked == guids[2:] and world.received == guids


async def test_the_periodic_task_reads_the_log_as_the_app(world: World) -> None:
    world.up()
    await world.send(2)
    result = await world.flows.run(run_recover_deliveries, NoArgs())
    assert result["counts"] == {"delivered": 2} and result["redelivered"] == []
    (listing,) = world.flows.requests("GET", r"^/app/hook/deliveries$")
    assert listing.query == {"per_page": "100"} and listing.status == 200
