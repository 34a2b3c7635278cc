"""The aiohttp web application: webhook receiver, health and readiness.

The receiver's acknowledgement does as little as can be trusted (see
docs/how-it-works.md, "The path of one event"):

- the edge: a body over GitHub's 25 MiB is refused (413) from its ``Content-Length``
  before it is read, and cut off at the limit while streaming; at most
  :attr:`EdgeLimits.max_reading` bodies are read at once (beyond: 503 with
  ``Retry-After``), each within :attr:`EdgeLimits.read_timeout` (408);
  ``X-Hub-Signature-256`` must be ``sha256=`` and the HMAC of the body (constant time;
  anything else 401), then the headers are checked (400);
- ``ping`` is answered ``pong``; an event no route handles is answered 200 without
  touching Redis;
- otherwise one atomic Redis script remembers the delivery id with its body and adds one
  ``steward.route`` message to the installation's lane (:mod:`core.streams`): 202, a
  redelivery 200 ``duplicate``, Redis down or silent 503. The worker parses, skips
  bots, routes and fans out (``workers/routing.py``).

A receiver built with a job sender (tests, another broker) routes before it answers
instead (:class:`JobPublisher`): 400 for a payload that cannot be routed, 200 for a bot's
event or one Steward does not act on, 202 with the task names.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from gidgethub import sansio
from gidgethub.routing import Router

from app import pipeline
from app.routes import Job, build_router
from core import streams
from core.deliveries import delivery_key
from core.logs import log_context
from core.metrics import record_delivery
from core.payloads import MAX_ID
from core.routing.intake import Refused, Routed, Skips, handled_events, parse_body, route_body
from core.settings import Settings
from core.tasks import DEFAULT_QUEUE, INTERACTIVE, ROUTE

log = logging.getLogger("steward.webhooks")

#: GitHub caps webhook payloads at 25 MB.
MAX_BODY = 25 * 1024 * 1024
REQUIRED_HEADERS = ("X-GitHub-Event", "X-GitHub-Delivery")
#: Event names (``issues``, ``pull_request_review``…) and delivery ids (GUIDs; tools
#: replaying deliveries use other printable ids).
EVENT_NAME = re.compile(r"[a-z_]{1,64}")
DELIVERY_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
#: The one signature accepted: HMAC-SHA256, hex (GitHub's ``X-Hub-Signature-256``).
SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
#: The top-level installation object of a payload (GitHub writes it last): its id names
#: the lane a delivery waits in. Only keys match: quotes inside JSON strings are escaped.
INSTALLATION = re.compile(rb'"installation"\s*:\s*\{\s*"id"\s*:\s*(\d{1,20})[\s,}]')
#: Seconds the receiver waits for Redis before it answers 503 (and drops the connection).
REDIS_TIMEOUT = 3.0


@dataclass(frozen=True)
class EdgeLimits:
    """What the receiver lets a sender cost it."""

    #: Largest body (GitHub's limit); larger ones are refused (413) unread.
    max_body: int = MAX_BODY
    #: Bodies read at once; beyond, 503 with ``Retry-After``.
    max_reading: int = 32
    #: Seconds to receive a whole body (GitHub itself gives up after 10).
    read_timeout: float = 10.0
    #: ``Retry-After`` of a 503, in seconds.
    retry_after: int = 5


@dataclass(frozen=True)
class Delivery:
    """A verified delivery as the stream receiver queues it."""

    delivery_id: str
    event: str
    body: bytes
    content_type: str
    installation_id: int | None


class StreamPublisher:
    """Remember the delivery with its body and queue its route message, in one script.

    One round trip, no kombu on the request path: the delivery key (holding the body
    until the route task has fanned it out) and the message land together, or (a
    duplicate delivery, a Redis failure) neither does. The calls share one pipelined
    connection (:mod:`app.pipeline`) where the URL allows, else they go through redis-py;
    either way a call gets ``timeout`` seconds.
    """

    def __init__(
        self, redis_url: str, ttl: int, fallback: aioredis.Redis, *, timeout: float = REDIS_TIMEOUT
    ) -> None:
        """Queue to the Redis at ``redis_url``; ``fallback`` serves URLs the pipeline can't."""
        self.ttl = ttl
        self.timeout = timeout
        self.pipeline = (
            pipeline.PipelinedRedis(redis_url, timeout=timeout)
            if pipeline.supports(redis_url)
            else None
        )
        self.script = fallback.register_script(streams.QUEUE_SCRIPT)

    async def __call__(self, delivery: Delivery) -> bool:
        """Queue ``delivery`` unless it was seen; True when queued."""
        kwargs = {
            "delivery_id": delivery.delivery_id,
            "event": delivery.event,
            "installation_id": delivery.installation_id,
            "content_type": delivery.content_type,
        }
        message = streams.task_message(ROUTE.name, kwargs, DEFAULT_QUEUE)
        lane = streams.lane_of(delivery.installation_id)
        keys = [delivery_key(delivery.delivery_id)]
        args: list[bytes | str | int] = [
            self.ttl,
            delivery.body,
            DEFAULT_QUEUE,
            INTERACTIVE,
            lane,
            message,
        ]
        if self.pipeline is not None:
            return bool(await self.pipeline.evalsha(streams.QUEUE_SCRIPT, keys, args))
        async with asyncio.timeout(self.timeout):
            return bool(await self.script(keys=keys, args=args))

    async def close(self) -> None:
        """Close the pipelined connection."""
        if self.pipeline is not None:
            await self.pipeline.close()


