"""Shared test helpers: real webhook payloads, signing, keys, waiting."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cache
from typing import Any

import redis
from aiohttp import web

from fakegithub import deliveries, load_webhook_example
from fakegithub.deliveries import sign, with_author
from fakegithub.fake import FakeGitHub, new_key_pair
from fakegithub.state import Issue

__all__ = ["sign", "with_author"]

APP_ID = 4242
INSTALLATION_ID = 777
ORG = "octo-org"
SECRET = "it's-a-secret-to-everybody"


@cache
def key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of the test App, made once per run."""
    return new_key_pair()


def example(name: str) -> dict[str, Any]:
    """A real payload from @octokit/webhooks-examples (``event.action``)."""
    return load_webhook_example(name)


def retarget(
    payload: dict[str, Any], *, owner: str, repo: str, installation_id: int = INSTALLATION_ID
) -> dict[str, Any]:
    """Point a real payload at a test repository and installation."""
    return deliveries.retarget(payload, owner=owner, repo=repo, installation_id=installation_id)


def delivery_headers(
    event: str, body: bytes, *, delivery: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    """Headers of a signed delivery."""
    return deliveries.delivery_headers(event, body, secret=secret, delivery=delivery)


def opened(
    name: str, repo: str, number: int, login: str, association: str = "NONE"
) -> dict[str, Any]:
    """A real ``<event>.<action>`` payload for item ``number`` of ``ORG/repo`` by ``login``."""
    key = {"issues": "issue", "pull_request": "pull_request", "discussion": "discussion"}[
        name.split(".")[0]
    ]
    payload = retarget(example(name), owner=ORG, repo=repo)
    payload[key]["number"] = number
    payload[key]["labels"] = []
    return with_author(payload, key, login, association)


#: Subjects of synthetic issues, and two kinds of title that nearest neighbours tell apart.
THINGS = [
    "the settings page",
    "the CSV export",
    "login",
    "the search box",
    "file upload",
    "the dashboard",
    "notifications",
    "the API client",
    "dark mode",
    "the installer",
    "sync",
    "the editor",
    "printing",
    "the sidebar",
    "tags",
    "the calendar",
    "comments",
    "the mobile app",
    "backups",
    "the importer",
]
BUG = "Crash with a traceback when I open {}"
WISH = "Feature request: please add keyboard shortcuts to {}"


def newcomer_with_good_first_issues(fake: FakeGitHub, repo: str) -> Issue:
    """Two open good first issues (one about the HTTP/2 docs), an unrelated issue, and a
    newcomer's first issue about the same docs; returns the newcomer's issue.
    """
    fake.add_issue(
        ORG,
        repo,
        title="Fix typo in the HTTP/2 docs",
        labels=["good first issue"],
        body="The transport docs misspell 'stream'.",
    )
    fake.add_issue(ORG, repo, title="Add dark mode to the website", labels=["good first issue"])
    fake.add_issue(ORG, repo, title="Rewrite the scheduler", labels=["enhancement"])
    return fake.add_issue(
        ORG,
        repo,
        title="HTTP/2 docs are confusing",
        body="The transport page is hard to follow.",
        user="newbie",
    )


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


@contextlib.asynccontextmanager
async def serving(app: web.Application, port: int) -> AsyncIterator[None]:
    """``app`` served on 127.0.0.1:``port`` for the block (a test's stand-in server);
    requests still open at the end (an event stream) get 2 s, not aiohttp's 60."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the caller's own on a free port (its command counters are the
    caller's, and it may be stopped without touching the shared one): its URL and process.
    Skips the test where ``redis-server`` is not installed."""
    import pytest

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    wait_for(lambda: _answers(client), timeout=10)
    try:
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        client.close()
        server.terminate()
        server.wait(10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
