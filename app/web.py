"""The aiohttp web application: webhook receiver, health and readiness.

A delivery is verified (``X-Hub-Signature-256``, constant-time), de-duplicated on
``X-GitHub-Delivery`` in Redis, routed, and its jobs queued to Celery; the answer
(202) goes back in milliseconds. Nothing is queued for a rejected delivery, and a
broker failure is answered 503 so GitHub records the failed delivery.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from gidgethub import ValidationFailure, sansio
from gidgethub.routing import Router

from app import pipeline
from app.routes import Dispatch, Job, build_router
from core import streams
from core.deliveries import delivery_key
from core.logs import log_context
from core.metrics import record_delivery
from core.payloads import Envelope, PayloadError
from core.settings import Settings
from core.tasks import TASKS

log = logging.getLogger("steward.webhooks")

#: GitHub caps webhook payloads at 25 MB.
MAX_BODY = 25 * 1024 * 1024
REQUIRED_HEADERS = ("X-GitHub-Event", "X-GitHub-Delivery")
#: Event names (``issues``, ``pull_request_review``…) and delivery ids (GUIDs; tools
#: replaying deliveries use other printable ids).
EVENT_NAME = re.compile(r"[a-z_]{1,64}")
DELIVERY_ID = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


#: Queue a delivery's jobs once: True when queued, False for a delivery already seen.
Publish = Callable[[str, list[Job]], Awaitable[bool]]


@dataclass
class Receiver:
    """What the webhook handler needs, injected."""

    settings: Settings
    redis: aioredis.Redis
    publish: Publish
    router: Router
    ready_checks: dict[str, Callable[[], Awaitable[None]]]


RECEIVER = web.AppKey("receiver", Receiver)
#: How a delivery was answered (``steward_deliveries_total{outcome}``), set on its response.
OUTCOME = web.ResponseKey("outcome", str)
#: Outcomes of deliveries refused before their event is trusted, by HTTP status.
REFUSED = {400: "malformed", 401: "bad_signature", 413: "too_large"}


def _json(code: int, **body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=code, content_type="application/json")


def _answer(outcome: str, response: web.Response) -> web.Response:
    response[OUTCOME] = outcome
    return response


def verify_delivery(headers: Any, body: bytes, secret: str) -> sansio.Event:
    """Check signature first, then headers and body; raise ``web.HTTPException`` subclasses."""
    signature = headers.get("X-Hub-Signature-256")
    if not signature:
        raise web.HTTPUnauthorized(
            text="missing X-Hub-Signature-256: set the App's webhook secret to WEBHOOK_SECRET"
        )
    try:
        sansio.validate_event(body, signature=signature, secret=secret)
    except ValidationFailure:
        raise web.HTTPUnauthorized(
            text="signature does not match: verify that the webhook secret matches the value "
            "of the WEBHOOK_SECRET environment variable"
        ) from None
    missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
    if missing:
        raise web.HTTPBadRequest(text=f"missing header(s): {', '.join(missing)}")
    event, delivery = headers["X-GitHub-Event"], headers["X-GitHub-Delivery"]
    if not EVENT_NAME.fullmatch(event) or not DELIVERY_ID.fullmatch(delivery):
        raise web.HTTPBadRequest(text="X-GitHub-Event or X-GitHub-Delivery is not a valid value")
    data = parse_body(headers.get("Content-Type", ""), body)
    return sansio.Event(data, event=event, delivery_id=delivery)


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The payload object of a delivery, JSON or form-encoded as GitHub sends them.

    JSON is parsed strictly (orjson): nesting deeper than 1,024 levels, ``NaN`` and
    ``Infinity``, lone surrogates and invalid UTF-8 are refused; a declared charset is
    honoured when Python knows it and refused (400) when it does not.
    """
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = _charset(params)
    if mime == "application/json" and charset.lower() in ("utf-8", "utf8"):
        return _json_object(body)  # GitHub's case: orjson checks the UTF-8 itself
    try:
        text = body.decode(charset)
    except LookupError:
        raise web.HTTPBadRequest(text=f"unsupported charset {charset[:40]!r}") from None
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text=f"body is not valid {charset[:40]}") from None
    if mime == "application/x-www-form-urlencoded":
        text = _form_payload(text)
    elif mime != "application/json":
        raise web.HTTPBadRequest(
            text="content type must be application/json (set it in the App's webhook settings)"
        )
    return _json_object(text)


