"""Shared test helpers: real webhook payloads, signing, keys, waiting."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

WEBHOOKS = Path(__file__).resolve().parent.parent / "app" / "fake_github" / "data" / "webhooks"
APP_ID = 4242
INSTALLATION_ID = 777
ORG = "octo-org"
SECRET = "it's-a-secret-to-everybody"


@cache
def key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of the test App, made once per run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def example(name: str) -> dict[str, Any]:
    """A real payload from @octokit/webhooks-examples (``event.action``)."""
    return copy.deepcopy(json.loads((WEBHOOKS / f"{name}.json").read_text()))


def retarget(
    payload: dict[str, Any], *, owner: str, repo: str, installation_id: int = INSTALLATION_ID
) -> dict[str, Any]:
    """Point a real payload at a test repository and installation."""
    repository = payload["repository"]
    repository["name"] = repo
    repository["full_name"] = f"{owner}/{repo}"
    repository["owner"]["login"] = owner
    payload["installation"] = {"id": installation_id, "node_id": "MDIz"}
    return payload


def with_author(payload: dict[str, Any], key: str, login: str, association: str) -> dict[str, Any]:
    """Set the author of the payload's issue/pull_request/discussion (and the sender)."""
    payload[key]["user"]["login"] = login
    payload[key]["user"]["type"] = "Bot" if login.endswith("[bot]") else "User"
    payload[key]["author_association"] = association
    payload["sender"]["login"] = login
    payload["sender"]["type"] = payload[key]["user"]["type"]
    return payload


def sign(body: bytes, secret: str = SECRET) -> str:
    """The ``X-Hub-Signature-256`` value GitHub would send."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, *, delivery: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    """Headers of a signed delivery."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
    }


def unique(prefix: str) -> str:
    """A repository name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy; fail with a clear message on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
