"""The GitHub client: gidgethub over aiohttp with retries, rate limits and token refresh.

All request logic stays in gidgethub; this module only decides, per response, whether
to wait and try again (5xx, connection errors, primary and secondary rate limits) and
refreshes an installation token that GitHub refused.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from gidgethub import aiohttp as gh_aiohttp
from gidgethub.abc import GitHubAPI

from core.metrics import record_rate_limit
from workers.budget import BudgetExhausted, paced
from workers.ratelimits import classify, observe, refusal_wait

log = logging.getLogger(__name__)

USER_AGENT = "steward-bot/0.1 (+https://github.com/apps/steward)"

#: The message GitHub sends with a secondary rate limit's 403.
_SECONDARY_MARKERS = (b"secondary rate limit", b"abuse detection")


def describe_connection_error(exc: BaseException) -> str:
    """A connection failure in words a person acts on (host, and DNS or refused)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host}: check the network or GITHUB_API_URL / GHE_HOST"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class GitHubUnavailable(Exception):
    """GitHub kept failing (5xx or connection errors) after every retry."""


class RateLimited(Exception):
    """GitHub asked us to wait longer than one task should sleep."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"GitHub rate limit: retry in {wait_seconds:.0f}s")
        self.wait_seconds = wait_seconds


def rate_limit_wait(
    status: int, headers: Mapping[str, str], body: bytes, *, now: float
) -> float | None:
    """Seconds to wait before retrying a rate-limited response, or None if it is not one.

    Follows GitHub's documented order: ``retry-after`` first, then an exhausted primary
    limit (``x-ratelimit-remaining: 0`` until ``x-ratelimit-reset``), then a secondary
    limit without headers (at least one minute).
    """
    if status not in (403, 429):
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = lowered.get("retry-after")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    if lowered.get("x-ratelimit-remaining") == "0" and lowered.get("x-ratelimit-reset"):
        try:
            return max(0.0, float(lowered["x-ratelimit-reset"]) - now) + 1.0
        except ValueError:
            return 60.0
    if any(marker in body.lower() for marker in _SECONDARY_MARKERS):
        return 60.0
    if status == 429:
        return 60.0
    return None


def rate_limit_remaining(headers: Mapping[str, str]) -> int | None:
    """GitHub's ``x-ratelimit-remaining`` of a response (None: absent or not a number)."""
    raw = headers.get("x-ratelimit-remaining") or headers.get("X-RateLimit-Remaining")
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 20.0) -> float:
    """Exponential backoff with full jitter for the n-th retry (0-based)."""
    return float(random.uniform(0, min(cap, base * (2**attempt))))


#: Called with the token GitHub refused; returns the one to use now (another request of
#: the same client may have replaced it already: the refused one is what counts).
TokenRefresher = Callable[[str], Awaitable[str]]


class GitHubClient(gh_aiohttp.GitHubAPI):
    """gidgethub's aiohttp client with bounded retries and installation-token refresh."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        oauth_token: str | None = None,
        retries: int = 4,
        max_rate_limit_wait: float = 60.0,
        refresh_token: TokenRefresher | None = None,
        cache: Any = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        installation_id: int | None = None,
    ) -> None:
        """A client for ``base_url``; ``installation_id`` names it in the rate-limit metric
        (None: the App's own calls).
        """
        super().__init__(
            session, USER_AGENT, oauth_token=oauth_token, base_url=base_url, cache=cache
        )
        self._retries = retries
        self._max_wait = max_rate_limit_wait
        self._refresh_token = refresh_token
        self._sleep = sleep or asyncio.sleep
        self.calls = 0
        self._installation = str(installation_id) if installation_id is not None else "app"

    async def sleep(self, seconds: float) -> None:
        """Sleep (injectable so tests need not wait)."""
        await self._sleep(seconds)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = dict(headers)
        refreshed = False
        attempt = 0
        while True:
            try:
                status, resp_headers, data = await self._send(method, url, headers, body=body)
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                if attempt >= self._retries:
                    raise GitHubUnavailable(
                        f"{method} {url}: {describe_connection_error(exc)}"
                    ) from exc
                reason = describe_connection_error(exc)
                await self._retry_after(attempt, f"connection error ({reason})", f"{method} {url}")
                attempt += 1
                continue
            if status == 401 and self._refresh_token and not refreshed and self.oauth_token:
                refreshed = True
                refused = str(headers.get("authorization", "")).removeprefix("token ")
                self.oauth_token = await self._refresh_token(refused)
                headers["authorization"] = f"token {self.oauth_token}"
                continue
            wait = self._rate_limited(url, status, resp_headers, body=data)
            if wait is not None:
                if wait > self._max_wait or attempt >= self._retries:
                    raise RateLimited(wait)
                log.warning("rate limited on %s %s; waiting %.1fs", method, url, wait)
                await self.sleep(wait)
                attempt += 1
                continue
            if status >= 500 and attempt < self._retries:
                await self._retry_after(attempt, f"HTTP {status}", f"{method} {url}")
                attempt += 1
                continue
            if status >= 500:
                raise GitHubUnavailable(f"{method} {url}: HTTP {status} after {attempt} retries")
            return status, resp_headers, data

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], *, body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One request, through the installation's budget when the task has a lane
        (:mod:`workers.budget`): a slot first, then what GitHub said of the limits."""
        self.calls += 1
        if self._installation == "app":
            return await super()._request(method, url, headers, body)
        request = classify(method, url, body)
        try:
            async with paced(self._installation, request, body, sleep=self.sleep) as lane:
                answer = await super()._request(method, url, headers, body)
        except BudgetExhausted as exc:
            raise RateLimited(exc.wait_seconds) from exc
        status, resp_headers, data = answer
        remaining = rate_limit_remaining(resp_headers)
        if remaining is not None:
            record_rate_limit(self._installation, remaining)
        if lane is not None:
            seen = observe(request, status, resp_headers, body=data, now=time.time())
            lane.budget.record(self._installation, seen, body)
        return answer

    @staticmethod
    def _rate_limited(
        url: str, status: int, headers: Mapping[str, str], *, body: bytes
    ) -> float | None:
        """Seconds to wait before retrying a refused request (REST's 403/429, GraphQL's
        ``RATE_LIMITED`` or secondary limit), or None."""
        wait = rate_limit_wait(status, headers, body, now=time.time())
        if wait is None and url.split("?", 1)[0].endswith("/graphql"):
            wait, _ = refusal_wait(status, headers, body, now=time.time())
        return wait

    async def _retry_after(self, attempt: int, why: str, request: str) -> None:
        delay = backoff_delay(attempt)
        log.warning("%s on %s; retry %d in %.2fs", why, request, attempt + 1, delay)
        await self.sleep(delay)


def graphql_endpoint(api_url: str) -> str:
    """GraphQL's URL for a REST base URL (GHE serves it at /api/graphql)."""
    api_url = api_url.rstrip("/")
    if api_url.endswith("/api/v3"):
        return api_url.removesuffix("/v3") + "/graphql"
    return api_url + "/graphql"


async def pull_files(gh: GitHubAPI, owner: str, repo: str, *, number: int) -> list[str]:
    """The paths a pull request changes (all pages; GitHub lists up to 3,000): the one
    rule every feature reads a pull request's files by.
    """
    return [
        str(f["filename"])
        async for f in gh.getiter(
            "/repos/{owner}/{repo}/pulls/{pull_number}/files{?per_page}",
            {"owner": owner, "repo": repo, "pull_number": number, "per_page": 100},
        )
    ]
