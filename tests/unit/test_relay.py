"""The webhook relay's pure parts: the server-sent event parser, and the URL the App
registers with ``WEBHOOK_PROXY_URL`` (from the environment or the ``.env`` file).
Deliveries through a relay into the receiver: tests/integration/test_relay.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.relay import Event, bounded_lines, sse_events
from app.setup import webhook_url
from core.settings import load_settings


async def lines(*chunks: str) -> AsyncIterator[bytes]:
    for chunk in chunks:
        for line in chunk.splitlines(keepends=True):
            yield line.encode()


@pytest.mark.parametrize(
    ("stream", "events"),
    [
        ("event: ready\ndata: {}\n\n", [Event("ready", "{}")]),
        (": keep-alive\n\ndata: a\ndata: b\n\n", [Event("message", "a\nb")]),
        ("data:x\r\n\r\nevent: ping\ndata: 1\n\n", [Event("message", "x"), Event("ping", "1")]),
        ("data: unfinished\n", []),
    ],
    ids=["named", "comment and multi-line data", "CRLF and no space", "no blank line"],
)
async def test_server_sent_events(stream: str, events: list[Event]) -> None:
    assert [e async for e in sse_events(lines(stream))] == events


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("https://smee.io/abc123", "https://smee.io/abc123"),
        (None, "http://localhost:3000/api/github/webhooks"),
    ],
)
def test_the_app_registers_the_relay_url_unchanged(
    proxy: str | None, expected: str, tmp_path: Path
) -> None:
    env = {"WEBHOOK_PROXY_URL": proxy} if proxy else {}
    settings = load_settings(env, env_file=tmp_path / "none.env")
    assert webhook_url(settings, "http://localhost:3000") == expected


def test_the_relay_url_is_read_from_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEBHOOK_PROXY_URL=https://smee.io/from-file\n")
    settings = load_settings({}, env_file=tmp_path / ".env")
    assert settings.webhook_proxy_url == "https://smee.io/from-file"


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((b"ab\ncd", b"\n\n"), [b"ab\n", b"cd\n", b"\n"]),
        ((b"12345678\nok\n",), [None, b"ok\n"]),  # over 4 bytes in one chunk
        ((b"1234", b"5678", b"9\nok\n"), [None, b"ok\n"]),  # over 4 across chunks
        ((b"1234\n", b"tail"), [b"1234\n", b"tail"]),  # exactly the limit; no final newline
    ],
    ids=["split lines", "too long in one chunk", "too long across chunks", "at the limit"],
)
async def test_lines_over_the_limit_become_none(
    parts: tuple[bytes, ...], expected: list[bytes | None]
) -> None:
    assert [line async for line in bounded_lines(chunks(*parts), 4)] == expected


async def test_a_too_long_line_spoils_only_its_own_event() -> None:
    lines = chunks(b"data: a\n", b"data: b\n", b"\n", b"data: c\n", b"\n")

    async def spoiled() -> AsyncIterator[bytes | None]:
        async for line in lines:
            yield None if line == b"data: b\n" else line

    assert [e async for e in sse_events(spoiled())] == [Event("message", "c")]
