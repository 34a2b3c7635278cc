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
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web

log = logging.getLogger("steward.relay")

#: Keys of a relayed event that are not HTTP headers of the delivery.
NOT_HEADERS = frozenset({"body", "query", "timestamp", "host", "content-length"})


@dataclass(frozen=True)
class Event:
    """One server-sent event."""

    name: str
    data: str


async def sse_events(lines: AsyncIterable[bytes]) -> AsyncIterator[Event]:
    """Server-sent events from a stream of lines (the ``text/event-stream`` format)."""
    name, data = "message", list[str]()
    async for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield Event(name, "\n".join(data))
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment (keep-alive)
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)


def delivery_of(event: Event) -> tuple[dict[str, str], bytes] | None:
    """The headers and body to POST for a relayed delivery (None: not a delivery)."""
    if event.name != "message":
        return None
    try:
        relayed = json.loads(event.data)
    except ValueError:
        log.warning("relay sent an event that is not JSON; skipped")
        return None
    if not isinstance(relayed, dict) or "body" not in relayed:
        return None
    headers = {k: str(v) for k, v in relayed.items() if k.lower() not in NOT_HEADERS}
    headers.setdefault("content-type", "application/json")
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


async def relay_once(session: aiohttp.ClientSession, source: str, target: str) -> None:
    """Subscribe to ``source`` and forward its deliveries until the stream ends."""
    headers = {"Accept": "text/event-stream"}
    async with session.get(source, headers=headers, timeout=aiohttp.ClientTimeout()) as resp:
        resp.raise_for_status()
        log.info("relay connected: %s → %s", source, target)
        async for event in sse_events(resp.content):
            try:
                await forward(session, target, event)
            except aiohttp.ClientError as exc:
                log.warning("could not forward a relayed delivery to %s: %r", target, exc)


async def run_relay(source: str, target: str, *, max_backoff: float = 30.0) -> None:
    """Forward from the relay until cancelled, reconnecting with backoff."""
    delay = 1.0
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                await relay_once(session, source, target)
                delay = 1.0
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("relay %s: %r; reconnecting in %.0f s", source, exc, delay)
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
