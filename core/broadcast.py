"""Broadcasts and replies on the stream transport: Celery's remote control and events.

Celery's own tools use two kinds of queue besides the task queues of :mod:`core.streams`:

* **Fanout exchanges.** ``celery.pidbox`` carries a command to every worker (``celery
  inspect ping``, ``celery control enable_events``, ...) and ``celeryev`` the events
  (Celery makes that exchange fanout on a Redis transport). As kombu's Redis transport
  does, a message published to one is a Redis ``PUBLISH`` on
  ``steward:broadcast:<db>:<exchange>`` and a queue bound to it is a subscription of the
  channel that consumes it: every listener gets a copy, nothing is stored, and a process
  not listening at that instant misses it (as AMQP's fanout to no queue). The database
  number is in the name because pub/sub ignores databases.
* **Replies.** A worker answers a command on the mailbox's reply exchange
  ``reply.<namespace>.pidbox`` with the caller's id as routing key, and the caller reads
  ``<id>.reply.<namespace>.pidbox`` (kombu's ``Mailbox.get_reply_queue``). The queue
  follows from the exchange and the routing key, so no binding is shared between
  processes: a reply is an ``LPUSH`` onto ``steward:reply:<queue>`` (gone
  :data:`REPLY_TTL_MS` after the last one if nobody reads it) and the caller waits with
  ``BRPOP``.

No task message goes through here, and no message of these queues ever enters a lane:
the guarantees of the lanes (nothing lost, claims after a kill) are the task queues'
alone; a broadcast is as fleeting as on any Celery broker.

A worker's task consumer waits on its queues' bells (``XREAD``, up to a second) while its
remote-control channel is another channel of the same connection, and ``celery
inspect`` waits one second for answers. So a broadcast that reaches a listener also
rings its exchange's bell (``steward:broadcast-bell:<exchange>``, one entry), and a
consumer waiting on its bells waits on those of the exchanges its connection listens to
(:meth:`Broadcasts.bells`): the worker wakes at once and its remote-control channel reads
the message.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

#: A reply list's key: the prefix, then the reply queue's name.
REPLY_PREFIX = "steward:reply:"
#: A reply list nobody reads is dropped this long after its last reply (kombu's default
#: for a mailbox's reply queue).
REPLY_TTL_MS = 10_000
#: How long a channel whose exchange's bell rang waits for the message itself (it was
#: published just before the bell rang, on another connection).
RUNG_WAIT = 0.2
#: Publish a broadcast; ring the exchange's bell when anyone listens. KEYS[1]: the bell;
#: ARGV[1]: the pub/sub channel, ARGV[2]: the message.
BROADCAST_SCRIPT = """
if redis.call('PUBLISH', ARGV[1], ARGV[2]) > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '1', '*', 'b', '1')
end
return 1
"""
_REPLY_EXCHANGE = re.compile(r"reply\.[^.].*\.pidbox")
_REPLY_QUEUE = re.compile(r"[^.]+\.(reply\.[^.].*\.pidbox)")

Deliver = Callable[[dict[str, Any], str], None]


def reply_queue(exchange: str, routing_key: str) -> str | None:
    """The queue a reply published to ``exchange`` with ``routing_key`` is for, when
    ``exchange`` is a mailbox's reply exchange; else None."""
    if routing_key and "." not in routing_key and _REPLY_EXCHANGE.fullmatch(exchange):
        return f"{routing_key}.{exchange}"
    return None


def is_reply_queue(queue: str) -> bool:
    """Whether ``queue`` is a mailbox's reply queue (``<id>.reply.<namespace>.pidbox``)."""
    return _REPLY_QUEUE.fullmatch(queue) is not None


def reply_key(queue: str) -> str:
    """The Redis list holding the replies to ``queue``."""
    return REPLY_PREFIX + queue


def topic(db: int, exchange: str) -> str:
    """The pub/sub channel of a fanout exchange in database ``db``."""
    return f"steward:broadcast:{db}:{exchange}"


def bell_of(exchange: str) -> str:
    """The stream rung when a broadcast on ``exchange`` reached a listener."""
    return f"steward:broadcast-bell:{exchange}"


