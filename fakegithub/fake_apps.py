"""Apps, installations and their credentials in the fake GitHub: registering an App,
installing it, minting and expiring installation tokens, the manifest flow and a fresh
RSA key pair (:func:`new_key_pair`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from fakegithub import auth
from fakegithub import serialize as ser
from fakegithub.fake_core import FakeCore
from fakegithub.http import HTTPError
from fakegithub.state import App, Installation, make_node_id

#: Permissions given to installations unless a test says otherwise.
DEFAULT_PERMISSIONS: dict[str, str] = {
    "issues": "write",
    "pull_requests": "write",
    "discussions": "write",
    "contents": "read",
    "metadata": "read",
    "members": "read",
}


class AppsMixin(FakeCore):
    """Apps, installations, installation tokens and the manifest flow."""

    # ---------------------------------------------------------------- builders

    def register_app(
        self,
        app_id: int,
        public_key_pem: str | bytes,
        slug: str = "steward",
        *,
        name: str | None = None,
        owner: str = "steward-dev",
        permissions: Mapping[str, str] | None = None,
        events: Iterable[str] = ("issues", "pull_request", "discussion"),
    ) -> App:
        """Register an app whose JWTs are verified with ``public_key_pem``."""
        pem = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        self.user(owner, type="Organization")
        self.user(f"{slug}[bot]", type="Bot")
        app = App(
            app_id=app_id,
            slug=slug,
            public_key_pem=pem,
            name=name or slug.capitalize(),
            owner=owner,
            node_id=make_node_id("A", app_id),
            permissions=dict(permissions or DEFAULT_PERMISSIONS),
            events=list(events),
        )
        self.apps[app_id] = app
        return app

    def add_installation(
        self,
        installation_id: int,
        account: str,
        *,
        app_id: int | None = None,
        repositories: Iterable[str] | None = None,
        permissions: Mapping[str, str] | None = None,
    ) -> Installation:
        """Install an app (the only registered one by default) on ``account``.

        ``repositories`` are ``owner/name`` strings; None means all of the account's.
        """
        if app_id is None:
            if len(self.apps) != 1:
                raise ValueError("pass app_id= when zero or several apps are registered")
            app_id = next(iter(self.apps))
        self.user(account, type="Organization")
        inst = Installation(
            id=installation_id,
            app_id=app_id,
            account=account,
            repositories=list(repositories) if repositories is not None else None,
            permissions=dict(permissions or self.apps[app_id].permissions),
        )
        self.installations[installation_id] = inst
        return inst

    # ------------------------------------------------------------------- auth

    def mint_token(self, installation_id: int) -> str:
        """Issue an installation token directly (tests that skip the JWT dance)."""
        if installation_id not in self.installations:
            raise KeyError(f"no installation {installation_id}")
        made = auth.mint_token(installation_id, self.now(), self.token_lifetime)
        self.tokens[made.token] = made
        return made.token

    def expire_tokens(self) -> None:
        """Make every issued installation token expired (tests of token refresh)."""
        for token in self.tokens.values():
            token.expires_at = self.now() - timedelta(seconds=1)

    def bot_login(self, installation: Installation | None) -> str:
        """The ``slug[bot]`` login that acts for an installation."""
        if installation is None:
            return "ghost"
        return f"{self.apps[installation.app_id].slug}[bot]"

    def convert_manifest(self, code: str) -> dict[str, Any]:
        """Complete the manifest flow: a new app with a fresh key (codes are one-time)."""
        if code in self.used_manifest_codes:
            raise HTTPError(404, "Not Found")
        self.used_manifest_codes.add(code)
        private_pem, public_pem = new_key_pair()
        app_id = max([*self.apps, 100]) + 1
        slug = f"steward-{app_id}"
        app = self.register_app(app_id, public_pem, slug)
        data = ser.app(self.urls, app, self.user(app.owner))
        data.update(
            pem=private_pem,
            webhook_secret=secrets.token_hex(20),
            client_id=f"Iv1.{secrets.token_hex(8)}",
            client_secret=secrets.token_hex(20),
        )
        return data

    # -------------------------------------------------------------- rendering

    def installation_json(self, inst: Installation) -> dict[str, Any]:
        """Render an installation."""
        slug = self.apps[inst.app_id].slug
        return ser.installation(self.urls, inst, self.user(inst.account), slug)


def new_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
