"""Local development through a webhook relay (``WEBHOOK_PROXY_URL``), as Probot does.

GitHub cannot reach ``localhost``. A relay such as smee.io gives a public URL that GitHub
delivers to and streams each delivery to subscribers as a server-sent event. With
``WEBHOOK_PROXY_URL`` set, ``steward serve`` registers that URL as the App's webhook URL
(unchanged, as Probot does) and runs this client: it subscribes to the relay's event
stream and POSTs every delivery to the local receiver with GitHub's headers, so the
receiver verifies and queues it like any other. A dropped stream is reopened with
backoff.

The relay sends each delivery as one JSON object: GitHub's headers as lower-case keys,
the payload under ``body`` (and ``query``, ``timestamp``). The payload is written back
as compact JSON, as GitHub wrote it, so its ``X-Hub-Signature-256`` still matches.

Anyone who knows a relay channel's URL can post to it, so a bad event is skipped and
logged (never echoed), and the stream is kept: a line longer than ``MAX_LINE`` (dropped
as it arrives, not held), a header that is not an HTTP token or holds CR, LF or another
control character (it would split the forwarded request), an event that is not a JSON
object. An error forwarding one delivery skips that delivery; a dropped stream is
reopened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

log = logging.getLogger("steward.relay")

#: Keys of a relayed event that are not HTTP headers of the delivery.
NOT_HEADERS = frozenset({"body", "query", "timestamp", "host", "content-length"})
#: Longest line read from the relay: GitHub's 25 MB payload cap, with room for the
#: headers and JSON escaping around it. A longer line's event is skipped.
MAX_LINE = 32 * 1024 * 1024
#: A header name that may be forwarded (an HTTP token), and what no value may hold.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Event:
    """One server-sent event."""

    name: str
    data: str


async def bounded_lines(
    chunks: AsyncIterable[bytes], max_line: int = MAX_LINE
) -> AsyncIterator[bytes | None]:
    """The lines of a byte stream (each with its ``\\n``), and None in place of a line
    longer than ``max_line`` bytes, whose bytes are dropped as they arrive."""
    buffer, skipping = bytearray(), False
    async for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if not skipping and len(buffer) + end + 1 - start <= max_line + 1:
                buffer += chunk[start : end + 1]
                yield bytes(buffer)
            else:
                log.warning(
                    "relay sent a line longer than %d bytes; its event is skipped", max_line
                )
                yield None
            buffer.clear()
            skipping, start = False, end + 1
        if not skipping:
            buffer += chunk[start:]
            if len(buffer) > max_line:
                buffer.clear()
                skipping = True
    if buffer:
        yield bytes(buffer)


async def sse_events(lines: AsyncIterable[bytes | None]) -> AsyncIterator[Event]:
    """Server-sent events from a stream of lines (the ``text/event-stream`` format); a
    None line (one that was too long) spoils the event it is part of."""
    name, data, spoiled = "message", list[str](), False
    async for raw in lines:
        if raw is None:
            spoiled = True
            continue
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data and not spoiled:
                yield Event(name, "\n".join(data))
            name, data, spoiled = "message", [], False
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)


def forwardable_headers(relayed: dict[str, Any]) -> dict[str, str] | None:
    """The HTTP headers of a relayed delivery, or None where one cannot be forwarded
    as it is (a name that is not a token, a value with CR, LF or another control)."""
    headers = {}
    for key, value in relayed.items():
        if key.lower() in NOT_HEADERS:
            continue
        text = str(value)
        if not HEADER_NAME.fullmatch(key) or CONTROL.search(text):
            return None
        headers[key] = text
    headers.setdefault("content-type", "application/json")
    return headers


def delivery_of(event: Event) -> tuple[dict[str, str], bytes] | None:
    """The headers and body to POST for a relayed delivery (None: not a delivery, or
    one that cannot be forwarded; logged, without what it held)."""
    if event.name != "message":
        return None
    try:
        relayed = json.loads(event.data)
    except ValueError:
        log.warning("relay sent an event that is not JSON; skipped")
        return None
    if not isinstance(relayed, dict):
        log.warning("relay sent an event that is not a JSON object; skipped")
        return None
    if "body" not in relayed:
        log.info("relay sent an event without a delivery body; skipped")
        return None
    headers = forwardable_headers(relayed)
    if headers is None:
        log.warning(
            "relay sent a delivery with a header that cannot be forwarded (a name that is "
            "not an HTTP token, or CR, LF or another control character in a value); skipped"
        )
        return None
    body = json.dumps(relayed["body"], separators=(",", ":"), ensure_ascii=False).encode()
    return headers, body


async def forward(session: aiohttp.ClientSession, target: str, event: Event) -> int | None:
    """POST one relayed delivery to the local receiver; its status (None: not a delivery)."""
    delivery = delivery_of(event)
    if delivery is None:
        return None
    headers, body = delivery
    async with session.post(target, data=body, headers=headers) as resp:
        await resp.read()
        log.info(
            "relayed %s %s → %d",
            headers.get("x-github-event", "?"),
            headers.get("x-github-delivery", "?"),
            resp.status,
        )
        return resp.status


async def relay_once(
    session: aiohttp.ClientSession, source: str, target: str, *, max_line: int = MAX_LINE
) -> None:
    """Subscribe to ``source`` and forward its deliveries until the stream ends."""
    headers = {"Accept": "text/event-stream"}
    async with session.get(source, headers=headers, timeout=aiohttp.ClientTimeout()) as resp:
        resp.raise_for_status()
        log.info("relay connected: %s → %s", source, target)
        async for event in sse_events(bounded_lines(resp.content.iter_any(), max_line)):
            try:
                await forward(session, target, event)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("could not forward a relayed delivery to %s: %r", target, exc)
            except Exception:  # one delivery's problem must not end the stream
                log.exception("could not forward a relayed delivery; skipped")


async def run_relay(
    source: str, target: str, *, max_backoff: float = 30.0, max_line: int = MAX_LINE
) -> None:
    """Forward from the relay until cancelled, reconnecting with backoff."""
    delay = 1.0
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                await relay_once(session, source, target, max_line=max_line)
                delay = 1.0
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("relay %s: %r; reconnecting in %.0f s", source, exc, delay)
            except Exception:  # a bug must not end the relay for good
                log.exception("relay %s failed; reconnecting in %.0f s", source, delay)
            await asyncio.sleep(delay)
            delay = min(max_backoff, delay * 2)


def attach_relay(app: web.Application, source: str, target: str) -> None:
    """Run the relay client for as long as ``app`` runs."""
    tasks: list[asyncio.Task[None]] = []

    async def start(_: web.Application) -> None:
        tasks.append(asyncio.create_task(run_relay(source, target)))

    async def stop(_: web.Application) -> None:
        for task in tasks:
            task.cancel()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
