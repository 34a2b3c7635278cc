"""A Celery broker transport on Redis Streams: no task lost, no installation starved.

Kombu's Redis transport takes a message off a list with BRPOP and only afterwards
records it as unacknowledged: a worker killed between the two loses the message for
good (celery/celery#7950, celery/celery#4354, celery/kombu#305). Here every message
lives in a stream of its lane (:mod:`core.lanes`) read through one consumer group
(``workers``):

* a consumer takes messages with one script (:data:`core.lanes.FETCH_SCRIPT`) whose
  ``XREADGROUP`` hands a message over *and* records it in the group's pending list in the
  same step: there is no instant at which it is nowhere. The script serves the lanes
  with work round-robin, one message each in turn, and no background message while an
  interactive one waits; a consumer also keeps one of its slots for interactive work;
* a worker acknowledges a finished task (``acks_late``) with ``XACK`` + ``XDEL`` in one
  transaction, and gives a message back (warm shutdown, reject) by re-adding it to its
  lane and acknowledging it in one script;
* while a worker holds a message (reserved or running, a countdown included), it
  touches it (``XCLAIM`` to itself, resetting its idle time) every third of the claim
  time, so a long task is never taken from a live worker;
* every consumer claims (``XAUTOCLAIM``, :data:`core.lanes.CLAIM_SCRIPT`) messages idle
  longer than the claim time (``STEWARD_VISIBILITY_TIMEOUT``): a killed worker's tasks
  run again within seconds;
* with nothing to take, a consumer blocks on its queues' bells (``XREAD``), which every
  publish rings, so an idle worker wakes at once.

Celery's remote control (``celery inspect``, ``celery control``) and events (``celery
events``, Flower) use fanout exchanges and reply queues besides the task queues: those
go through Redis pub/sub and short-lived lists (:mod:`core.broadcast`), never a lane.

The web process queues without kombu (:func:`core.lanes.task_message`,
:data:`core.lanes.QUEUE_SCRIPT`): one atomic script records the delivery id and
appends its message, so a delivery is either queued and remembered, or not at all.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from queue import Empty
from typing import Any

import redis
from kombu.transport import TRANSPORT_ALIASES, virtual

from core.broadcast import Broadcasts, reply_queue
from core.lanes import (
    CLAIM_SCRIPT,
    CLASSES,
    FANOUT_SCRIPT,
    FETCH_SCRIPT,
    FIELD,
    GROUP,
    NO_LANE,
    PUT_SCRIPT,
    QUEUE_SCRIPT,
    STREAM_PREFIX,
    bell_key,
    class_of_stream,
    kombu_placement,
    lane_key,
    lane_of,
    lane_of_stream,
    lane_streams,
    lanes_key,
    placed,
    queue_depth,
    queue_once_args,
    queued_count,
    queued_messages,
    ring_key,
    stream_key,
    task_message,
)
from core.tasks import BACKGROUND

__all__ = [
    "ALIAS",
    "FANOUT_SCRIPT",
    "GROUP",
    "NO_LANE",
    "QUEUE_SCRIPT",
    "STREAM_PREFIX",
    "Transport",
    "broker_url",
    "lane_key",
    "lane_of",
    "placed",
    "queue_depth",
    "queue_once_args",
    "queued_count",
    "queued_messages",
    "register",
    "split_password",
    "stream_key",
    "task_message",
]

log = logging.getLogger(__name__)

#: Kombu's name for this transport (``broker_url = "steward://"``).
ALIAS = "steward"
#: Claim time when none is configured (seconds a held message may go untouched).
DEFAULT_CLAIM_AFTER = 30.0
#: The longest a consumer blocks in one read (its upkeep runs between reads).
MAX_BLOCK = 1.0


@dataclass(frozen=True)
class Entry:
    """One stream entry as a read returned it."""

    stream: str
    id: str
    fields: Mapping[bytes, bytes] | None

    @classmethod
    def of(cls, stream: bytes | str, entry_id: bytes, fields: Any) -> Entry:
        """From a reply (bytes, as the client does not decode); ``fields`` a mapping
        (redis-py's stream replies) or a flat list (a script's)."""
        name = stream.decode() if isinstance(stream, bytes) else stream
        if isinstance(fields, list):
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        return cls(name, entry_id.decode(), fields)


def broker_url(redis_url: str) -> str:
    """Celery's broker URL for this transport: the Redis host for the logs (its password
    left out); the Redis URL itself travels in the ``redis_url`` transport option."""
    parts = urllib.parse.urlsplit(redis_url)
    host = parts.hostname or "localhost"
    where = f"{host}:{parts.port}" if parts.port else host
    return f"{ALIAS}://{where}{parts.path if parts.scheme != 'unix' else ''}"


def split_password(redis_url: str) -> tuple[str, str | None]:
    """The Redis URL without its password, and the password: the password travels as the
    broker's (which Celery leaves out of ``inspect stats`` and Flower's pages), the rest
    in the ``redis_url`` transport option."""
    parts = urllib.parse.urlsplit(redis_url)
    if parts.password is None:
        return redis_url, None
    userinfo, _, where = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{where}" if user else where
    query = f"?{parts.query}" if parts.query else ""
    rest = f"{parts.scheme}://{netloc}{parts.path}{query}"
    return rest, urllib.parse.unquote(parts.password)


def register() -> None:
    """Make ``steward://`` a kombu transport (idempotent; called by the Celery factory)."""
    TRANSPORT_ALIASES.setdefault(ALIAS, "core.streams:Transport")


