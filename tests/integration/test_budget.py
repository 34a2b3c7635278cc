"""The installation's request budget in Redis (``workers/budget.py``) against a fake
GitHub that enforces GitHub's limits: background work stops at the interactive
reserve while interactive work goes on; content creation, points a minute and requests
in flight are paced below GitHub's limits (and GitHub refuses the same load unpaced);
GraphQL's ``RATE_LIMITED`` is waited out; one process's refusal stops the others.

Each test has an installation of its own (its budget keys are nobody else's) on a fake
of its own, most on a clock that runs faster than the wall's.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import redis

from core.settings import Settings, load_settings
from fakegithub import FakeGitHub
from fakegithub.limits import FastClock, Limits
from tests.support import APP_ID, key_pair
from workers.budget import Budget, lane
from workers.github import GitHubClient, RateLimited
from workers.ratelimits import Observed, Request

pytestmark = pytest.mark.timeout(120)
ACCOUNT = "paced-org"
REPO = "widgets"


@dataclass
class World:
    """A fake GitHub enforcing ``limits``, served, with an installation of its own."""

    fake: FakeGitHub
    installation: int
    redis: redis.Redis
    session: aiohttp.ClientSession

    def settings(self, **env: str) -> Settings:
        return load_settings(
            {"REDIS_URL": "redis://unused", **env}, env_file=Path("/nonexistent"), receiver=False
        )

    def client(self, **options: float) -> GitHubClient:
        return GitHubClient(
            self.session,
            base_url=self.fake.urls.api,
            oauth_token=self.fake.mint_token(self.installation),
            installation_id=self.installation,
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url)
    yield made
    made.close()


@asynccontextmanager
async def world(client: redis.Redis, limits: Limits, *, speed: float = 1.0) -> AsyncIterator[World]:
    """A served fake on a clock ``speed`` times the wall's, enforcing ``limits``."""
    installation = 800_000 + uuid.uuid4().int % 99_999
    fake = FakeGitHub(clock=FastClock(speed), token_lifetime=timedelta(hours=speed), limits=limits)
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_repo(ACCOUNT, REPO)
    fake.add_issue(ACCOUNT, REPO, title="Where to start?")
    fake.add_installation(installation, ACCOUNT)
    try:
        async with fake.serve(), aiohttp.ClientSession() as session:
            yield World(fake, installation, client, session)
    finally:
        keys = list(client.scan_iter(f"{Budget.key(installation)}*"))
        if keys:
            client.delete(*keys)
    assert fake.violations == []


async def read(gh: GitHubClient) -> None:
    await gh.getitem(f"/repos/{ACCOUNT}/{REPO}")


async def comment(gh: GitHubClient, text: str) -> None:
    await gh.post(f"/repos/{ACCOUNT}/{REPO}/issues/1/comments", data={"body": text})


async def test_background_work_stops_at_the_reserve_and_interactive_work_goes_on(
    client: redis.Redis, redis_url: str
) -> None:
    async with world(client, Limits(core_per_hour=50)) as w:
        settings = w.settings(STEWARD_GITHUB_RESERVE="0.2")
        gh = w.client(max_rate_limit_wait=0.5)
        background = 0
        with lane(client, settings, background=True), pytest.raises(RateLimited) as stopped:
            while True:
                await read(gh)
                background += 1
        # GitHub said 10 of 50 remain: the reserve (20 %) is interactive work's.
        assert background == 40 and stopped.value.wait_seconds > 3000
        # Another process (its own connection) finds the same budget.
        other = Budget.of(redis.Redis.from_url(redis_url), settings)
        assert other is not None
        waits = other.try_acquire(w.installation, Request("core"), background=True, slot="x")
        assert waits is not None and waits[1] == "under the interactive reserve"
        with lane(client, settings, background=False):
            for _ in range(10):
                await read(gh)  # a welcome, a label: they still go through
            with pytest.raises(RateLimited):
                await read(gh)  # the hour is spent: it waits for the reset, not GitHub's 403
        assert w.fake.limiter.refusals == []


async def burst(gh: GitHubClient, count: int, *, width: int = 10) -> float:
    """``count`` comments, ``width`` at a time; the seconds it took."""
    started = time.monotonic()
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            await comment(gh, f"comment {queue.pop()}")

    await asyncio.gather(*(worker() for _ in range(width)))
    return time.monotonic() - started