def _json_object(text: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"body is not valid JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="payload must be a JSON object")
    return data


def _charset(params: str) -> str:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


def _form_payload(text: str) -> str:
    """The ``payload`` field of a form-encoded delivery (GitHub's other content type)."""
    fields = urllib.parse.parse_qs(text, max_num_fields=20)
    if len(fields.get("payload", [])) != 1:
        raise web.HTTPBadRequest(text="form-encoded delivery without one `payload` field")
    return fields["payload"][0]


def is_own_or_bot_sender(envelope: Envelope, settings: Settings) -> bool:
    """Events a bot caused never trigger actions: no loops with ourselves or other bots."""
    sender = envelope.sender
    if sender is None or envelope.event.startswith("installation"):
        return False
    own = f"{settings.app_slug}[bot]" if settings.app_slug else None
    return sender.login == own or (settings.ignore_bots and sender.is_bot)


async def handle_webhook(request: web.Request) -> web.Response:
    """POST WEBHOOK_PATH: verify, de-duplicate, route, queue; 202 when something was queued."""
    receiver = request.app[RECEIVER]
    started = time.perf_counter()
    try:
        body = await request.read()
        event = verify_delivery(request.headers, body, receiver.settings.webhook_secret or "")
    except web.HTTPException as exc:
        record_delivery("unknown", REFUSED.get(exc.status, f"http_{exc.status}"))
        raise
    try:
        envelope = Envelope.parse(event.event, str(event.delivery_id), event.data)
    except PayloadError as exc:
        record_delivery(event.event, "bad_payload")
        raise web.HTTPBadRequest(text=str(exc)) from None
    with log_context(delivery=envelope.delivery_id, installation=envelope.installation_id):
        try:
            response = await _accept(receiver, event, envelope)
        except web.HTTPException:
            record_delivery(event.event, "bad_payload")
            raise
        record_delivery(event.event, response.get(OUTCOME, "answered"))
        log.info(
            "%s.%s → %d in %.1f ms",
            envelope.event,
            envelope.action,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return response


async def _accept(receiver: Receiver, event: sansio.Event, envelope: Envelope) -> web.Response:
    if envelope.event == "ping":
        return _answer("ping", _json(200, msg="pong", zen=event.data.get("zen")))
    if is_own_or_bot_sender(envelope, receiver.settings):
        return _answer("bot_sender", _json(200, ignored="sender is a bot"))
    dispatch = Dispatch(envelope)
    try:
        await receiver.router.dispatch(event, dispatch)
    except PayloadError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except Exception:
        # Parsing is meant to be total; a shape it missed is still the sender's input,
        # not our outage: answer 400 (GitHub would retry a 5xx forever) and log the bug.
        log.exception("a route failed on %s.%s; answering 400", envelope.event, envelope.action)
        raise web.HTTPBadRequest(
            text=f"payload has an unexpected shape for {envelope.event}.{envelope.action}"
        ) from None
    if not dispatch.jobs:
        what = f"{envelope.event}.{envelope.action}" if envelope.action else envelope.event
        return _answer("ignored", _json(200, ignored=f"Steward does not act on {what}"))
    return await _queue_once(receiver, envelope, dispatch.jobs)


async def _queue_once(receiver: Receiver, envelope: Envelope, jobs: list[Job]) -> web.Response:
    try:
        first = await receiver.publish(envelope.delivery_id, jobs)
    except Exception:
        log.exception("BROKER DOWN: could not queue %s; answering 503", [j.task for j in jobs])
        return _answer(
            "unavailable", _json(503, error="queue unavailable; redeliver this event later")
        )
    if not first:
        return _answer("duplicate", _json(200, duplicate=True))
    return _answer("queued", _json(202, queued=[job.task for job in jobs]))


class StreamPublisher:
    """Remember the delivery and queue all its tasks in one atomic Redis script.

    One round trip, no kombu on the request path: the delivery id and every task
    message land together, or (a duplicate delivery, a Redis failure) none do. The
    calls share one pipelined connection (:mod:`app.pipeline`) where the URL allows,
    else they go through redis-py.
    """

    def __init__(self, redis_url: str, ttl: int, fallback: aioredis.Redis) -> None:
        """Queue to the Redis at ``redis_url``; ``fallback`` serves URLs the pipeline can't."""
        self.ttl = ttl
        self.pipeline = pipeline.PipelinedRedis(redis_url) if pipeline.supports(redis_url) else None
        self.script = fallback.register_script(streams.QUEUE_SCRIPT)

    async def __call__(self, delivery_id: str, jobs: list[Job]) -> bool:
        """Queue ``jobs`` unless ``delivery_id`` was seen; True when queued."""
        queues = [TASKS[job.task].queue for job in jobs]
        messages = [
            (queue, streams.task_message(job.task, job.kwargs, queue))
            for queue, job in zip(queues, jobs, strict=True)
        ]
        keys, args = streams.queue_once_args(delivery_key(delivery_id), self.ttl, messages)
        if self.pipeline is not None:
            return bool(await self.pipeline.evalsha(streams.QUEUE_SCRIPT, keys, args))
        return bool(await self.script(keys=keys, args=args))

    async def close(self) -> None:
        """Close the pipelined connection."""
        if self.pipeline is not None:
            await self.pipeline.close()


def sending_publisher(redis: aioredis.Redis, ttl: int, send: Callable[[Job], None]) -> Publish:
    """Remember the delivery, then hand each job to ``send`` (a Celery sender, or a
    test's capture); a failed send forgets the delivery so GitHub's retry is not
    mistaken for a duplicate.
    """

    async def publish(delivery_id: str, jobs: list[Job]) -> bool:
        key = delivery_key(delivery_id)
        if not await redis.set(key, "1", nx=True, ex=ttl):
            return False
        try:
            # One hop to a thread for all of this delivery's jobs: publishing may block.
            await asyncio.to_thread(_send_each, send, jobs)
        except Exception:
            await redis.delete(key)
            raise
        return True

    return publish


def _send_each(send: Callable[[Job], None], jobs: list[Job]) -> None:
    for job in jobs:
        send(job)


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
        )


def create_app(receiver: Receiver) -> web.Application:
    """The web application with the webhook, health and readiness routes."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[errors_as_json])
    app[RECEIVER] = receiver
    app.router.add_post(receiver.settings.webhook_path, handle_webhook)
    app.router.add_get("/healthz", handle_health)
    app.router.add_get("/readyz", handle_ready)
    return app


def default_router() -> Router:
    """The composed router of every feature (kept here so tests can swap it)."""
    return build_router()
