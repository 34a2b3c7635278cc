"""Fault injection: 5xx, primary and secondary rate limits, dropped connections."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fakegithub.helpers import OWNER, REPO, Served

PATH = f"/repos/{OWNER}/{REPO}"


async def test_fail_next_answers_then_recovers(served: Served) -> None:
    served.fake.fail_next("GET", rf"^{PATH}$", status=502, times=2)
    statuses = [(await served.call("GET", PATH))[0] for _ in range(3)]
    assert statuses == [502, 502, 200]


async def test_primary_rate_limit(served: Served) -> None:
    served.fake.rate_limit_next("*", "/issues", reset_in=120)
    status, body, resp = await served.call("GET", f"{PATH}/issues")
    assert status == 403
    assert resp.headers["x-ratelimit-remaining"] == "0"
    reset = int(resp.headers["x-ratelimit-reset"])
    assert reset >= int(served.clock.now.timestamp()) + 119
    assert "rate limit" in body["message"]


@pytest.mark.parametrize("status", [403, 429])
async def test_secondary_rate_limit(served: Served, status: int) -> None:
    served.fake.secondary_rate_limit_next("POST", "/comments", retry_after=3, status=status)
    served.fake.add_issue(OWNER, REPO, title="t")
    got, body, resp = await served.call("POST", f"{PATH}/issues/1/comments", json={"body": "x"})
    assert (got, resp.headers["retry-after"]) == (status, "3")
    assert "secondary rate limit" in body["message"]
    assert served.fake.comment_bodies(OWNER, REPO, 1) == []


async def test_drop_connection(served: Served) -> None:
    # aiohttp retries an idempotent request once on a dropped connection, so a GET
    # needs two drops to surface; a POST is never retried.
    served.fake.add_issue(OWNER, REPO, title="t")
    served.fake.drop_connection_next("GET", PATH, times=2)
    served.fake.drop_connection_next("POST", "/comments")
    with pytest.raises(aiohttp.ClientError):
        await served.call("GET", PATH)
    with pytest.raises(aiohttp.ClientError):
        await served.call("POST", f"{PATH}/issues/1/comments", json={"body": "x"})
    assert served.fake.comment_bodies(OWNER, REPO, 1) == []
    status, _, _ = await served.call("GET", PATH)
    assert status == 200