class Broadcasts:
    """One kombu channel's fanout subscriptions and reply queues.

    ``deliver(payload, queue)`` hands a message to the channel's consumer of ``queue``.
    """

    def __init__(self, client: Any, deliver: Deliver) -> None:
        """Nothing is subscribed until a queue bound to a fanout exchange is consumed."""
        self.client = client
        self.deliver = deliver
        self.db = int(client.connection_pool.connection_kwargs.get("db") or 0)
        self.fanout: dict[str, str] = {}  # queue bound to a fanout exchange → exchange
        self.listening: dict[str, set[str]] = {}  # exchange → its consumed queues
        self.replies: list[str] = []  # consumed reply queues
        self.bell_ids: dict[str, str] = {}  # bell → the last ring heard
        self.rung = False
        self._pubsub: Any = None
        self._script = client.register_script(BROADCAST_SCRIPT)

    def owns(self, queue: str) -> bool:
        """Whether ``queue`` is served here (not a lane of tasks)."""
        return queue in self.fanout or is_reply_queue(queue)

    @property
    def listens(self) -> bool:
        """Whether this channel consumes any broadcast or reply queue."""
        return bool(self.listening or self.replies)

    def bind(self, exchange: str, queue: str) -> None:
        """``queue`` is bound to the fanout exchange ``exchange``."""
        self.fanout[queue] = exchange

    def consume(self, queue: str) -> None:
        """Start listening for ``queue``: subscribe to its exchange, or watch its list."""
        exchange = self.fanout.get(queue)
        if exchange is not None:
            if exchange not in self.listening:
                self._subscribe(exchange)
            self.listening.setdefault(exchange, set()).add(queue)
        elif is_reply_queue(queue) and queue not in self.replies:
            self.replies.append(queue)

    def _subscribe(self, exchange: str) -> None:
        if self._pubsub is None:
            self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(topic(self.db, exchange))
        bell = bell_of(exchange)
        last = self.client.xrevrange(bell, count=1)
        self.bell_ids[bell] = last[0][0].decode() if last else "0-0"

    def cancel(self, queue: str) -> None:
        """Stop listening for ``queue``."""
        exchange = self.fanout.get(queue)
        if exchange is not None and queue in self.listening.get(exchange, ()):
            self.listening[exchange].discard(queue)
            if not self.listening[exchange]:
                del self.listening[exchange]
                self.bell_ids.pop(bell_of(exchange), None)
                self._pubsub.unsubscribe(topic(self.db, exchange))
        if queue in self.replies:
            self.replies.remove(queue)

    def publish(self, exchange: str, message: Mapping[str, Any]) -> None:
        """Send ``message`` to every queue bound to ``exchange`` now, in any process."""
        self._script(keys=[bell_of(exchange)], args=[topic(self.db, exchange), json.dumps(message)])

    def put(self, queue: str, message: Mapping[str, Any]) -> None:
        """Add a reply for the reply queue ``queue``."""
        pipe = self.client.pipeline(transaction=True)
        pipe.lpush(reply_key(queue), json.dumps(message))
        pipe.pexpire(reply_key(queue), REPLY_TTL_MS)
        pipe.execute()

    def size(self, queue: str) -> int:
        """Replies waiting in ``queue`` (a broadcast queue holds nothing)."""
        return int(self.client.llen(reply_key(queue))) if is_reply_queue(queue) else 0

    def delete(self, queue: str) -> int:
        """Drop ``queue``'s waiting replies; the number dropped."""
        if not is_reply_queue(queue):
            return 0
        pipe = self.client.pipeline(transaction=True)
        pipe.llen(reply_key(queue))
        pipe.delete(reply_key(queue))
        return int(pipe.execute()[0])

    def bells(self) -> dict[str, str]:
        """The bells of the exchanges listened to, each with the last ring heard."""
        return dict(self.bell_ids)

    def heard(self, rang: Mapping[str, str]) -> None:
        """Bells that rang (bell → its newest entry): a broadcast is on its way."""
        for bell in self.bell_ids:
            if bell in rang:
                self.bell_ids[bell] = rang[bell]
                self.rung = True

    def poll(self, *, block: float) -> int:
        """Hand over what was broadcast or replied; with nothing there, wait up to
        ``block`` seconds for it. Returns how many messages were handed over."""
        wait = RUNG_WAIT if self.rung else 0.0
        self.rung = False
        handed = self._broadcasts(max(wait, 0.0 if self.replies else block))
        if handed or not self.replies:
            return handed
        return self._replies(0.0 if self.listening else block)

    def _broadcasts(self, wait: float) -> int:
        if self._pubsub is None or not self.listening:
            return 0
        handed = 0
        message = self._pubsub.get_message(timeout=wait)
        while message is not None:
            if message.get("type") == "message":
                handed += self._hand_over(message["channel"], message["data"])
            message = self._pubsub.get_message(timeout=0.0)
        return handed

    def _hand_over(self, channel: bytes, data: bytes) -> int:
        exchange = channel.decode().removeprefix(topic(self.db, ""))
        handed = 0
        for queue in sorted(self.listening.get(exchange, ())):
            if self._deliver(queue, data):
                handed += 1
        return handed

    def _replies(self, wait: float) -> int:
        keys = [reply_key(queue) for queue in self.replies]
        if wait > 0:
            got = self.client.brpop(keys, timeout=wait)
            found = [got] if got else []
        else:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.rpop(key)
            found = [(key, data) for key, data in zip(keys, pipe.execute(), strict=True) if data]
        handed = 0
        for key, data in found:
            name = key.decode() if isinstance(key, bytes) else key
            handed += self._deliver(name.removeprefix(REPLY_PREFIX), data)
        return handed

    def _deliver(self, queue: str, data: bytes) -> int:
        """Hand one message over, marked so that it is never put back into a lane."""
        try:
            payload: dict[str, Any] = json.loads(data)
            info = payload["properties"].setdefault("delivery_info", {})
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("dropping a message for %s: not a kombu message", queue)
            return 0
        info["steward_broadcast"] = True
        self.deliver(payload, queue)
        return 1

    def close(self) -> None:
        """Close the subscription's connection."""
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
