"""Helpers for the fake GitHub's own tests: JWTs, a settable clock, a served client."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt

from fakegithub import FakeGitHub
from tests.support import key_pair

APP_ID = 42
INSTALLATION_ID = 7
OWNER = "acme"
REPO = "widgets"


def make_jwt(
    *, private_pem: str | None = None, iss: Any = APP_ID, iat: int | None = None, ttl: int = 540
) -> str:
    """An app JWT like Probot/Octokit make (``iat`` 30 s in the past)."""
    issued = int(time.time()) - 30 if iat is None else iat
    claims = {"iat": issued, "exp": issued + ttl, "iss": iss}
    # PyJWS signs any payload; PyJWT would refuse the integer ``iss`` GitHub accepts.
    payload = json.dumps(claims).encode()
    return jwt.PyJWS().encode(payload, private_pem or key_pair()[0], algorithm="RS256")


class Clock:
    """A settable clock for token expiry tests."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += timedelta(seconds=seconds)


def populate(fake: FakeGitHub) -> None:
    """The standard test world: one app, one org, one repo with some history."""
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_repo(
        OWNER,
        REPO,
        files={".github/steward.yml": "mode: live\n"},
        labels=["bug", "enhancement", "good first issue"],
        collaborators={"alice": "maintain", "bob": "write"},
    )
    fake.add_repo(OWNER, "private-stuff", private=True)
    fake.add_installation(INSTALLATION_ID, OWNER, repositories=[f"{OWNER}/{REPO}"])


@dataclass
class Served:
    """A running fake, its base URL, a session and an installation token."""

    fake: FakeGitHub
    base: str
    session: aiohttp.ClientSession
    token: str
    clock: Clock

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """One request with the installation token; returns (status, json, response)."""
        merged = {"Authorization": f"token {token or self.token}", **(headers or {})}
        async with self.session.request(
            method, self.base + path, json=json, headers=merged, params=params
        ) as response:
            text = await response.text()
            body = None if not text else await response.json(content_type=None)
            return response.status, body, response

    async def graphql(self, query: str, **variables: Any) -> Any:
        """POST /graphql; returns the JSON answer."""
        status, body, _ = await self.call(
            "POST", "/graphql", json={"query": query, "variables": variables}
        )
        assert status == 200
        return body
