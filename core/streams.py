"""A Celery broker transport on Redis Streams: no task is lost when a worker dies.

Kombu's Redis transport takes a message off a list with BRPOP and only afterwards
records it as unacknowledged: a worker killed between the two loses the message for
good (celery/celery#7950, celery/celery#4354, celery/kombu#305), and a killed worker's
messages come back only after the visibility timeout. Here each queue is a stream,
``steward:q:<queue>``, read through one consumer group (``workers``):

* ``XREADGROUP`` hands a message to one consumer *and* records it in the group's
  pending list in the same step: there is no instant at which it is nowhere;
* a worker acknowledges a finished task (``acks_late``) with ``XACK`` + ``XDEL`` in one
  transaction, and gives a message back (warm shutdown, reject) by re-adding and
  acknowledging it in one transaction;
* while a worker holds a message (reserved or running, a countdown included), it
  touches it (``XCLAIM`` to itself, resetting its idle time) every third of the claim
  time, so a long task is never taken from a live worker;
* every consumer claims (``XAUTOCLAIM``) messages idle longer than the claim time
  (``STEWARD_VISIBILITY_TIMEOUT``): a killed worker's tasks run again within seconds.

The web process queues a delivery's tasks without kombu (:func:`task_message`,
:func:`queue_once`): one atomic script records the delivery id and appends every
message, so a delivery is either queued whole and remembered, or not at all.
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from queue import Empty
from typing import Any

import orjson
import redis
from kombu.transport import TRANSPORT_ALIASES, virtual

log = logging.getLogger(__name__)

#: Kombu's name for this transport (``broker_url = "steward://"``).
ALIAS = "steward"
STREAM_PREFIX = "steward:q:"
GROUP = "workers"
FIELD = "m"
#: Claim time when none is configured (seconds a held message may go untouched).
DEFAULT_CLAIM_AFTER = 30.0
#: The longest a consumer blocks in one read (its upkeep runs between reads).
MAX_BLOCK = 1.0

QUEUE_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  for i = 2, #KEYS do
    redis.call('XADD', KEYS[i], '*', 'm', ARGV[i])
  end
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Entry:
    """One stream entry as a read returned it."""

    stream: str
    id: str
    fields: Mapping[bytes, bytes] | None

    @classmethod
    def of(cls, stream: bytes | str, entry_id: bytes, fields: Any) -> Entry:
        """From redis-py's reply (bytes, as the client does not decode)."""
        name = stream.decode() if isinstance(stream, bytes) else stream
        return cls(name, entry_id.decode(), fields)


def stream_key(queue: str) -> str:
    """The stream that holds ``queue``'s messages."""
    return STREAM_PREFIX + queue


def broker_url(redis_url: str) -> str:
    """Celery's broker URL for this transport: the Redis host for the logs (its password
    left out); the Redis URL itself travels in the ``redis_url`` transport option."""
    parts = urllib.parse.urlsplit(redis_url)
    host = parts.hostname or "localhost"
    where = f"{host}:{parts.port}" if parts.port else host
    return f"{ALIAS}://{where}{parts.path if parts.scheme != 'unix' else ''}"


def register() -> None:
    """Make ``steward://`` a kombu transport (idempotent; called by the Celery factory)."""
    TRANSPORT_ALIASES.setdefault(ALIAS, "core.streams:Transport")


# ------------------------------------------------------------------ publishing


def task_message(task: str, kwargs: Mapping[str, Any], queue: str) -> str:
    """A Celery (protocol 2) task message for this transport, built without kombu.

    What ``send_task`` would publish, at a fraction of its cost: the web process queues
    one of these per task of a delivery.
    """
    task_id = str(uuid.uuid4())
    body = orjson.dumps([[], dict(kwargs), {"callbacks": None, "errbacks": None, "chain": None}])
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "()",
        "kwargsrepr": repr(dict(kwargs))[:500],
        "origin": f"{socket.gethostname()}/{os.getpid()}",
        "ignore_result": True,
    }
    properties = {
        "correlation_id": task_id,
        "reply_to": "",
        "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": queue},
        "priority": 0,
        "delivery_tag": task_id,
    }
    message = {
        "body": body.decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": properties,
    }
    return orjson.dumps(message).decode()


def queue_once_args(
    delivery_key: str, ttl: int, messages: Sequence[tuple[str, str]]
) -> tuple[list[str], list[str | int]]:
    """Keys and arguments of :data:`QUEUE_SCRIPT` for ``(queue, message)`` pairs."""
    keys = [delivery_key, *(stream_key(queue) for queue, _ in messages)]
    args: list[str | int] = [ttl, *(message for _, message in messages)]
    return keys, args


# ----------------------------------------------------------------- inspecting


