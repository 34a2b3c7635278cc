"""GitHub's rate limits in the fake: off unless asked; primary limits per installation
(REST requests, GraphQL points) with their window; secondary limits (requests in flight,
points a minute, content creation a minute and an hour) answered as GitHub answers them
and checked against GitHub's ``basic-error``; a clock that runs faster than the wall's.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import aiohttp
import pytest
from graphql import parse

from fakegithub import FakeGitHub
from fakegithub.limits import DOCS, FastClock, Limits, query_cost
from tests.fakegithub.helpers import INSTALLATION_ID, OWNER, REPO, Served, populate

PATH = f"/repos/{OWNER}/{REPO}"
HISTORY = """
query($owner: String!, $name: String!, $first: Int!) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    issues(first: $first) {
      nodes {
        number
        labels(first: 100) { nodes { name } }
        timelineItems(first: 100, itemTypes: [LABELED_EVENT]) { nodes { __typename } }
      }
    }
  }
}
"""


def assert_basic_error(fake: FakeGitHub, status: int, body: object) -> None:
    """The answer is a ``basic-error`` of GitHub's OpenAPI description."""
    assert fake.contract.check_error("GET", "/", status, body) == []
    assert fake.violations == []


async def test_the_limits_are_off_unless_a_test_asks(served: Served) -> None:
    for _ in range(12):
        status, _, resp = await served.call("GET", PATH)
        assert status == 200
    # counted, but the whole hour is said to remain: nothing would be refused
    assert (resp.headers["x-ratelimit-remaining"], resp.headers["x-ratelimit-used"]) == (
        "5000",
        "12",
    )
    assert served.fake.limiter.refusals == []


async def test_the_primary_rest_limit_is_answered_like_github(served: Served) -> None:
    with served.fake.limits_enforced(Limits(core_per_hour=3)) as limiter:
        remaining = []
        for _ in range(3):
            status, _, resp = await served.call("GET", PATH)
            remaining.append((status, resp.headers["x-ratelimit-remaining"]))
        status, body, resp = await served.call("GET", f"{PATH}/issues")
        assert remaining == [(200, "2"), (200, "1"), (200, "0")]
        assert status == 403
        assert body["message"] == f"API rate limit exceeded for installation ID {INSTALLATION_ID}."
        assert body["documentation_url"].startswith(DOCS)
        assert resp.headers["x-ratelimit-remaining"] == "0"
        reset = int(resp.headers["x-ratelimit-reset"])
        assert abs(reset - (served.clock.now.timestamp() + 3600)) <= 1
        assert_basic_error(served.fake, status, body)
        served.clock.advance(3600)  # the window is over (and the token with it)
        status, _, resp = await served.call(
            "GET", PATH, token=served.fake.mint_token(INSTALLATION_ID)
        )
        assert (status, resp.headers["x-ratelimit-remaining"]) == (200, "2")
        assert limiter.counts()["primary:core"] == 1


async def test_graphql_points_run_out_with_rate_limited_and_200(served: Served) -> None:
    with served.fake.limits_enforced(Limits(graphql_points_per_hour=5)):
        for _ in range(2):  # 2 points each: 100 issues with labels and timelines
            answer = await served.graphql(HISTORY, owner=OWNER, name=REPO, first=100)
            assert answer["data"]["rateLimit"]["cost"] == 2
        assert answer["data"]["rateLimit"]["remaining"] == 1
        status, body, resp = await served.call(
            "POST",
            "/graphql",
            json={"query": HISTORY, "variables": {"owner": OWNER, "name": REPO, "first": 100}},
        )
        assert status == 200 and "data" not in body
        (error,) = body["errors"]
        assert error["type"] == "RATE_LIMITED"
        assert error["message"] == f"API rate limit exceeded for installation ID {INSTALLATION_ID}."
        assert resp.headers["x-ratelimit-remaining"] == "0"
        answer = await served.graphql("{ viewer { login } }")  # 1 point still fits
        assert answer["data"]["viewer"]["login"] == "steward[bot]"


def test_a_querys_points_follow_githubs_rule() -> None:
    # 1 request for the issues, 100 for their labels, 100 for their timelines: 201 / 100.
    assert query_cost(parse(HISTORY), {"first": 100}) == (2, 20_100)
    assert query_cost(parse(HISTORY), {"first": 10}) == (1, 2_010)
    assert query_cost(parse("{ viewer { login } }"), None) == (1, 0)
    fragment = """
    query { repository(owner: "o", name: "r") { ...R } }
    fragment R on Repository {
      pullRequests(first: 100) { nodes { files(first: 100) { nodes { path } }
        labels(first: 100) { nodes { name } } timelineItems(first: 50) { nodes { __typename } } } }
    }
    """
    assert query_cost(parse(fragment), None) == (3, 100 + 3 * 100 * 100 - 100 * 50)


