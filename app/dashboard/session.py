"""The dashboard's session: a signed cookie, no table.

A cookie value is ``base64url(JSON).base64url(HMAC-SHA256)``; the JSON carries the
person's login, the repositories GitHub said they can reach, and an expiry. Pure
functions: signing, checking, and the secret derived from the settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings

COOKIE = "steward_session"
STATE_COOKIE = "steward_oauth_state"
#: How long a sign-in lasts.
SESSION_SECONDS = 8 * 3600
#: How long the round trip through GitHub's authorize page may take.
STATE_SECONDS = 600


class NoSecret(ValueError):
    """Nothing to sign cookies with: set STEWARD_SESSION_SECRET (or the App's secrets)."""


@dataclass(frozen=True)
class Session:
    """A signed-in person and what GitHub said they can reach."""

    login: str
    expires: int
    #: ``[installation id, account login, [full names]]`` per installation.
    installations: list[tuple[int, str, list[str]]] = field(default_factory=list)

    @property
    def repositories(self) -> set[str]:
        """Every repository this person can reach, lower case."""
        return {name.lower() for _, _, names in self.installations for name in names}

    def as_json(self) -> dict[str, Any]:
        """The payload the cookie carries."""
        return {"login": self.login, "exp": self.expires, "inst": self.installations}


def secret_of(settings: Settings) -> bytes:
    """``STEWARD_SESSION_SECRET``, or a key derived from the App's own secrets."""
    if settings.session_secret:
        return settings.session_secret.encode()
    base = (settings.webhook_secret or "") + "\x00" + (settings.client_secret or "")
    if base == "\x00":
        raise NoSecret("set STEWARD_SESSION_SECRET, or WEBHOOK_SECRET and GITHUB_CLIENT_SECRET")
    return hmac.new(base.encode(), b"steward dashboard session", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], secret: bytes) -> str:
    """A cookie value carrying ``payload`` that only ``secret`` could have made."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(value: str | None, secret: bytes, *, now: float) -> dict[str, Any] | None:
    """The payload of a cookie value if its signature holds and ``exp`` is after ``now``."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    wanted = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, wanted):
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        return None
    return payload if payload["exp"] > now else None


def session_from(payload: dict[str, Any] | None) -> Session | None:
    """A :class:`Session` from a checked cookie payload (None: not signed in)."""
    if payload is None or not isinstance(payload.get("login"), str):
        return None
    try:
        installs = [(int(i), str(a), [str(n) for n in names]) for i, a, names in payload["inst"]]
    except (KeyError, TypeError, ValueError):
        return None
    return Session(payload["login"], int(payload["exp"]), installs)