def queued_messages(client: Any, queues: Iterable[str]) -> list[dict[str, Any]]:
    """Every message of ``queues`` not yet acknowledged (waiting or held), decoded."""
    found = []
    for queue in queues:
        for _, fields in client.xrange(stream_key(queue)):
            found.append(json.loads(fields[FIELD.encode()]))
    return found


def queued_count(client: Any, queues: Iterable[str]) -> int:
    """How many messages of ``queues`` are waiting or held (0: all done)."""
    return sum(int(client.xlen(stream_key(queue))) for queue in queues)


# ------------------------------------------------------------------ consuming


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
    supports_fanout = False

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        """Read the Redis URL and the claim time from the transport options."""
        super().__init__(connection, **kwargs)  # type: ignore[no-untyped-call]
        options = connection.client.transport_options
        # redis-py's stream replies are loosely typed; this module checks their shape.
        self.client: Any = redis.Redis.from_url(
            options["redis_url"], socket_connect_timeout=3, health_check_interval=30
        )
        self.claim_after = float(options.get("visibility_timeout") or DEFAULT_CLAIM_AFTER)
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._groups: set[str] = set()
        self._next_touch = 0.0
        self._next_claim = 0.0

    def _ensure_group(self, queue: str) -> str:
        key = stream_key(queue)
        if key not in self._groups:
            try:
                self.client.xgroup_create(key, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._groups.add(key)
        return key

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self._ensure_group(queue)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self.client.xadd(self._ensure_group(queue), {FIELD: json.dumps(message)})

    def _size(self, queue: str) -> int:
        return int(self.client.xlen(stream_key(queue)))

    def _purge(self, queue: str) -> int:
        key = stream_key(queue)
        size = int(self.client.xlen(key))
        self.client.delete(key)
        self._groups.discard(key)
        return size

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        key = self._ensure_group(queue)
        reply = self.client.xreadgroup(GROUP, self.consumer, {key: ">"}, count=1)
        for stream, entries in reply or []:
            for entry_id, fields in entries:
                payload = self._payload(queue, Entry.of(stream, entry_id, fields))
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
        """Deliver what the queues hold (claimed messages of dead workers first)."""
        if self._claim_if_due(queues):
            return
        count = max(1, self.qos.can_consume_max_estimate() or 1)
        streams = {self._ensure_group(queue): ">" for queue in queues}
        block = int(min(timeout or MAX_BLOCK, MAX_BLOCK) * 1000)
        reply = self.client.xreadgroup(GROUP, self.consumer, streams, count=count, block=block)
        delivered = 0
        for stream, entries in reply or []:
            queue = stream.decode()[len(STREAM_PREFIX) :]
            for entry_id, fields in entries:
                delivered += self._deliver(queue, Entry.of(stream, entry_id, fields))
        if not delivered:
            raise Empty()

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
        return sum(self._claim_idle(queue) for queue in queues)

    def _touch_held(self) -> None:
        held: dict[bytes, list[bytes]] = {}
        for message in list(self.qos._delivered.values()):
            info = message.delivery_info
            if info.get("steward_stream") and info.get("steward_entry"):
                key = info["steward_stream"].encode()
                held.setdefault(key, []).append(info["steward_entry"].encode())
        for key, ids in held.items():
            self.client.xclaim(key, GROUP, self.consumer, 0, ids, justid=True)

    def _claim_idle(self, queue: str) -> int:
        key = self._ensure_group(queue)
        min_idle = int(self.claim_after * 1000)
        count = max(1, self.qos.can_consume_max_estimate() or 1)
        reply = self.client.xautoclaim(key, GROUP, self.consumer, min_idle, "0-0", count=count)
        delivered = 0
        for entry_id, fields in reply[1] if reply else []:
            if fields is None:  # deleted while pending: nothing to run
                self.client.xack(key, GROUP, entry_id)
                continue
            log.warning("claimed %s from a worker that stopped touching it", entry_id)
            entry = Entry.of(key, entry_id, fields)
            delivered += self._deliver(queue, entry, redelivered=True)
        return delivered

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
        info.update(routing_key=queue, steward_stream=entry.stream, steward_entry=entry.id)
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
        """Put a held message back at the end of its queue, in one transaction."""
        info = dict(message.delivery_info)
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
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self._ensure_group(queue), {FIELD: json.dumps(payload)})
        if info.get("steward_stream") and info.get("steward_entry"):
            pipe.xack(info["steward_stream"], GROUP, info["steward_entry"])
            pipe.xdel(info["steward_stream"], info["steward_entry"])
        pipe.execute()

    def _lookup(self, exchange: str, routing_key: str, default: Any = None) -> list[str]:
        """Queues for a publish: the bound ones, else the queue the routing key names.

        Bindings live in each process's memory; a process that publishes without
        having declared the queue (beat, a follow-up task) must not drop the message.
        """
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
        self.client.close()


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
        asynchronous=False, exchange_type=frozenset(["direct"])
    )
