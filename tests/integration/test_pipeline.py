"""The receiver's pipelined Redis connection, against a real Redis (its address parsing
and command encoding: tests/unit/test_pipeline.py)."""

from __future__ import annotations

import asyncio

import pytest
import redis as sync_redis

from app.pipeline import PipelinedRedis, RedisReplyError
from tests.support import unique


async def test_concurrent_calls_get_their_own_replies(redis_url: str) -> None:
    client = PipelinedRedis(redis_url)
    prefix = unique("pipe")
    try:
        keys = [f"{prefix}:{i}" for i in range(200)]
        await asyncio.gather(*(client.call("SET", k, i) for i, k in enumerate(keys)))
        got = await asyncio.gather(*(client.call("GET", k) for k in keys))
        assert got == [str(i).encode() for i in range(200)]
        with pytest.raises(RedisReplyError, match="wrong number"):
            await client.call("GET")
        assert await client.call("EXISTS", keys[0]) == 1  # still in step after an error
    finally:
        sync_redis.Redis.from_url(redis_url).delete(*keys)
        await client.close()


async def test_scripts_load_themselves_and_a_lost_connection_recovers(redis_url: str) -> None:
    client = PipelinedRedis(redis_url)
    script = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
    key = unique("pipe-script")
    admin = sync_redis.Redis.from_url(redis_url)
    try:
        admin.script_flush()  # NOSCRIPT on the first EVALSHA
        assert await client.evalsha(script, [key], [2]) == 2
        assert await client.evalsha(script, [key], [3]) == 5
        admin.client_kill_filter(_id=await client.call("CLIENT", "ID"))  # cut this one
        with pytest.raises(ConnectionError):
            for _ in range(3):  # the loss shows on the next call or the one after
                await client.evalsha(script, [key], [1])
                await asyncio.sleep(0.1)
        assert int(await client.evalsha(script, [key], [10])) >= 15  # reconnected
    finally:
        admin.delete(key)
        await client.close()