class JobPublisher:
    """Remember the delivery, then hand each of its routed jobs to ``send``; a failed
    send forgets the delivery so GitHub's retry is not mistaken for a duplicate."""

    def __init__(self, redis: aioredis.Redis, ttl: int, send: Callable[[Job], None]) -> None:
        """Remember deliveries in ``redis`` for ``ttl`` seconds; ``send`` takes each job."""
        self.redis, self.ttl, self.send = redis, ttl, send

    async def __call__(self, delivery_id: str, jobs: list[Job]) -> bool:
        """Send ``jobs`` unless ``delivery_id`` was seen; True when sent."""
        key = delivery_key(delivery_id)
        if not await self.redis.set(key, "1", nx=True, ex=self.ttl):
            return False
        try:
            # One hop to a thread for all of this delivery's jobs: publishing may block.
            await asyncio.to_thread(_send_each, self.send, jobs)
        except Exception:
            await self.redis.delete(key)
            raise
        return True


def sending_publisher(redis: aioredis.Redis, ttl: int, send: Callable[[Job], None]) -> JobPublisher:
    """A receiver's publisher that routes at the edge and hands jobs to ``send``."""
    return JobPublisher(redis, ttl, send)


def _send_each(send: Callable[[Job], None], jobs: list[Job]) -> None:
    for job in jobs:
        send(job)


#: How a receiver queues: a delivery as it came (the worker routes), or routed jobs.
Publish = StreamPublisher | JobPublisher


@dataclass
class Receiver:
    """What the webhook handler needs, injected."""

    settings: Settings
    redis: aioredis.Redis
    publish: Publish
    router: Router
    ready_checks: dict[str, Callable[[], Awaitable[None]]]
    limits: EdgeLimits = field(default_factory=EdgeLimits)
    reading: asyncio.Semaphore = field(init=False)
    events: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.reading = asyncio.Semaphore(self.limits.max_reading)
        self.events = handled_events(self.router)

    @property
    def skips(self) -> Skips:
        """Whose events the router skips."""
        return Skips(app_slug=self.settings.app_slug, ignore_bots=self.settings.ignore_bots)


RECEIVER = web.AppKey("receiver", Receiver)
#: How a delivery was answered (``steward_deliveries_total{outcome}``), set on its response.
OUTCOME = web.ResponseKey("outcome", str)
#: Outcomes of deliveries refused before their event is trusted, by HTTP status.
REFUSED = {
    400: "malformed",
    401: "bad_signature",
    408: "too_slow",
    413: "too_large",
    503: "busy",
}


JSON = "application/json"
#: The answer to a delivery queued by the stream receiver.
QUEUED = orjson.dumps({"queued": [ROUTE.name]})
#: Headers of a refusal kept in its JSON answer.
KEPT_HEADERS = frozenset({"retry-after", "connection"})


def _json(code: int, **body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=code, content_type="application/json")


def _answer(outcome: str, response: web.Response) -> web.Response:
    response[OUTCOME] = outcome
    return response


def _refuse(request: web.Request, exc: web.HTTPException) -> web.HTTPException:
    """``exc``, answered, then the connection closed: the rest of the body is never read
    (aiohttp would otherwise read and drop it for up to 10 s, its lingering time)."""
    protocol, transport = request.protocol, request.transport
    task = asyncio.current_task()
    if protocol is not None and transport is not None and task is not None:
        protocol._force_close = True  # aiohttp's own flag: no lingering, no keep-alive
        # The request's task ends once the answer is written; the connection closes then.
        task.add_done_callback(lambda _: transport.close())
    return exc


