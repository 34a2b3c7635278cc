"""``/metrics`` is not public by default: the webhook port (which must be public) serves
it only with ``STEWARD_METRICS_TOKEN`` and ``Authorization: Bearer`` (compared as bytes:
a token nobody could type is a 401, not a 500), or a separate listener
(``STEWARD_METRICS_PORT``) on 127.0.0.1 serves it. No private repository name is served
without one of them. Real web apps of ``steward serve`` and the test Redis.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from app.server import build_web_app
from core import metrics as core_metrics
from core.settings import load_settings
from core.store import ActionRecord, Store, open_store
from tests.support import SECRET, free_port, key_pair

PRIVATE = "acme/secret-project"


@pytest.fixture
def metrics_dir(tmp_path: Path) -> AsyncIterator[Path]:
    """This test's multiprocess directory (undone after)."""
    directory = core_metrics.configure_metrics(tmp_path / "metrics")
    assert directory is not None
    yield directory
    core_metrics.configure_metrics(None)


def private_store(url: str) -> Store:
    """A store whose live precision names a private repository."""
    store = open_store(url)
    store.record_action(
        ActionRecord(
            effect_key=f"triage:{PRIVATE}#1",
            repo=PRIVATE,
            feature="triage",
            action="decision",
            number=1,
            detail={"applied": ["bug"]},
            mode="live",
        )
    )
    return store


async def receiver(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str, **env: str
) -> TestClient:
    """A configured receiver with ``env`` added, and its store naming a private repository."""
    base = {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET}
    settings = load_settings({**base, **env, "REDIS_URL": redis_url}, env_file=Path("/none.env"))
    redis = aioredis.Redis.from_url(redis_url)
    app = build_web_app(settings, redis=redis, store=private_store(sqlite_url), send=None)
    app.on_cleanup.append(lambda _: redis.aclose())
    client: TestClient = await aiohttp_client(app)
    return client


async def raw_get(client: TestClient, path: str, header: bytes) -> tuple[int, bytes]:
    """A GET with one header line sent as raw bytes (what a client may send, not what
    ``aiohttp`` lets a client build); the status and the body."""
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    lines = [b"GET " + path.encode() + b" HTTP/1.1", b"Host: 127.0.0.1", header]
    writer.write(b"\r\n".join([*filter(None, lines), b"Connection: close", b"", b""]))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_with_nothing_configured_metrics_are_not_served_on_the_webhook_port(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str, metrics_dir: Path
) -> None:
    client = await receiver(aiohttp_client, redis_url, sqlite_url)
    answer = await client.get("/metrics")
    text = await answer.text()
    assert answer.status in (401, 404), text
    assert PRIVATE not in text and "STEWARD_METRICS_TOKEN" in text  # says how to turn it on
    bearer = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert bearer.status in (401, 404) and PRIVATE not in await bearer.text()


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (b"", 401),
        (b"Authorization: Bearer nope", 401),
        (b"Authorization: Basic czNjcmV0", 401),
        ("Authorization: Bearer s3crét".encode(), 401),  # UTF-8 bytes
        ("Authorization: Bearer s3crét".encode("latin-1"), 401),  # not UTF-8 at all
        (b"Authorization: Bearer s3cret", 200),
        (b"Authorization: bearer  s3cret ", 200),
    ],
    ids=["none", "wrong", "basic", "non-ascii", "latin-1", "right", "any case and spaces"],
)
async def test_with_a_token_metrics_need_it_and_any_bytes_are_a_401_not_a_500(
    aiohttp_client: Callable[..., Any],
    redis_url: str,
    sqlite_url: str,
    metrics_dir: Path,
    header: bytes,
    status: int,
) -> None:
    client = await receiver(aiohttp_client, redis_url, sqlite_url, STEWARD_METRICS_TOKEN="s3cret")
    got, body = await raw_get(client, "/metrics", header)
    assert got == status, body[:300]
    assert (PRIVATE.encode() in body) is (status == 200)


async def test_a_separate_listener_serves_metrics_on_127_0_0_1_only(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str, metrics_dir: Path
) -> None:
    port = free_port()
    client = await receiver(aiohttp_client, redis_url, sqlite_url, STEWARD_METRICS_PORT=str(port))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as scraped,
    ):
        text = await scraped.text()
    assert scraped.status == 200 and f'repo="{PRIVATE}"' in text
    assert scraped.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert (await client.get("/metrics")).status in (401, 404)  # not on the webhook port
    # Bound to the loopback address alone: another address of this machine is refused.
    other = _non_loopback_address()
    if other is not None:
        with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
            pass


def _non_loopback_address() -> str | None:
    """An address of this machine that is not 127.0.0.0/8 (None where it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address
