"""The fake's Hookshot: it sends an App's webhooks itself and keeps its delivery log.

Like GitHub, the fake POSTs each signed delivery to the App's webhook URL once, with a
timeout, and records the attempt: what was sent, what came back (or that nothing
could connect), how long it took. GitHub never retries by itself; the log is served
over REST (``GET /app/hook/deliveries``, ``GET /app/hook/deliveries/{delivery_id}``)
and ``POST /app/hook/deliveries/{delivery_id}/attempts`` sends the same delivery
again (same ``X-GitHub-Delivery`` and body) as a new row with ``redelivery: true``.

A test configures the target with ``fake.hooks.configure(url, secret)`` and sends with
``fake.hooks.send(event, payload)`` (from a thread without an event loop) or ``await
fake.hooks.deliver(event, payload)`` (inside one).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp

from fakegithub.deliveries import delivery_headers
from fakegithub.http import HTTPError
from fakegithub.paging import DEFAULT_PER_PAGE, MAX_PER_PAGE, positive
from fakegithub.state import iso

if TYPE_CHECKING:
    from fakegithub.fake import FakeGitHub

#: GitHub gives a webhook receiver 10 seconds to answer.
DEFAULT_TIMEOUT = 10.0
#: What GitHub's log says when nothing answered at the URL.
FAILED_TO_CONNECT = "failed to connect to host"
TIMED_OUT = "timed out"
_CURSOR = re.compile(r"v1_(\d+)")


@dataclass
class HookDelivery:
    """One attempt to deliver one event (a row of the App's delivery log)."""

    id: int
    guid: str
    app_id: int
    delivered_at: datetime
    redelivery: bool
    event: str
    payload: dict[str, Any]
    url: str
    request_headers: dict[str, str]
    duration: float = 0.0
    status: str = ""
    status_code: int = 0
    response_headers: dict[str, str] | None = None
    response_body: str | None = None

    @property
    def action(self) -> str | None:
        """The payload's ``action`` (None for events without one, e.g. ``ping``)."""
        action = self.payload.get("action")
        return action if isinstance(action, str) else None

    @property
    def installation_id(self) -> int | None:
        """The installation the payload names."""
        return _id_of(self.payload.get("installation"))

    @property
    def repository_id(self) -> int | None:
        """The repository the payload names."""
        return _id_of(self.payload.get("repository"))

    @property
    def ok(self) -> bool:
        """The receiver answered 2xx."""
        return 200 <= self.status_code < 300

    def item_json(self) -> dict[str, Any]:
        """Render as GitHub's ``hook-delivery-item`` (the list view)."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": self.installation_id,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }

    def detail_json(self) -> dict[str, Any]:
        """Render as GitHub's ``hook-delivery`` (with the request and the response)."""
        return {
            **self.item_json(),
            "url": self.url,
            "request": {"headers": dict(self.request_headers), "payload": self.payload},
            "response": {"headers": self.response_headers, "payload": self.response_body},
        }


def _id_of(value: Any) -> int | None:
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, int) and not isinstance(found, bool) else None


@dataclass
class _Target:
    url: str
    secret: str
    app_id: int
    timeout: float


