"""GitHub App authentication as github.com does it: RS256 app JWTs and installation
access tokens. Pure functions over the registered apps and a given time.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from fakegithub.state import AccessToken, App

#: GitHub accepts app JWTs that live at most ten minutes.
MAX_JWT_LIFETIME_S = 600
#: Leeway for clock drift between the app and GitHub (GitHub's docs suggest 60 s).
CLOCK_DRIFT_S = 60


class AuthError(Exception):
    """Authentication failed; ``str(error)`` is the message GitHub would send."""


@dataclass(frozen=True)
class Credentials:
    """What an ``Authorization`` header carries: a scheme and a secret."""

    scheme: str
    secret: str


def parse_authorization(header: str | None) -> Credentials | None:
    """Split ``token ghs_x`` / ``Bearer eyJ…`` into scheme and secret."""
    if not header:
        return None
    scheme, _, secret = header.strip().partition(" ")
    if not secret:
        return None
    return Credentials(scheme.lower(), secret.strip())


def verify_app_jwt(token: str, apps: Mapping[int, App], now: datetime) -> App:
    """Check an app JWT like GitHub: RS256 with the app's key, ``iss`` = app id,
    ``iat``/``exp`` present, ``exp - iat`` ≤ 10 minutes, not expired (60 s drift).
    """
    # PyJWS, not PyJWT: GitHub accepts an integer ``iss``, which PyJWT refuses.
    jws = jwt.PyJWS()
    try:
        claims = json.loads(
            jws.decode_complete(token, options={"verify_signature": False})["payload"]
        )
    except (jwt.PyJWTError, ValueError) as exc:
        raise AuthError("A JSON web token could not be decoded") from exc
    if not isinstance(claims, dict):
        raise AuthError("A JSON web token could not be decoded")
    app = apps.get(_issuer(claims))
    if app is None:
        raise AuthError("Integration not found")
    try:
        jws.decode(token, app.public_key_pem, algorithms=["RS256"])
    except jwt.PyJWTError as exc:
        raise AuthError("A JSON web token could not be decoded") from exc
    _check_times(claims, now)
    return app


def _issuer(claims: Mapping[str, object]) -> int:
    try:
        return int(str(claims.get("iss")))
    except ValueError:
        return -1


def _check_times(claims: Mapping[str, object], now: datetime) -> None:
    try:
        iat = int(str(claims["iat"]))
        exp = int(str(claims["exp"]))
    except (KeyError, ValueError) as exc:
        raise AuthError("'Issued at' and 'Expiration time' claims are required") from exc
    stamp = now.timestamp()
    if exp - iat > MAX_JWT_LIFETIME_S:
        raise AuthError("'Expiration time' claim ('exp') is too far in the future")
    if exp <= stamp - CLOCK_DRIFT_S:
        raise AuthError(
            "'Expiration time' claim ('exp') must be a numeric value "
            "representing the future time at which the assertion expires"
        )
    if iat > stamp + CLOCK_DRIFT_S:
        raise AuthError(
            "'Issued at' claim ('iat') must be an Integer representing "
            "the time that the assertion was issued"
        )


def mint_token(installation_id: int, now: datetime, lifetime: timedelta) -> AccessToken:
    """A fresh ``ghs_`` installation token valid for ``lifetime``."""
    secret = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
    expires = (now + lifetime).replace(microsecond=0)
    return AccessToken(secret, installation_id, expires)
