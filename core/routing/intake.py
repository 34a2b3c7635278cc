"""From a verified delivery to feature jobs: parse, skip, route. Pure (no I/O).

The worker's route task (``workers/routing.py``) runs this on the body the receiver
kept; a receiver that hands jobs to another sender runs it before it answers. Either
way the rules are these:

- the body is JSON (or GitHub's form encoding with one ``payload`` field), parsed
  strictly (orjson): nesting deeper than 1,024 levels, ``NaN``/``Infinity``, lone
  surrogates and invalid UTF-8 are refused, a declared charset is honoured or refused;
- :class:`core.payloads.Envelope` parses it totally (a missing or odd field is named);
- ``ping`` is answered ``pong``; an event a bot sent (the App's own ``<slug>[bot]``, any
  ``[bot]`` with ``ignore_bots``) is skipped; installation events never are;
- every feature's router runs (its handlers only read the payload and add jobs); no job
  is "ignored".
"""

from __future__ import annotations

import typing
import urllib.parse
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Envelope, PayloadError
from core.routing.dispatch import Dispatch, Job


class Refused(Exception):
    """A delivery that cannot be routed: ``outcome`` is ``malformed`` (the body is not a
    JSON object) or ``bad_payload`` (a field is missing or has an odd value)."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class Routed:
    """What a delivery comes to: ``outcome`` (``queued``, ``ping``, ``bot_sender``,
    ``ignored``), its jobs (``queued`` only) and a word on why (the zen of a ping)."""

    outcome: str
    envelope: Envelope
    jobs: tuple[Job, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class Skips:
    """Whose events are skipped: the App's own slug, and whether any bot's are."""

    app_slug: str | None = None
    ignore_bots: bool = True


def handled_events(router: Router) -> frozenset[str]:
    """The event names (``X-GitHub-Event``) some route of ``router`` handles."""
    return frozenset({*router._shallow_routes, *router._deep_routes})


def route_body(
    event: sansio.Event, router: Router, *, skips: Skips, content_type: str = "application/json"
) -> Routed:
    """Parse ``event``'s raw body (``event.data`` is the bytes) and route it."""
    data = parse_body(content_type, event.data)
    parsed = sansio.Event(data, event=event.event, delivery_id=event.delivery_id)
    return route(parsed, router, skips=skips)


def route(event: sansio.Event, router: Router, *, skips: Skips) -> Routed:
    """The outcome and jobs of a parsed delivery; :class:`Refused` for a bad payload."""
    try:
        envelope = Envelope.parse(event.event, str(event.delivery_id), event.data)
    except PayloadError as exc:
        raise Refused("bad_payload", str(exc)) from None
    if envelope.event == "ping":
        return Routed("ping", envelope, message=str(event.data.get("zen") or ""))
    if is_own_or_bot_sender(envelope, skips):
        return Routed("bot_sender", envelope, message="sender is a bot")
    dispatch = Dispatch(envelope)
    try:
        for handler in router.fetch(event):
            _run_now(handler(event, dispatch))
    except PayloadError as exc:
        raise Refused("bad_payload", str(exc)) from None
    except Exception as exc:
        # Parsing is meant to be total; a shape it missed is still the sender's input.
        raise Refused(
            "bad_payload",
            f"payload has an unexpected shape for {envelope.event}.{envelope.action}: "
            f"{type(exc).__name__}",
        ) from exc
    if not dispatch.jobs:
        what = f"{envelope.event}.{envelope.action}" if envelope.action else envelope.event
        return Routed("ignored", envelope, message=f"Steward does not act on {what}")
    return Routed("queued", envelope, jobs=tuple(dispatch.jobs))


def _run_now(awaitable: Awaitable[Any]) -> None:
    """Run a handler that never waits (they only read the payload) without a loop."""
    coroutine = typing.cast(Coroutine[Any, Any, Any], awaitable)
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("a route handler awaited something; handlers must not do I/O")


def is_own_or_bot_sender(envelope: Envelope, skips: Skips) -> bool:
    """Events a bot caused never trigger actions: no loops with ourselves or other bots."""
    sender = envelope.sender
    if sender is None or envelope.event.startswith("installation"):
        return False
    own = f"{skips.app_slug}[bot]" if skips.app_slug else None
    return sender.login == own or (skips.ignore_bots and sender.is_bot)


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The payload object of a delivery, JSON or form-encoded as GitHub sends them.

    JSON is parsed strictly (orjson): nesting deeper than 1,024 levels, ``NaN`` and
    ``Infinity``, lone surrogates and invalid UTF-8 are refused; a declared charset is
    honoured when Python knows it and refused when it does not.
    """
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = _charset(params)
    if mime == "application/json" and charset.lower() in ("utf-8", "utf8"):
        return _json_object(body)  # GitHub's case: orjson checks the UTF-8 itself
    try:
        text = body.decode(charset)
    except LookupError:
        raise Refused("malformed", f"unsupported charset {charset[:40]!r}") from None
    except UnicodeDecodeError:
        raise Refused("malformed", f"body is not valid {charset[:40]}") from None
    if mime == "application/x-www-form-urlencoded":
        text = _form_payload(text)
    elif mime != "application/json":
        raise Refused(
            "malformed",
            "content type must be application/json (set it in the App's webhook settings)",
        )
    return _json_object(text)


def _json_object(text: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise Refused("malformed", f"body is not valid JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict):
        raise Refused("malformed", "payload must be a JSON object")
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
        raise Refused("malformed", "form-encoded delivery without one `payload` field")
    return fields["payload"][0]