def signature_digest(headers: Any) -> str:
    """The hex HMAC in ``X-Hub-Signature-256`` (401 unless it is ``sha256=`` + 64 hex)."""
    signature = headers.get("X-Hub-Signature-256")
    if not signature:
        raise web.HTTPUnauthorized(
            text="missing X-Hub-Signature-256: set the App's webhook secret to WEBHOOK_SECRET"
        )
    found = SIGNATURE.fullmatch(signature)
    if found is None:
        raise web.HTTPUnauthorized(text="X-Hub-Signature-256 must be sha256=<hex HMAC-SHA256>")
    return found.group(1).lower()


def verify_signature(body: bytes, digest: str, secret: str) -> None:
    """401 unless ``digest`` is the HMAC-SHA256 of ``body`` under ``secret``."""
    expected = hmac.digest(secret.encode(), body, "sha256")
    if not hmac.compare_digest(expected, bytes.fromhex(digest)):
        raise web.HTTPUnauthorized(
            text="signature does not match: verify that the webhook secret matches the value "
            "of the WEBHOOK_SECRET environment variable"
        )


def event_headers(headers: Any) -> tuple[str, str]:
    """``(event, delivery id)`` from the headers (400 when missing or odd)."""
    missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
    if missing:
        raise web.HTTPBadRequest(text=f"missing header(s): {', '.join(missing)}")
    event, delivery = headers["X-GitHub-Event"], headers["X-GitHub-Delivery"]
    if not EVENT_NAME.fullmatch(event) or not DELIVERY_ID.fullmatch(delivery):
        raise web.HTTPBadRequest(text="X-GitHub-Event or X-GitHub-Delivery is not a valid value")
    return event, delivery


def verify_delivery(headers: Any, body: bytes, secret: str) -> sansio.Event:
    """Signature first, then headers and body, as one parsed event (``web.HTTPException``
    subclasses for what is refused)."""
    verify_signature(body, signature_digest(headers), secret)
    event, delivery = event_headers(headers)
    try:
        data = parse_body(headers.get("Content-Type", ""), body)
    except Refused as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return sansio.Event(data, event=event, delivery_id=delivery)


def installation_in(body: bytes) -> int | None:
    """The id of the payload's installation object, found without parsing (the last
    ``"installation": {"id": N`` of the body); None when there is none or it is odd.

    Only the lane depends on it: the route task reads the installation from the parsed
    payload for everything it queues.
    """
    at = body.rfind(b'"installation"')
    found = INSTALLATION.match(body, at) if at >= 0 else None
    if found is None:
        return None
    value = int(found.group(1))
    return value if 0 < value <= MAX_ID else None


async def read_body(request: web.Request, limits: EdgeLimits, reading: asyncio.Semaphore) -> bytes:
    """The body, read within the edge's limits (413, 408, 503 with ``Retry-After``).

    A body that has all arrived with its headers (GitHub's deliveries, mostly) is taken
    as it is; only one still arriving takes a reader's place and runs against the clock.
    """
    length = request.content_length
    if length is not None and length > limits.max_body:
        raise _refuse(request, web.HTTPRequestEntityTooLarge(limits.max_body, length))
    if request.content.is_eof():
        return await request.read()
    if reading.locked():
        raise _refuse(
            request,
            web.HTTPServiceUnavailable(
                text="too many deliveries being read at once; retry later",
                headers={"Retry-After": str(limits.retry_after)},
            ),
        )
    async with reading:
        try:
            async with asyncio.timeout(limits.read_timeout):
                return await request.read()
        except TimeoutError:
            raise _refuse(
                request, web.HTTPRequestTimeout(text="the body did not arrive in time")
            ) from None
        except web.HTTPRequestEntityTooLarge as exc:
            raise _refuse(request, exc) from None


async def handle_webhook(request: web.Request) -> web.Response:
    """POST WEBHOOK_PATH: check, verify, remember and queue; 202 when queued."""
    receiver = request.app[RECEIVER]
    started = time.perf_counter()
    try:
        digest = signature_digest(request.headers)
        body = await read_body(request, receiver.limits, receiver.reading)
        verify_signature(body, digest, receiver.settings.webhook_secret or "")
        event, delivery_id = event_headers(request.headers)
    except web.HTTPException as exc:
        record_delivery("unknown", REFUSED.get(exc.status, f"http_{exc.status}"))
        raise
    content_type = request.headers.get("Content-Type", "")
    if event == "ping" or not isinstance(receiver.publish, StreamPublisher):
        response = await _route_here(
            receiver, sansio.Event(body, event=event, delivery_id=delivery_id), content_type
        )
    elif event not in receiver.events:
        response = _answer("ignored", _json(200, ignored=f"Steward does not act on {event}"))
    else:
        delivery = Delivery(delivery_id, event, body, content_type, installation_in(body))
        response = await _queue_delivery(receiver.publish, delivery)
    record_delivery(event, response.get(OUTCOME, "answered"))
    log.info(
        "%s %s → %d in %.1f ms",
        event,
        delivery_id,
        response.status,
        (time.perf_counter() - started) * 1000,
    )
    return response