class Hookshot:
    """Sends the App's deliveries and keeps their log (one webhook per fake)."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.deliveries: list[HookDelivery] = []
        self._target: _Target | None = None
        self._lock = threading.Lock()
        self._running: set[asyncio.Task[HookDelivery]] = set()

    def configure(
        self, url: str, secret: str, *, app_id: int | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Point the App's webhook at ``url``, signed with ``secret``.

        ``app_id`` defaults to the only registered App.
        """
        if app_id is None:
            if len(self.fake.apps) != 1:
                raise ValueError("pass app_id= when zero or several apps are registered")
            app_id = next(iter(self.fake.apps))
        self._target = _Target(url, secret, app_id, timeout)

    def target(self) -> _Target:
        """The configured webhook (``RuntimeError`` before :meth:`configure`)."""
        if self._target is None:
            raise RuntimeError("call fake.hooks.configure(url, secret) before sending")
        return self._target

    async def deliver(
        self, event: str, payload: Mapping[str, Any], *, guid: str | None = None
    ) -> HookDelivery:
        """POST one signed delivery to the webhook URL and log the attempt."""
        body = json.dumps(payload).encode()
        target = self.target()
        headers = delivery_headers(event, body, secret=target.secret, delivery=guid)
        return await self._attempt(event, dict(payload), headers, redelivery=False)

    def send(
        self, event: str, payload: Mapping[str, Any], *, guid: str | None = None
    ) -> HookDelivery:
        """:meth:`deliver` from synchronous code (a thread without a running loop)."""
        return asyncio.run(self.deliver(event, payload, guid=guid))

    async def redeliver(self, delivery_id: int) -> HookDelivery:
        """Send a logged delivery again: same guid and body, signed with today's secret."""
        original = self.find(self.target().app_id, delivery_id)
        if original is None:
            raise KeyError(f"no delivery {delivery_id}")
        body = json.dumps(original.payload).encode()
        headers = delivery_headers(
            original.event, body, secret=self.target().secret, delivery=original.guid
        )
        return await self._attempt(original.event, original.payload, headers, redelivery=True)

    def schedule_redelivery(self, delivery_id: int) -> None:
        """Redeliver in the background of the running loop (GitHub answers 202 first)."""
        task = asyncio.get_running_loop().create_task(self.redeliver(delivery_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def idle(self) -> bool:
        """No redelivery is in flight."""
        return not self._running

    async def _attempt(
        self, event: str, payload: dict[str, Any], headers: dict[str, str], *, redelivery: bool
    ) -> HookDelivery:
        target = self.target()
        headers = {
            **headers,
            "User-Agent": "GitHub-Hookshot/fakegithub",
            "X-GitHub-Hook-ID": "1",
            "X-GitHub-Hook-Installation-Target-ID": str(target.app_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
        }
        row = HookDelivery(
            id=0,
            guid=headers["X-GitHub-Delivery"],
            app_id=target.app_id,
            delivered_at=self.fake.now(),
            redelivery=redelivery,
            event=event,
            payload=payload,
            url=target.url,
            request_headers=headers,
        )
        started = time.perf_counter()
        await _post(row, json.dumps(payload).encode(), target.timeout)
        row.duration = time.perf_counter() - started
        with self._lock:
            row.id = self.fake.next_id()
            self.deliveries.append(row)
        return row

    def log(self, app_id: int) -> list[HookDelivery]:
        """The App's delivery log, newest first."""
        with self._lock:
            rows = [d for d in self.deliveries if d.app_id == app_id]
        return sorted(rows, key=lambda d: d.id, reverse=True)

    def find(self, app_id: int, delivery_id: int) -> HookDelivery | None:
        """One row of the App's log by id."""
        return next((d for d in self.log(app_id) if d.id == delivery_id), None)

    def attempts(self, guid: str) -> list[HookDelivery]:
        """Every attempt to deliver ``guid``, oldest first (a test helper)."""
        with self._lock:
            return [d for d in self.deliveries if d.guid == guid]

    def clear(self) -> None:
        """Forget the log (the webhook stays configured)."""
        with self._lock:
            self.deliveries.clear()


async def _post(row: HookDelivery, body: bytes, timeout: float) -> None:
    """Send ``body`` to ``row.url`` and fill in the outcome, as Hookshot reports it."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(row.url, data=body, headers=row.request_headers) as response,
        ):
            row.response_body = await response.text(errors="replace")
            row.response_headers = dict(response.headers)
            row.status_code = response.status
    except aiohttp.ClientConnectorError:
        row.status = FAILED_TO_CONNECT
        return
    except TimeoutError:
        row.status = TIMED_OUT
        return
    except aiohttp.ClientError as exc:
        row.status = f"Invalid HTTP Response: {type(exc).__name__}"
        return
    ok = 200 <= row.status_code < 300
    row.status = "OK" if ok else f"Invalid HTTP Response: {row.status_code}"


def matches_status(row: HookDelivery, wanted: str | None) -> bool:
    """The list's ``status`` filter: ``success`` is a 2xx or 3xx answer.

    GitHub documents ``failure`` as 4xx and 5xx; the fake also counts attempts that got
    no answer at all (``status_code`` 0) as failures.
    """
    if wanted is None:
        return True
    success = 200 <= row.status_code < 400
    return success if wanted == "success" else not success


def page_deliveries(
    rows: Sequence[HookDelivery], query: Mapping[str, str], url: str
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a newest-first log and GitHub's ``Link`` header for the next one.

    The ``cursor`` names the newest delivery of a page (``v1_<id>``), so deliveries
    logged while a client pages do not shift the pages it has yet to read.
    """
    per_page = min(positive(query.get("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE)
    kept = [r for r in rows if matches_status(r, query.get("status"))]
    cursor = query.get("cursor")
    if cursor:
        found = _CURSOR.fullmatch(cursor)
        if found is None:
            raise HTTPError(400, f"`{cursor}` does not appear to be a valid cursor.")
        kept = [r for r in kept if r.id <= int(found.group(1))]
    page, rest = kept[:per_page], kept[per_page:]
    if not rest:
        return [r.item_json() for r in page], None
    params = {k: v for k, v in query.items() if k != "cursor"}
    params["cursor"] = f"v1_{rest[0].id}"
    return [r.item_json() for r in page], f'<{url}?{urlencode(params)}>; rel="next"'
