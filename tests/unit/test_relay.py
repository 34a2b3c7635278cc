"""The webhook relay's pure parts: the server-sent event parser, and the URL the App
registers with ``WEBHOOK_PROXY_URL`` (from the environment or the ``.env`` file).
Deliveries through a relay into the receiver: tests/integration/test_relay.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.relay import Event, sse_events
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