async def test_rest_points_a_minute_are_a_secondary_limit(served: Served) -> None:
    served.fake.add_issue(OWNER, REPO, title="t")
    limits = Limits(rest_points_per_minute=12, content_per_minute=100)
    with served.fake.limits_enforced(limits) as limiter:
        # A comment (a write) is 5 points, a read 1: 5 + 5 + 1 + 1 = 12.
        for _ in range(2):
            status, _, _ = await served.call(
                "POST", f"{PATH}/issues/1/comments", json={"body": "x"}
            )
            assert status == 201
        for _ in range(2):
            assert (await served.call("GET", PATH))[0] == 200
        status, body, resp = await served.call("GET", PATH)
        assert status == 403
        assert body["message"].startswith("You have exceeded a secondary rate limit.")
        assert body["documentation_url"] == f"{DOCS}#about-secondary-rate-limits"
        assert 1 <= int(resp.headers["retry-after"]) <= 60
        assert_basic_error(served.fake, status, body)
        served.clock.advance(61)
        assert (await served.call("GET", PATH))[0] == 200
        assert limiter.counts()["secondary:rest-points"] == 1


async def test_content_creation_is_limited_a_minute_and_an_hour(served: Served) -> None:
    served.fake.add_issue(OWNER, REPO, title="t")
    comment = {"body": "hello"}
    limits = Limits(content_per_minute=2, content_per_hour=3, secondary_status=429)
    with served.fake.limits_enforced(limits) as limiter:
        made = [(await served.call("POST", f"{PATH}/issues/1/comments", json=comment))[0]]
        made.append((await served.call("POST", f"{PATH}/issues/1/comments", json=comment))[0])
        status, _, minute = await served.call("POST", f"{PATH}/issues/1/comments", json=comment)
        served.clock.advance(61)
        made.append((await served.call("POST", f"{PATH}/issues/1/comments", json=comment))[0])
        served.clock.advance(61)
        late, _, hour = await served.call("POST", f"{PATH}/issues/1/comments", json=comment)
        assert (made, status, late) == ([201, 201, 201], 429, 429)
        assert int(minute.headers["retry-after"]) <= 60
        assert 3000 < int(hour.headers["retry-after"]) <= 3600 - 122 + 1
        assert (await served.call("GET", PATH))[0] == 200  # reading is no content
        counts = limiter.counts()
        assert (counts["secondary:content-minute"], counts["secondary:content-hour"]) == (1, 1)
    assert len(served.fake.comment_bodies(OWNER, REPO, 1)) == 3


async def test_requests_in_flight_are_limited(served: Served) -> None:
    served.fake.latency = 0.2
    try:
        with served.fake.limits_enforced(Limits(concurrent=2)) as limiter:
            answers = await asyncio.gather(*(served.call("GET", PATH) for _ in range(5)))
    finally:
        served.fake.latency = 0.0
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200, 200, 403, 403, 403]
    assert limiter.counts()["secondary:concurrency"] == 3 and limiter.peak_inflight == 5


async def test_a_not_modified_answer_is_not_counted(served: Served) -> None:
    _, _, first = await served.call("GET", PATH)
    used = int(first.headers["x-ratelimit-used"])
    status, _, again = await served.call(
        "GET", PATH, headers={"If-None-Match": first.headers["ETag"]}
    )
    assert status == 304 and int(again.headers["x-ratelimit-used"]) == used


async def test_the_rate_limit_endpoint_shows_the_windows(served: Served) -> None:
    await served.graphql(HISTORY, owner=OWNER, name=REPO, first=100)
    status, body, _ = await served.call("GET", "/rate_limit")
    assert status == 200 and served.fake.violations == []  # the response schema holds
    assert body["resources"]["graphql"]["used"] == 2
    assert body["rate"] == body["resources"]["core"]


async def test_a_fast_clock_makes_github_hours_pass_in_seconds() -> None:
    clock = FastClock(speed=3600)  # an hour a second
    fake = FakeGitHub(
        clock=clock, token_lifetime=timedelta(hours=3600), limits=Limits(core_per_hour=2)
    )
    populate(fake)
    token = fake.mint_token(INSTALLATION_ID)
    async with fake.serve() as base, aiohttp.ClientSession() as session:
        headers = {"Authorization": f"token {token}"}

        async def get() -> aiohttp.ClientResponse:
            async with session.get(base + PATH, headers=headers) as resp:
                await resp.read()
                return resp

        assert [(await get()).status for _ in range(2)] == [200, 200]
        refused = await get()
        reset = int(refused.headers["x-ratelimit-reset"])
        # The reset is on the wall clock, about a second away, however fast the fake runs.
        assert refused.status == 403 and time.time() - 1 <= reset <= time.time() + 2
        await asyncio.sleep(max(0.0, reset - time.time()) + 0.1)
        assert (await get()).status == 200
    assert clock.hours_since_start() > 1


@pytest.mark.parametrize("speed", [0, -1])
def test_a_clock_runs_forwards(speed: float) -> None:
    with pytest.raises(ValueError):
        FastClock(speed)
