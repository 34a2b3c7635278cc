"""The dashboard's session: a signed cookie that names a session kept on the server.

A cookie value is ``base64url(JSON).base64url(HMAC-SHA256)``; the JSON carries a random
session id and an expiry, nothing else (a person who reaches hundreds of repositories
would overflow a browser's 4 KB cookie, and signing out must end the session
everywhere). The ``dashboard_sessions`` row keyed by the id's SHA-256 holds the login,
what GitHub said the person can reach, and their GitHub token sealed with a key derived
from the session secret, so access is asked of GitHub again every ``ACCESS_SECONDS``.
Pure functions: signing, checking, sealing, and the secret derived from the settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from app.dashboard.security import same_secret
from core.settings import Settings
from core.store import DashboardSession

COOKIE = "steward_session"
STATE_COOKIE = "steward_oauth_state"
#: How long a sign-in lasts.
SESSION_SECONDS = 8 * 3600
#: How long the round trip through GitHub's authorize page may take.
STATE_SECONDS = 600
#: How old what GitHub said a person can reach may get before it is asked again.
ACCESS_SECONDS = 600


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
    raw = body.encode("utf-8", "surrogatepass")
    wanted = _b64(hmac.new(secret, raw, hashlib.sha256).digest())
    if not same_secret(mac, wanted):  # as bytes: a cookie with any characters is a no
        return None
    try:
        payload = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        return None
    return payload if payload["exp"] > now else None


def csrf_token(session_key: str, secret: bytes) -> str:
    """The token the dashboard's forms carry for the session whose row key is
    ``session_key``: only a page of that session knows it (another site's form does not)."""
    mac = hmac.new(secret, b"steward csrf\x00" + session_key.encode(), hashlib.sha256)
    return _b64(mac.digest())


def new_session_id() -> str:
    """A fresh, unguessable session id (what the cookie carries)."""
    return secrets.token_urlsafe(32)


def id_hash(session_id: str) -> str:
    """The key of a session's row: a database read yields no usable cookie."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _fernet(secret: bytes) -> Fernet:
    key = hmac.new(secret, b"steward dashboard token", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(token: str, secret: bytes) -> str:
    """``token`` encrypted and authenticated with a key derived from ``secret``."""
    return _fernet(secret).encrypt(token.encode()).decode()


def unseal(sealed: str | None, secret: bytes) -> str | None:
    """The token back, or None when there is none or the secret changed."""
    if not sealed:
        return None
    try:
        return _fernet(secret).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def needs_check(row: DashboardSession, *, now: datetime) -> bool:
    """Whether the row's access is old enough to ask GitHub again."""
    return now - row.checked_at >= timedelta(seconds=ACCESS_SECONDS)


def session_of(row: DashboardSession) -> Session:
    """The signed-in person a stored session row describes."""
    installs = [(int(i), str(a), [str(n) for n in names]) for i, a, names in row.access]
    return Session(row.login, int(row.expires_at.timestamp()), installs)
