"""The effect lock: renewed while held, freed soon after a holder dies, and a holder
that lost it does not act (and is not failed for work it already did).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from core.settings import Settings
from core.store import Store
from tests.flows.conftest import Outbox
from tests.support import unique
from workers.runtime import LockLost, Runtime

TTL = 0.6


@pytest.fixture
def short_locks(settings: Settings, store: Store, redis_url: str) -> Iterator[Runtime]:
    client = redis.Redis.from_url(redis_url)
    quick = settings.with_overrides(lock_timeout=TTL)
    yield Runtime(settings=quick, store=store, redis=client, send=Outbox())
    client.close()


async def test_a_holder_keeps_its_lock_past_the_time_to_live(short_locks: Runtime) -> None:
    key = unique("effect")
    async with short_locks.task_context() as ctx, ctx.lock(key) as held:
        await asyncio.sleep(TTL * 3)  # a long GitHub wait inside the lock
        await held.check()  # still ours
        other = ctx.redis.lock(f"steward:lock:{key}", timeout=TTL)
        assert not await other.acquire(blocking=False)


async def test_a_lost_lock_stops_the_holder_before_it_acts(short_locks: Runtime) -> None:
    key = unique("effect")
    async with short_locks.task_context() as ctx, ctx.lock(key) as held:
        await ctx.redis.delete(f"steward:lock:{key}")  # expired while the process stalled
        with pytest.raises(LockLost):
            await held.check()
        # and leaving the block (the release finds nothing) raises nothing


async def test_a_dead_holders_lock_frees_within_its_time_to_live(short_locks: Runtime) -> None:
    key = unique("effect")
    async with short_locks.task_context() as ctx:
        dead = ctx.redis.lock(f"steward:lock:{key}", timeout=TTL)
        assert await dead.acquire(blocking=False)  # taken, never renewed, never released
        started = asyncio.get_running_loop().time()
        async with ctx.lock(key) as held:
            await held.check()
        assert asyncio.get_running_loop().time() - started < TTL * 3
