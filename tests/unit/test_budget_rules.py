"""The request budget's pure rules (``workers/ratelimits.py``, ``workers/budget.py``):
what a request spends, what an answer says of the limits, how fast the token buckets
let requests through, which tasks are background work, and the settings."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from core import tasks as contracts
from core.settings import SettingsError, load_settings
from workers.budget import is_background
from workers.ratelimits import (
    MARGIN,
    SECONDARY,
    Policy,
    Rate,
    Request,
    classify,
    graphql_operation,
    graphql_rate_limited,
    observe,
    refusal_wait,
)

NOW = 1_700_000_000.0
QUERY = json.dumps({"query": "query { viewer { login } }"}).encode()
MUTATION = json.dumps({"query": "# add one\nmutation { addReaction { x } }"}).encode()


@pytest.mark.parametrize(
    ("method", "url", "body", "expected"),
    [
        ("GET", "https://api.github.com/repos/o/r/issues?page=2", b"", Request("core")),
        ("POST", "/repos/o/r/issues/1/comments", b"{}", Request("core", 1, 5, content=True)),
        ("PATCH", "/repos/o/r/issues/comments/9", b"{}", Request("core", 1, 5, content=True)),
        ("DELETE", "/repos/o/r/issues/1/labels/bug", b"", Request("core", 1, 5)),
        ("GET", "/search/issues?q=x", b"", Request("search")),
        ("POST", "https://api.github.com/graphql", QUERY, Request("graphql")),
        ("POST", "https://ghe.example/api/graphql", MUTATION, Request("graphql", 1, 5, True)),
    ],
)
def test_what_a_request_spends(method: str, url: str, body: bytes, expected: Request) -> None:
    assert classify(method, url, body) == expected


def test_a_graphql_body_is_a_query_unless_it_says_mutation() -> None:
    assert graphql_operation(MUTATION) == "mutation"
    assert graphql_operation(QUERY) == "query"
    assert graphql_operation(b"not json") == "query"


def rate_limited(kind: str) -> bytes:
    return json.dumps({"errors": [{"type": kind, "message": "API rate limit exceeded"}]}).encode()


SECONDARY_BODY = b'{"message": "You have exceeded a secondary rate limit. Please wait."}'


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, {"x-ratelimit-remaining": "10"}, b"{}", (None, False)),
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 30)},
            b"",
            (31.0, False),
        ),
        (403, {"retry-after": "7"}, SECONDARY_BODY, (7.0, True)),
        (429, {"Retry-After": "3"}, b"", (3.0, True)),
        (403, {}, SECONDARY_BODY, (60.0, True)),
        (429, {}, b"", (60.0, True)),
        (
            403,
            {"x-ratelimit-remaining": "41"},
            b'{"message": "Resource not accessible"}',
            (None, False),
        ),
        (200, {"x-ratelimit-reset": str(NOW + 9)}, rate_limited("RATE_LIMITED"), (10.0, False)),
        (200, {}, rate_limited("RATE_LIMIT"), (60.0, False)),
        (200, {}, rate_limited("NOT_FOUND"), (None, False)),
    ],
)
def test_what_a_refusal_asks(
    status: int, headers: dict[str, str], body: bytes, expected: tuple[float | None, bool]
) -> None:
    assert refusal_wait(status, headers, body, now=NOW) == expected


def test_graphql_rate_limited_only_with_200_and_the_type() -> None:
    assert graphql_rate_limited(200, rate_limited("RATE_LIMITED"))
    assert not graphql_rate_limited(502, rate_limited("RATE_LIMITED"))
    assert not graphql_rate_limited(200, b'{"data": {"RATE_LIMITED": 1}}')


def test_an_answer_tells_what_remains() -> None:
    headers = {
        "X-RateLimit-Remaining": "4321",
        "X-RateLimit-Reset": str(int(NOW) + 600),
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Resource": "core",
    }
    seen = observe(Request("core"), 200, headers, body=b"[]", now=NOW)
    assert (seen.resource, seen.remaining, seen.reset, seen.limit) == (
        "core",
        4321,
        NOW + 600,
        5000,
    )
    assert seen.blocked_until is None
    body = json.dumps(
        {
            "data": {
                "rateLimit": {
                    "cost": 2,
                    "remaining": 4990,
                    "limit": 5000,
                    "resetAt": "2023-11-14T23:00:00Z",
                }
            }
        }
    ).encode()
    graphql = observe(Request("graphql"), 200, {}, body=body, now=NOW)
    assert (graphql.remaining, graphql.cost, graphql.reset) == (4990, 2, 1_700_002_800.0)
    refused = observe(
        Request("core", 1, 5, True), 403, {"retry-after": "5"}, body=SECONDARY_BODY, now=NOW
    )
    assert (refused.blocked_until, refused.secondary) == (NOW + 5, True)


def admitted_in_windows(
    rate: Rate, *, largest: int, background: bool, seed: int
) -> list[tuple[float, int]]:
    """A greedy client's admissions under the bucket (the Lua script's rule), each
    request of 1 point or (sometimes) ``largest``."""
    rng = random.Random(seed)
    now, tat, sent = 0.0, 0.0, []
    while now < 5 * rate.window:
        points = rng.choice((1, 1, 1, largest))
        booked = max(tat, now)
        if booked - now <= rate.tolerance(background=background):
            tat = booked + points * rate.interval
            sent.append((now, points))
        now += rng.uniform(0, rate.interval / 3)
    return sent


@pytest.mark.parametrize("name", sorted(SECONDARY))
@pytest.mark.parametrize("background", [False, True])
def test_no_window_of_a_paced_client_exceeds_the_limit(name: str, background: bool) -> None:
    limit, window, largest = SECONDARY[name]
    rate = Policy(speed=60).rate(name)
    assert rate.window == window / 60
    sent = admitted_in_windows(rate, largest=largest, background=background, seed=len(name))
    most = max(
        sum(n for when, n in sent if start <= when <= start + rate.window) for start, _ in sent
    )
    assert most <= int(limit * MARGIN)
    assert most >= int(limit * MARGIN * 0.8)  # and it is not much slower than that


def test_background_work_leaves_half_the_burst_and_half_the_slots() -> None:
    rate = Rate.paced(900, 60.0, largest=5)
    assert rate.tolerance(background=True) == rate.tolerance(background=False) / 2
    assert (Policy(concurrency=20).slots(background=True), Policy().slots(background=False)) == (
        10,
        20,
    )


@pytest.mark.parametrize(
    ("task", "background"),
    [
        (contracts.BOOTSTRAP, True),
        (contracts.BACKFILL, True),
        (contracts.INDEX, True),
        (contracts.DIGEST, True),
        (contracts.RETRAIN, True),
        (contracts.WELCOME, False),
        (contracts.COMMAND, False),
        (contracts.TRIAGE, False),
        (contracts.REVIEWERS, False),
    ],
)
def test_the_lane_comes_from_the_task(task: contracts.Task[contracts.A], background: bool) -> None:
    assert is_background(task.name) is background
    assert (task.priority == contracts.BACKGROUND) is background
    assert is_background("steward.unknown") is False


def test_pacing_settings() -> None:
    defaults = load_settings({}, env_file=Path("/nonexistent"), receiver=False)
    assert (defaults.github_pacing, defaults.github_reserve) == (True, 0.2)
    assert (defaults.github_concurrency, defaults.github_clock_speed) == (20, 1.0)
    chosen = load_settings(
        {
            "STEWARD_GITHUB_PACING": "off",
            "STEWARD_GITHUB_RESERVE": "0.3",
            "STEWARD_GITHUB_CONCURRENCY": "8",
            "STEWARD_GITHUB_CLOCK_SPEED": "360",
        },
        env_file=Path("/nonexistent"),
        receiver=False,
    )
    assert Policy.from_settings(chosen) == Policy(reserve=0.3, concurrency=8, speed=360.0)
    assert chosen.github_pacing is False
    for name, value in (
        ("STEWARD_GITHUB_RESERVE", "1"),
        ("STEWARD_GITHUB_RESERVE", "lots"),
        ("STEWARD_GITHUB_CONCURRENCY", "1"),
        ("STEWARD_GITHUB_CLOCK_SPEED", "0"),
    ):
        with pytest.raises(SettingsError, match=name):
            load_settings({name: value}, env_file=Path("/nonexistent"), receiver=False)
