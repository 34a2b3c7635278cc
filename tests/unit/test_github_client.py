"""Pure retry decisions of the GitHub client and token-cache arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import pytest

from workers.auth import cache_ttl
from workers.github import backoff_delay, graphql_endpoint, rate_limit_wait

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (200, {}, b"", None),
        (404, {}, b"", None),
        (403, {}, b'{"message":"Resource not accessible by integration"}', None),
        (403, {"Retry-After": "7"}, b"", 7.0),
        (429, {"retry-after": "30"}, b"", 30.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 42)}, b"", 43.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}, b"", 1.0),
        (403, {}, b'{"message":"You have exceeded a secondary rate limit."}', 60.0),
        (429, {}, b"", 60.0),
    ],
)
def test_rate_limit_wait(
    status: int, headers: dict[str, str], body: bytes, expected: float | None
) -> None:
    assert rate_limit_wait(status, headers, body, now=NOW) == expected


def test_backoff_is_bounded_and_grows() -> None:
    assert all(0 <= backoff_delay(a, base=1, cap=8) <= min(8, 2**a) for a in range(10))


@pytest.mark.parametrize(
    ("api", "graphql"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/graphql"),
    ],
)
def test_graphql_endpoint(api: str, graphql: str) -> None:
    assert graphql_endpoint(api) == graphql


def test_token_cached_until_shortly_before_expiry() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert cache_ttl("2026-01-01T13:00:00Z", now=now) == 3600 - 300
    assert cache_ttl("2026-01-01T12:04:00Z", now=now) < 0


def _refused(host: str, port: int, error: OSError, *, dns: bool = False) -> Exception:
    """The connector error aiohttp raises for ``host:port``."""
    from aiohttp.client_reqrep import ConnectionKey

    key = ConnectionKey(host, port, True, True, None, None, None)
    kind = aiohttp.ClientConnectorDNSError if dns else aiohttp.ClientConnectorError
    return kind(key, error)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            _refused("api.github.com", 443, OSError(-2, "unknown"), dns=True),
            "cannot resolve api.github.com: check the network or GITHUB_API_URL / GHE_HOST",
        ),
        (
            _refused("ghe.local", 8443, OSError(111, "Connection refused")),
            "cannot connect to ghe.local:8443 (Connection refused)",
        ),
        (TimeoutError(), "timed out"),
    ],
)
def test_connection_errors_are_described_for_people(exc: BaseException, expected: str) -> None:
    from workers.github import describe_connection_error

    assert describe_connection_error(exc) == expected