async def test_content_creation_is_paced_under_githubs_limits(client: redis.Redis) -> None:
    speed = 120.0  # a GitHub minute is half a second, an hour 30 s
    async with world(client, Limits(), speed=speed) as w:
        settings = w.settings(STEWARD_GITHUB_CLOCK_SPEED=str(speed))
        with lane(client, settings, background=False):
            took = await burst(w.client(max_rate_limit_wait=30), 150)
        assert w.fake.limiter.refusals == []
        assert len(w.fake.comment_bodies(ACCOUNT, REPO, 1)) == 150
        # 150 comments at most 450 an hour after a burst of 45: about 105 / 450 hours.
        assert 105 / 450 * 3600 / speed * 0.8 <= took <= 60


async def test_unpaced_the_same_burst_is_refused_by_github(client: redis.Redis) -> None:
    speed = 120.0
    async with world(client, Limits(), speed=speed) as w:
        await burst(w.client(max_rate_limit_wait=30, retries=30), 150)  # no lane: no budget
        counts = w.fake.limiter.counts()
        assert counts["secondary"] > 0 and counts.get("secondary:content-minute", 0) > 0
        assert len(w.fake.comment_bodies(ACCOUNT, REPO, 1)) == 150  # retried after waits


async def test_requests_in_flight_are_capped_for_every_client(client: redis.Redis) -> None:
    async with world(client, Limits(concurrent=6)) as w:
        w.fake.latency = 0.05
        settings = w.settings(STEWARD_GITHUB_CONCURRENCY="6")
        clients = [w.client(), w.client()]  # two workers of one installation
        with lane(client, settings, background=False):
            await asyncio.gather(*(read(clients[n % 2]) for n in range(40)))
        assert w.fake.limiter.refusals == [] and w.fake.limiter.peak_inflight <= 6
        w.fake.limiter.peak_inflight = 0
        with lane(client, settings, background=True):  # background work: half of them
            await asyncio.gather(*(read(clients[n % 2]) for n in range(20)))
        assert w.fake.limiter.peak_inflight <= 3
        unpaced = [read(clients[n % 2]) for n in range(40)]
        with pytest.raises(Exception):  # noqa: B017 - GitHub refuses what is over the limit
            await asyncio.gather(*unpaced)
        assert w.fake.limiter.counts()["secondary:concurrency"] > 0


async def test_graphql_rate_limited_is_waited_out(client: redis.Redis) -> None:
    query = "query { viewer { login } }"
    async with world(client, Limits(graphql_points_per_hour=3), speed=3600) as w:
        gh = w.client(max_rate_limit_wait=5)
        endpoint = f"{w.fake.urls.api}/graphql"
        for _ in range(5):  # no lane: GitHub's RATE_LIMITED answer is waited out
            assert (await gh.graphql(query, endpoint=endpoint))["viewer"]["login"]
        refused = w.fake.limiter.counts()["primary:graphql"]
        assert refused >= 1
        settings = w.settings(STEWARD_GITHUB_CLOCK_SPEED="3600")
        with lane(client, settings, background=False):
            for _ in range(5):  # the budget knew the points were spent: it waited first
                assert (await gh.graphql(query, endpoint=endpoint))["viewer"]["login"]
        assert w.fake.limiter.counts()["primary:graphql"] <= refused + 1


async def test_one_process_refused_stops_the_others(client: redis.Redis, redis_url: str) -> None:
    settings = load_settings({}, env_file=Path("/nonexistent"), receiver=False)
    installation = 700_000 + uuid.uuid4().int % 99_999
    first = Budget.of(client, settings)
    second = Budget.of(redis.Redis.from_url(redis_url), settings)
    assert first is not None and second is not None
    try:
        seen = Observed("core", blocked_until=time.time() + 30, secondary=True)
        first.record(installation, seen)
        waits = second.try_acquire(installation, Request("graphql"), background=False, slot="s")
        assert waits is not None and 28 < waits[0] <= 30 and waits[1] == "GitHub asked to wait"
        reset = float(int(time.time()) + 60)
        first.record(installation, Observed("core", remaining=10, reset=reset))
        first.record(installation, Observed("core", remaining=3000, reset=reset))
        state = client.hgetall(f"{Budget.key(installation)}:primary:core")
        assert int(state[b"remaining"]) == 10  # an answer overtaken in transit counts less
        first.record(installation, Observed("core", remaining=4999, reset=reset + 3600))
        state = client.hgetall(f"{Budget.key(installation)}:primary:core")
        assert int(state[b"remaining"]) == 4999  # a new window
    finally:
        client.delete(*client.scan_iter(f"{Budget.key(installation)}*"))
