"""Signed webhook deliveries built from the real example payloads (tests, demo, benchmark)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any


def retarget(
    payload: dict[str, Any], *, owner: str, repo: str, installation_id: int
) -> dict[str, Any]:
    """Point a real example payload at another repository and installation."""
    repository = payload["repository"]
    repository["name"] = repo
    repository["full_name"] = f"{owner}/{repo}"
    repository["owner"]["login"] = owner
    payload["installation"] = {"id": installation_id, "node_id": "MDIz"}
    return payload


def with_author(payload: dict[str, Any], key: str, login: str, association: str) -> dict[str, Any]:
    """Set who opened the payload's issue/pull_request/discussion (and sent the event)."""
    kind = "Bot" if login.endswith("[bot]") else "User"
    payload[key]["user"].update(login=login, type=kind)
    payload[key]["author_association"] = association
    payload["sender"] = {**payload.get("sender", {}), "login": login, "type": kind}
    return payload


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, *, secret: str, delivery: str | None = None
) -> dict[str, str]:
    """The headers of a signed delivery, as GitHub's Hookshot sends them."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/steward-replay",
    }
