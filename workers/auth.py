"""GitHub App authentication: a JWT for the app, installation tokens cached in Redis.

A token is minted with the App's JWT (gidgethub's helper: RS256, ``iss`` = APP_ID) and
cached until shortly before its ``expires_at`` so workers share it instead of minting one
per request. A task acting on one repository asks for a token narrowed to it
(``repositories`` in the token request): a mistake or a malicious payload in one
repository's task cannot reach the installation's other repositories with it.
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


#: What reading configuration needs (the repository's, the org's ``.github``, a file
#: ``_extends`` names): an installation-wide token that cannot write anything.
READ_CONTENTS = (("contents", "read"), ("metadata", "read"))

Permissions = tuple[tuple[str, str], ...]


def token_cache_key(
    installation_id: int, repo: str | None = None, permissions: Permissions = ()
) -> str:
    """Redis key of an installation's cached access token (narrowed to ``repo``,
    ``owner/name``, and to ``permissions`` when given)."""
    key = f"steward:token:{installation_id}"
    if repo:
        key += f":{repo.lower()}"
    if permissions:
        key += ":" + ",".join(f"{name}={level}" for name, level in sorted(permissions))
    return key


def token_request(repo: str | None, permissions: Permissions = ()) -> dict[str, Any]:
    """The body of a token request: narrowed to one repository (by name, within the
    installation's account) and to ``permissions``, or the installation's whole scope."""
    body: dict[str, Any] = {}
    if repo:
        body["repositories"] = [repo.split("/", 1)[1]]
    if permissions:
        body["permissions"] = dict(permissions)
    return body


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

    async def _cached(self, key: str) -> str | None:
        cached = await self._redis.get(key)
        return str(json.loads(cached)["token"]) if cached else None

    async def token(
        self,
        installation_id: int,
        *,
        repo: str | None = None,
        permissions: Permissions = (),
        rejected: str | None = None,
    ) -> str:
        """A valid token for the installation (narrowed to ``repo`` and ``permissions``
        when given), minted at most once across workers.

        ``rejected`` is a token GitHub refused: it is dropped and replaced, unless another
        worker has replaced it already.
        """
        key = token_cache_key(installation_id, repo, permissions)
        cached = await self._cached(key)
        if cached and cached != rejected:
            return cached
        # Single flight: workers that find no usable token wait for one of them to mint it.
        lock = self._redis.lock(f"steward:lock:token:{key}", timeout=30, blocking_timeout=30)
        async with lock:
            cached = await self._cached(key)
            if cached and cached != rejected:
                return cached
            return await self.refresh(installation_id, repo=repo, permissions=permissions)

    async def refresh(
        self, installation_id: int, *, repo: str | None = None, permissions: Permissions = ()
    ) -> str:
        """Mint a new token (JWT → access token) and cache it until shortly before expiry."""
        app_client = GitHubClient(self._session, base_url=self._api_url)
        data: dict[str, Any] = await app_client.post(
            "/app/installations/{installation_id}/access_tokens",
            {"installation_id": str(installation_id)},
            data=token_request(repo, permissions),
            jwt=self.app_jwt(),
        )
        token = str(data["token"])
        ttl = cache_ttl(str(data["expires_at"]), now=datetime.now(UTC))
        if ttl > 0:
            payload = json.dumps({"token": token, "expires_at": data["expires_at"]})
            key = token_cache_key(installation_id, repo, permissions)
            await self._redis.set(key, payload, ex=ttl)
        context = {"installation": installation_id, "repo": repo or "*"}
        log.info("minted installation token", extra={"ctx": context})
        return token

    async def client(
        self,
        installation_id: int,
        *,
        repo: str | None = None,
        permissions: Permissions = (),
        **options: Any,
    ) -> GitHubClient:
        """A client acting as the installation (its token narrowed to ``repo`` and
        ``permissions`` when given), refreshing its token if GitHub refuses it."""
        scope: dict[str, Any] = {"repo": repo, "permissions": permissions}
        token = await self.token(installation_id, **scope)

        async def refresh(refused: str) -> str:
            # The token this request was refused with, not the client's latest: two
            # requests in flight with the same old token must not reject the new one.
            return await self.token(installation_id, **scope, rejected=refused)

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
