"""The receiver's edge against senders that cost too much or lie: a SHA-1 signature in the
SHA-256 header, a body over GitHub's 25 MiB (declared or streamed), slow bodies holding
the readers, and a Redis that stops answering (SIGSTOP on a redis-server of this test's
own, never the shared one).

Each test serves the receiver ``steward serve`` runs (no job sender: one route message
per delivery) on a real port and talks to it over raw sockets where a client library
would insist on sending the whole body first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientSession, web

from app.web import EdgeLimits, Receiver, StreamPublisher, create_app, default_router
from core.settings import load_settings
from tests.support import (
    SECRET,
    example,
    free_port,
    key_pair,
    private_redis,
    retarget,
    serving,
)

PATH = "/api/github/webhooks"


def issue_body() -> bytes:
    payload = retarget(example("issues.opened"), owner="o", repo="edge", installation_id=616)
    return json.dumps(payload).encode()


def headers(body: bytes, **extra: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
        "Content-Type": "application/json",
        **extra,
    }


@contextlib.asynccontextmanager
async def receiver(
    redis_url: str, limits: EdgeLimits | None = None, *, redis_timeout: float = 3.0
) -> AsyncIterator[str]:
    """The stream receiver on a free port; its webhook URL."""
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=None,
    ).with_overrides(redis_url=redis_url)
    client = aioredis.Redis.from_url(redis_url)
    publish = StreamPublisher(redis_url, 3600, client, timeout=redis_timeout)
    app = create_app(
        Receiver(
            settings=settings,
            redis=client,
            publish=publish,
            router=default_router(),
            ready_checks={},
            limits=limits or EdgeLimits(),
        )
    )
    port = free_port()
    try:
        async with serving(app, port):
            yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        await publish.close()
        await client.aclose()


async def post(url: str, body: bytes, hdrs: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    async with ClientSession() as session, session.post(url, data=body, headers=hdrs) as r:
        return r.status, await r.text(), dict(r.headers)


async def raw_request(
    url: str, head: dict[str, str], first: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A POST whose headers and first body bytes are sent; the rest is up to the test."""
    port = int(url.split(":")[2].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
    writer.write(f"POST {PATH} HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode() + first)
    await writer.drain()
    return reader, writer


async def status_of(reader: asyncio.StreamReader, timeout: float) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout)
    return int(line.split()[1])


# ----------------------------------------------------------------------- signature


@pytest.mark.parametrize(
    "signature",
    [
        lambda body: "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest(),
        lambda body: "SHA256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        lambda body: "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()[:40],
        lambda body: "sha512=" + hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest(),
    ],
    ids=["a valid HMAC-SHA1", "an upper-case scheme", "a truncated digest", "sha512"],
)
async def test_only_a_sha256_signature_is_accepted(redis_url: str, signature: object) -> None:
    body = issue_body()
    async with receiver(redis_url) as url:
        status, text, _ = await post(
            url, body, headers(body, **{"X-Hub-Signature-256": signature(body)})
        )  # type: ignore[operator]
        assert status == 401, text
        ok, _, _ = await post(url, body, headers(body))
        assert ok == 202


async def test_the_legacy_sha1_header_alone_is_refused(redis_url: str) -> None:
    body = issue_body()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    hdrs = {k: v for k, v in headers(body).items() if k != "X-Hub-Signature-256"}
    async with receiver(redis_url) as url:
        status, _, _ = await post(url, body, {**hdrs, "X-Hub-Signature": sha1})
    assert status == 401


# ------------------------------------------------------------------------- bodies


async def test_a_declared_oversize_body_is_refused_unread(redis_url: str) -> None:
    """413 from ``Content-Length`` alone: the sender never sends more than 1 KiB of its
    26 MiB, and the server answers, then closes (it does not wait to read the rest)."""
    body = issue_body()
    head = {**headers(body), "Content-Length": str(26 * 1024 * 1024)}
    async with receiver(redis_url) as url:
        reader, writer = await raw_request(url, head, b"{" + b" " * 1023)
        started = time.monotonic()
        assert await status_of(reader, 5) == 413
        rest = await asyncio.wait_for(reader.read(), 5)  # the server closed the connection
        assert b"25 MiB" in rest or b"Maximum" in rest or rest.endswith(b"}")
        assert time.monotonic() - started < 2
        writer.close()


async def test_a_streamed_body_is_cut_off_at_the_limit(redis_url: str) -> None:
    """Chunked, no ``Content-Length``: refused once 25 MiB + 1 byte arrived."""
    body = issue_body()
    head = {
        **{k: v for k, v in headers(body).items()},
        "Transfer-Encoding": "chunked",
    }
    chunk = b"x" * (256 * 1024)
    async with receiver(redis_url) as url:
        reader, writer = await raw_request(url, head, b"")
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < 64 * 1024 * 1024 and not reader.at_eof() and not reader._buffer:  # type: ignore[attr-defined]
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0.002)  # the answer is noticed before the next chunk
        assert await status_of(reader, 5) == 413
        assert sent < 64 * 1024 * 1024  # refused long before the sender was done
        writer.close()