async def _queue_delivery(publish: StreamPublisher, delivery: Delivery) -> web.Response:
    try:
        first = await publish(delivery)
    except Exception as exc:
        log.error(
            "BROKER DOWN: could not queue delivery %s (%r); answering 503",
            delivery.delivery_id,
            exc,
        )
        return _unavailable()
    if not first:
        return _answer("duplicate", _json(200, duplicate=True))
    return _answer("queued", web.Response(body=QUEUED, status=202, content_type=JSON))


def _unavailable() -> web.Response:
    response = _json(503, error="queue unavailable; redeliver this event later")
    response.headers["Retry-After"] = str(EdgeLimits.retry_after)
    return _answer("unavailable", response)


async def _route_here(receiver: Receiver, event: sansio.Event, content_type: str) -> web.Response:
    """Route before answering: a ping, or a receiver that sends jobs itself."""
    try:
        routed = route_body(event, receiver.router, skips=receiver.skips, content_type=content_type)
    except Refused as exc:
        record_delivery(event.event if exc.outcome == "bad_payload" else "unknown", exc.outcome)
        log.warning("refused delivery %s: %s", event.delivery_id, exc)
        if exc.__cause__ is not None:
            log.error("a route failed on %s", event.event, exc_info=exc.__cause__)
        raise web.HTTPBadRequest(text=str(exc)) from None
    with log_context(
        delivery=routed.envelope.delivery_id, installation=routed.envelope.installation_id
    ):
        return await _answer_routed(receiver, routed)


async def _answer_routed(receiver: Receiver, routed: Routed) -> web.Response:
    if routed.outcome == "ping":
        return _answer("ping", _json(200, msg="pong", zen=routed.message or None))
    if routed.outcome == "bot_sender":
        return _answer("bot_sender", _json(200, ignored=routed.message))
    if routed.outcome == "ignored":
        return _answer("ignored", _json(200, ignored=routed.message))
    jobs = list(routed.jobs)
    if not isinstance(receiver.publish, JobPublisher):  # a ping the stream receiver routed
        return _answer("ignored", _json(200, ignored="nothing to queue"))
    try:
        first = await receiver.publish(routed.envelope.delivery_id, jobs)
    except Exception:
        log.exception("BROKER DOWN: could not queue %s; answering 503", [j.task for j in jobs])
        return _unavailable()
    if not first:
        return _answer("duplicate", _json(200, duplicate=True))
    return _answer("queued", _json(202, queued=[job.task for job in jobs]))


async def handle_health(request: web.Request) -> web.Response:
    """GET /healthz: the process is alive (and which one: several may share the port)."""
    return _json(200, status="ok", pid=os.getpid())


async def handle_ready(request: web.Request) -> web.Response:
    """GET /readyz: every dependency (Redis, database) answers."""
    receiver = request.app[RECEIVER]
    results: dict[str, str] = {}
    for name, check in receiver.ready_checks.items():
        try:
            await asyncio.wait_for(check(), timeout=3)
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in results.values())
    return _json(200 if ok else 503, status="ready" if ok else "not ready", checks=results)


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn 4xx/5xx exceptions into JSON bodies with a clear message."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status != 404:
            delivery = request.headers.get("X-GitHub-Delivery", "-")[:100]
            log.warning(
                "rejected %s %s (delivery %r): %d %s",
                request.method,
                request.path,
                delivery,
                exc.status,
                exc.text,
            )
        return web.Response(
            status=exc.status,
            text=json.dumps({"error": exc.text or exc.reason}),
            content_type="application/json",
            headers={k: v for k, v in exc.headers.items() if k.lower() in KEPT_HEADERS},
        )


def create_app(receiver: Receiver) -> web.Application:
    """The web application with the webhook, health and readiness routes."""
    app = web.Application(
        client_max_size=receiver.limits.max_body + 1, middlewares=[errors_as_json]
    )
    app[RECEIVER] = receiver
    app.router.add_post(receiver.settings.webhook_path, handle_webhook)
    app.router.add_get("/healthz", handle_health)
    app.router.add_get("/readyz", handle_ready)
    return app


def default_router() -> Router:
    """The composed router of every feature (kept here so tests can swap it)."""
    return build_router()
