"""GitHub App authentication: a JWT for the app, installation tokens cached in Redis.

A token is minted through gidgethub's apps helpers (RS256 JWT, ``iss`` = APP_ID) and
cached until shortly before its ``expires_at`` so workers share it instead of
minting one per request.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from gidgethub import apps

from workers.github import GitHubClient

log = logging.getLogger(__name__)

#: Stop using a token this many seconds before GitHub's expiry.
TOKEN_SAFETY_MARGIN = 300


def token_cache_key(installation_id: int) -> str:
    """Redis key of an installation's cached access token."""
    return f"steward:token:{installation_id}"


def seconds_until(expires_at: str, *, now: datetime) -> float:
    """Seconds from ``now`` until an ISO-8601 ``expires_at`` (GitHub's ``...Z`` form)."""
    expiry = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return (expiry - now).total_seconds()


def cache_ttl(expires_at: str, *, now: datetime, margin: int = TOKEN_SAFETY_MARGIN) -> int:
    """How long a token may stay cached: until ``margin`` seconds before it expires."""
    return int(seconds_until(expires_at, now=now) - margin)


class InstallationAuth:
    """Mints and caches installation tokens for one app."""

    def __init__(
        self,
        *,
        app_id: str,
        private_key: str,
        api_url: str,
        redis: aioredis.Redis,
        session: aiohttp.ClientSession,
    ) -> None:
        self._app_id = app_id
        self._private_key = private_key
        self._api_url = api_url
        self._redis = redis
        self._session = session

    async def _cached(self, installation_id: int) -> str | None:
        cached = await self._redis.get(token_cache_key(installation_id))
        return str(json.loads(cached)["token"]) if cached else None

    async def token(self, installation_id: int, *, rejected: str | None = None) -> str:
        """A valid token for the installation, minted at most once across workers.

        ``rejected`` is a token GitHub refused: it is dropped and replaced, unless another
        worker has replaced it already.
        """
        cached = await self._cached(installation_id)
        if cached and cached != rejected:
            return cached
        # Single flight: workers that find no usable token wait for one of them to mint it.
        lock = self._redis.lock(
            f"steward:lock:token:{installation_id}", timeout=30, blocking_timeout=30
        )
        async with lock:
            cached = await self._cached(installation_id)
            if cached and cached != rejected:
                return cached
            return await self.refresh(installation_id)

    async def refresh(self, installation_id: int) -> str:
        """Mint a new token (JWT → access token) and cache it until shortly before expiry."""
        app_client = GitHubClient(self._session, base_url=self._api_url)
        data: dict[str, Any] = await apps.get_installation_access_token(
            app_client,
            installation_id=str(installation_id),
            app_id=self._app_id,
            private_key=self._private_key,
        )
        token = str(data["token"])
        ttl = cache_ttl(str(data["expires_at"]), now=datetime.now(UTC))
        if ttl > 0:
            payload = json.dumps({"token": token, "expires_at": data["expires_at"]})
            await self._redis.set(token_cache_key(installation_id), payload, ex=ttl)
        log.info("minted installation token", extra={"ctx": {"installation": installation_id}})
        return token

    async def client(self, installation_id: int, **options: Any) -> GitHubClient:
        """A client acting as the installation, refreshing its token if GitHub refuses it."""

        token = await self.token(installation_id)
        holder = {"token": token}

        async def refresh() -> str:
            holder["token"] = await self.token(installation_id, rejected=holder["token"])
            return holder["token"]

        return GitHubClient(
            self._session,
            base_url=self._api_url,
            oauth_token=token,
            refresh_token=refresh,
            installation_id=installation_id,
            **options,
        )

    def app_jwt(self) -> str:
        """A JWT for calls made as the app itself (``GET /app``)."""
        return str(apps.get_jwt(app_id=self._app_id, private_key=self._private_key))