async def test_readers_are_bounded_and_slow_bodies_time_out(redis_url: str) -> None:
    limits = EdgeLimits(max_reading=2, read_timeout=1.5, retry_after=7)
    body = issue_body()
    async with receiver(redis_url, limits) as url:
        slow_head = {**headers(body), "Content-Length": str(len(body))}
        slow = [await raw_request(url, slow_head, body[:100]) for _ in range(2)]
        await asyncio.sleep(0.3)  # both are being read, slowly
        reader, writer = await raw_request(url, slow_head, body[:100])  # a third slow one
        answer = await asyncio.wait_for(reader.read(), 5)  # answered and closed at once
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 7" in answer
        writer.close()
        # A body that arrived whole with its headers takes no reader's place.
        status, _, _ = await post(url, body, headers(body))
        assert status == 202
        for reader, writer in slow:  # the read timeout frees them: 408
            assert await status_of(reader, 5) == 408
            writer.close()
        status, _, _ = await post(url, body, headers(body))
        assert status == 202


async def test_a_whole_body_in_time_is_accepted_at_the_limit(redis_url: str) -> None:
    """Exactly 25 MiB is GitHub's limit, not over it."""
    padding = 25 * 1024 * 1024 - len(issue_body()) - 20
    payload = json.loads(issue_body())
    payload["issue"]["body"] = "x" * padding
    body = json.dumps(payload).encode()
    body = body[:-1] + b" " * (25 * 1024 * 1024 - len(body)) + b"}"
    assert len(body) == 25 * 1024 * 1024
    async with receiver(redis_url) as url:
        status, text, _ = await post(url, body, headers(body))
    assert status == 202, text


# ---------------------------------------------------------------- a stalled Redis


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own (the shared one is never stopped); the test may
    stop it with SIGSTOP, so it is resumed before it is terminated."""
    with private_redis() as (url, server):
        try:
            yield url, server
        finally:
            server.send_signal(signal.SIGCONT)


async def test_a_stopped_redis_is_503_for_at_most_the_timeout_then_202(
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url_redis, server = own_redis
    body = issue_body()
    async with receiver(url_redis, redis_timeout=1.0) as url:
        assert (await post(url, body, headers(body)))[0] == 202
        server.send_signal(signal.SIGSTOP)  # the connection is now half-open: no replies
        try:
            for _ in range(2):
                started = time.monotonic()
                status, _, got = await post(url, body, headers(body))
                assert status == 503 and "Retry-After" in got
                assert time.monotonic() - started < 1.0 + 0.8  # the timeout, not forever
        finally:
            server.send_signal(signal.SIGCONT)
        started = time.monotonic()
        status, text, _ = await post(url, body, headers(body))
        assert status == 202, text
        assert time.monotonic() - started < 1.0 + 0.8
        assert (await post(url, body, headers(body)))[0] == 202


async def test_concurrent_deliveries_while_redis_stalls_all_get_an_answer(
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url_redis, server = own_redis
    body = issue_body()
    async with receiver(url_redis, redis_timeout=1.0) as url:
        assert (await post(url, body, headers(body)))[0] == 202
        server.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            answers = await asyncio.gather(*(post(url, body, headers(body)) for _ in range(10)))
            assert {status for status, _, _ in answers} == {503}
            assert time.monotonic() - started < 1.0 + 1.5
        finally:
            server.send_signal(signal.SIGCONT)
        answers = await asyncio.gather(*(post(url, body, headers(body)) for _ in range(10)))
        assert {status for status, _, _ in answers} == {202}


def test_the_web_app_is_an_aiohttp_application() -> None:
    """``create_app`` keeps the body limit one byte past GitHub's (413 is *over* 25 MiB)."""
    app = create_app(
        Receiver(
            settings=load_settings({}, env_file=None),
            redis=None,  # type: ignore[arg-type]
            publish=None,  # type: ignore[arg-type]
            router=default_router(),
            ready_checks={},
        )
    )
    assert isinstance(app, web.Application)
    assert app._client_max_size == 25 * 1024 * 1024 + 1