class QoS(virtual.QoS):
    """Acknowledging is ``XACK`` + ``XDEL``; giving back is re-add and acknowledge."""

    def ack(self, delivery_tag: Any) -> None:
        """Done: the message leaves the stream (safe from any thread)."""
        message = self._delivered.get(delivery_tag)
        if message is not None:
            self.channel.forget(message)
        super().ack(delivery_tag)  # type: ignore[no-untyped-call]

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        """Drop the message, or put it back at the end of its queue."""
        message = self._delivered.get(delivery_tag)
        if message is not None:
            if requeue:
                self.channel._restore(message)
            else:
                self.channel.forget(message)
        self._quick_ack(delivery_tag)


class Channel(virtual.Channel):
    """One consumer of the ``workers`` group (a unique name per channel)."""

    QoS = QoS
    do_restore = True
    supports_fanout = True

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        """Read the Redis URL and the claim time from the transport options (the password
        from the URL, or the connection's)."""
        super().__init__(connection, **kwargs)  # type: ignore[no-untyped-call]
        options = connection.client.transport_options
        # redis-py's stream replies are loosely typed; this module checks their shape.
        self.client: Any = redis.Redis.from_url(
            options["redis_url"],
            password=connection.client.password or None,
            socket_connect_timeout=3,
            health_check_interval=30,
        )
        self.mail = Broadcasts(
            self.client, lambda payload, queue: connection._deliver(payload, queue)
        )
        self.claim_after = float(options.get("visibility_timeout") or DEFAULT_CLAIM_AFTER)
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._scripts = {
            name: self.client.register_script(text)
            for name, text in (
                ("fetch", FETCH_SCRIPT),
                ("claim", CLAIM_SCRIPT),
                ("put", PUT_SCRIPT),
            )
        }
        self._bells: dict[str, str] = {}
        self._turn = 0
        self._next_touch = 0.0
        self._next_claim = 0.0

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        """Lanes and their groups are made when a message first needs them."""

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Publish (a follow-up task, beat): into the lane its task and installation say;
        a remote-control reply into its reply list."""
        if self.mail.owns(queue):
            self.mail.put(queue, message)
            return
        priority, lane = kombu_placement(message)
        self._scripts["put"](args=[queue, priority, lane, json.dumps(message)])

    def _put_fanout(
        self, exchange: str, message: dict[str, Any], routing_key: str, **_: Any
    ) -> None:
        """A broadcast (remote control, events): to every queue bound to ``exchange``."""
        self.mail.publish(exchange, message)

    def _queue_bind(self, exchange: str, *binding: str) -> None:
        """Bindings of the task queues stay in this process; a fanout one (``binding``:
        routing key, pattern, queue) is a broadcast."""
        if self.typeof(exchange).type == "fanout":  # type: ignore[no-untyped-call]
            self.mail.bind(exchange, binding[-1])

    def basic_consume(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        """Consume ``queue`` (a broadcast queue: subscribe to its exchange)."""
        self.mail.consume(queue)
        return super().basic_consume(queue, *args, **kwargs)  # type: ignore[no-untyped-call]

    def basic_cancel(self, consumer_tag: str) -> Any:
        """Stop consuming (a broadcast queue: unsubscribe)."""
        queue = self._tag_to_queue.get(consumer_tag)
        if queue is not None:
            self.mail.cancel(queue)
        return super().basic_cancel(consumer_tag)  # type: ignore[no-untyped-call]

    def _size(self, queue: str) -> int:
        if self.mail.owns(queue):
            return self.mail.size(queue)
        return queue_depth(self.client, queue)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        if self.mail.owns(queue):
            self.mail.delete(queue)
        else:
            super()._delete(queue, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _purge(self, queue: str) -> int:
        if self.mail.owns(queue):
            return self.mail.delete(queue)
        streams = lane_streams(self.client, queue)
        size = sum(int(self.client.xlen(stream)) for stream in streams)
        rings = [ring_key(queue, priority) for priority in CLASSES]
        self.client.delete(*streams, *rings, lanes_key(queue))
        return size

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        for entry in self._fetch([queue], free=1):
            payload = self._payload(entry.queue, entry)
            if payload is not None:
                return payload
        raise Empty()

    def drain_events(self, timeout: float | None = None, callback: Any = None) -> Any:
        """Touch what this channel holds, then read if the prefetch limit allows.

        The touch must not wait for room: a worker busy with all it may hold reads
        nothing, and its tasks would otherwise look abandoned after the claim time.
        """
        self._touch_if_due()
        return super().drain_events(timeout=timeout, callback=callback)  # type: ignore[no-untyped-call]

    def _get_many(self, queues: Sequence[str], timeout: float | None = None) -> None:
        """Deliver what the lanes hold (claimed messages of dead workers first) and what
        was broadcast or replied to this channel; with nothing to take, wait for a bell
        (a publish, a broadcast to this connection) up to ``timeout`` (at most
        :data:`MAX_BLOCK`), then look once more."""
        block = min(timeout or MAX_BLOCK, MAX_BLOCK)
        lanes = [queue for queue in queues if not self.mail.owns(queue)]
        if not lanes:  # another channel of this connection may wait on the bells for us
            if self.mail.poll(block=0.0 if self._bells_waited_elsewhere() else block):
                return
            raise Empty()
        if self.mail.listens and self.mail.poll(block=0.0):
            return
        if self._claim_if_due(lanes):
            return
        free = max(1, self.qos.can_consume_max_estimate() or 1)
        if self._deliver_all(self._fetch(lanes, free=free)):
            return
        if (
            block > 0
            and self._wait(lanes, block)
            and self._deliver_all(self._fetch(lanes, free=free))
        ):
            return
        raise Empty()

    def _wait(self, queues: Sequence[str], block: float) -> bool:
        """Block on the queues' bells and on those of the broadcasts any channel of this
        connection listens to (a worker's remote control); whether a queue's rang."""
        mails = [ch.mail for ch in self.connection.channels if isinstance(ch, Channel)]
        bells = {bell_key(queue): self._bells.get(queue, "0-0") for queue in queues}
        for mail in mails:
            bells.update(mail.bells())
        reply = self.client.xread(bells, count=1, block=int(block * 1000)) or []
        rang = {key.decode(): entries[-1][0].decode() for key, entries in reply}
        for mail in mails:
            mail.heard(rang)
        return any(bell_key(queue) in rang for queue in queues)

    def _bells_waited_elsewhere(self) -> bool:
        """Whether another channel of this connection consumes task queues (and so waits
        on the bells of this one's broadcasts): this one then only looks."""
        return any(
            ch is not self
            and isinstance(ch, Channel)
            and ch._consumers
            and any(not ch.mail.owns(queue) for queue in ch._active_queues)
            for ch in self.connection.channels
        )

    def _fetch(self, queues: Sequence[str], *, free: int) -> list[Lane]:
        """Take up to ``free`` messages, round-robin over lanes, interactive first; the
        queues take turns being first, so a worker of several serves each in turn."""
        turn = self._turn % max(1, len(queues))
        self._turn += 1
        order = [*queues[turn:], *queues[:turn]]
        reply = self._scripts["fetch"](
            args=[GROUP, self.consumer, free, self._background_room(free), *order]
        )
        bells, taken = reply
        self._bells = {q: b.decode() for q, b in zip(order, bells, strict=True)}
        return [Lane.of(item) for item in taken]

    def _background_room(self, free: int) -> int:
        """Background messages this channel may take now: it keeps one slot of its
        prefetch for interactive work (a long training run must not hold them all)."""
        limit = int(self.qos.prefetch_count or 0)
        if not limit or limit < 2:
            return free
        done = set(self.qos._dirty)  # acknowledged, not yet flushed out of _delivered
        held = sum(
            1
            for tag, message in list(self.qos._delivered.items())
            if tag not in done and message.delivery_info.get("steward_class") == BACKGROUND
        )
        return max(0, min(free, limit - 1 - held))

    def _deliver_all(self, entries: list[Lane]) -> int:
        return sum(
            self._deliver(entry.queue, entry, redelivered=entry.claimed) for entry in entries
        )

    def _touch_if_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_touch:
            self._touch_held()
            self._next_touch = now + self.claim_after / 3

    def _claim_if_due(self, queues: Sequence[str]) -> int:
        """Claim what dead workers held (every quarter of the claim time)."""
        now = time.monotonic()
        if now < self._next_claim:
            return 0
        self._next_claim = now + max(0.5, self.claim_after / 4)
        count = max(1, self.qos.can_consume_max_estimate() or 1)
        min_idle = int(self.claim_after * 1000)
        reply = self._scripts["claim"](args=[GROUP, self.consumer, min_idle, count, *queues])
        entries = [Lane.of(item) for item in reply]
        for entry in entries:
            if entry.claimed:
                log.warning("claimed %s from a worker that stopped touching it", entry.id)
        return self._deliver_all(entries)

    def _touch_held(self) -> None:
        held: dict[bytes, list[bytes]] = {}
        for message in list(self.qos._delivered.values()):
            info = message.delivery_info
            if info.get("steward_stream") and info.get("steward_entry"):
                key = info["steward_stream"].encode()
                held.setdefault(key, []).append(info["steward_entry"].encode())
        for key, ids in held.items():
            try:
                self.client.xclaim(key, GROUP, self.consumer, 0, ids, justid=True)
            except redis.ResponseError as exc:  # acknowledged meanwhile, its lane dropped
                if "NOGROUP" not in str(exc):
                    raise

    def _payload(self, queue: str, entry: Entry) -> dict[str, Any] | None:
        """The kombu message of a stream entry, marked with where it came from."""
        try:
            payload: dict[str, Any] = json.loads((entry.fields or {})[FIELD.encode()])
        except (KeyError, ValueError):
            log.error("dropping entry %s of %s: not a task message", entry.id, entry.stream)
            self._forget(entry.stream, entry.id)
            return None
        properties = payload.setdefault("properties", {})
        info = properties.setdefault("delivery_info", {})
        info.update(
            routing_key=queue,
            steward_stream=entry.stream,
            steward_entry=entry.id,
            steward_class=class_of_stream(entry.stream, queue),
        )
        info.setdefault("exchange", "")
        properties["delivery_tag"] = f"{entry.stream}/{entry.id}"
        return payload

    def _deliver(self, queue: str, entry: Entry, *, redelivered: bool = False) -> int:
        payload = self._payload(queue, entry)
        if payload is None:
            return 0
        if redelivered:
            payload["redelivered"] = True
        self.connection._deliver(payload, queue)
        return 1

    def forget(self, message: Any) -> None:
        """Acknowledge a message and delete it from its stream."""
        info = message.delivery_info
        if info.get("steward_stream") and info.get("steward_entry"):
            self._forget(info["steward_stream"], info["steward_entry"])

    def _forget(self, stream: str, entry: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(stream, GROUP, entry)
        pipe.xdel(stream, entry)
        pipe.execute()

    def _restore(self, message: Any) -> None:
        """Put a held message back at the end of its lane, in one script (a broadcast or
        a reply is not put back: it was for this consumer alone)."""
        info = dict(message.delivery_info)
        if info.get("steward_broadcast"):
            return
        payload = message.serializable()
        payload["redelivered"] = True
        if isinstance(payload.get("body"), bytes):  # decoded on receipt: encode it again
            payload["body"] = base64.b64encode(payload["body"]).decode()
            payload["properties"]["body_encoding"] = "base64"
        payload["properties"]["delivery_info"] = {
            "exchange": info.get("exchange", ""),
            "routing_key": info.get("routing_key"),
        }
        queue = str(info.get("routing_key"))
        priority, lane = lane_of_stream(str(info.get("steward_stream") or ""), queue)
        if (priority, lane) == ("", ""):
            priority, lane = kombu_placement(payload)
        args = [queue, priority, lane, json.dumps(payload)]
        if info.get("steward_stream") and info.get("steward_entry"):
            args += [info["steward_stream"], info["steward_entry"]]
        self._scripts["put"](args=args)

    def _lookup(self, exchange: str, routing_key: str, default: Any = None) -> list[str]:
        """Queues for a publish: the bound ones, else the queue the routing key names.

        Bindings live in each process's memory; a process that publishes without
        having declared the queue (beat, a follow-up task) must not drop the message.
        A remote-control reply's queue follows from its exchange and routing key.
        """
        replies = reply_queue(exchange, routing_key)
        if replies is not None:
            return [replies]
        try:
            table = self.get_table(exchange) if exchange else []  # type: ignore[no-untyped-call]
            found = self.typeof(exchange).lookup(table, exchange, routing_key, None)  # type: ignore[no-untyped-call]
        except KeyError:
            found = []
        return list(found or [routing_key or default])

    def _restore_at_beginning(self, message: Any) -> None:
        self._restore(message)

    def close(self) -> None:
        """Give back what this channel holds, then close its Redis connections."""
        super().close()  # type: ignore[no-untyped-call]
        self.mail.close()
        self.client.close()


@dataclass(frozen=True)
class Lane(Entry):
    """An entry a script took: which queue it belongs to, and whether it was claimed
    from another consumer (rather than taken new)."""

    queue: str = ""
    claimed: bool = False

    @classmethod
    def of(cls, item: Any) -> Lane:  # type: ignore[override]
        """From a script's ``{queue, stream, id, fields[, claimed]}``."""
        queue, stream, entry_id, fields = item[:4]
        entry = Entry.of(stream, entry_id, fields)
        claimed = len(item) > 4 and bool(item[4])
        return cls(entry.stream, entry.id, entry.fields, queue.decode(), claimed)


class Transport(virtual.Transport):
    """Kombu transport ``steward://`` (the Redis URL is the ``redis_url`` option)."""

    Channel = Channel
    #: Reads block in Redis (up to MAX_BLOCK); this short sleep only paces the loop while
    #: a worker holds all it may (it reads nothing then, and must not spin).
    polling_interval = 0.05
    default_port = 6379  # type: ignore[assignment]
    driver_type = "redis"
    driver_name = "redis-streams"
    connection_errors = (  # type: ignore[assignment]
        *virtual.Transport.connection_errors,
        redis.ConnectionError,
        redis.TimeoutError,
    )
    channel_errors = (*virtual.Transport.channel_errors, redis.ResponseError)  # type: ignore[assignment]
    implements = virtual.Transport.implements.extend(
        asynchronous=False, exchange_type=frozenset(["direct", "fanout"])
    )
