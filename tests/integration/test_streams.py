"""The stream transport on a real Redis: nothing lost, nothing held forever.

Each row is the instant a worker can die at: after taking a message and before
recording anything, while holding it, at a warm shutdown. Consumers are kombu
connections driven as a Celery worker drives them (``drain_events``); a consumer that
"dies" is simply abandoned without closing, as SIGKILL leaves it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue

from core import streams
from tests.support import unique

CLAIM_AFTER = 1.0


#: Consumers a test opened, closed after it (a closed one gives back what it held).
OPEN: list[Any] = []


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    name = unique("q")
    yield name
    while OPEN:
        consumer = OPEN.pop()
        consumer.consumer.channel.qos.restore_at_shutdown = False
        consumer.conn.release()
    redis.Redis.from_url(redis_url).delete(streams.stream_key(name))


def connect(redis_url: str) -> Connection:
    streams.register()
    options = {"redis_url": redis_url, "visibility_timeout": CLAIM_AFTER}
    return Connection(f"{streams.ALIAS}://", transport_options=options)


class Consumer:
    """A kombu consumer of one queue, collecting the messages it is handed."""

    def __init__(self, redis_url: str, queue: str, prefetch: int = 4) -> None:
        self.conn = connect(redis_url)
        self.messages: list[Any] = []
        entity = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)
        self.consumer = self.conn.Consumer(
            entity, callbacks=[lambda body, message: self.messages.append(message)]
        )
        self.consumer.qos(prefetch_count=prefetch)
        self.consumer.consume()
        OPEN.append(self)

    def drain(self, seconds: float) -> list[Any]:
        """Run the consumer loop for ``seconds``; the messages handed over so far."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with contextlib.suppress(TimeoutError):
                self.conn.drain_events(timeout=0.2)
        return self.messages


def publish(redis_url: str, queue: str, delivery: str, n: int = 1) -> int:
    """Queue ``n`` task messages for one delivery, as the web process does."""
    client = redis.Redis.from_url(redis_url)
    messages = [(queue, streams.task_message("t", {"i": i}, queue)) for i in range(n)]
    keys, args = streams.queue_once_args(f"steward:test:{delivery}", 60, messages)
    return int(client.eval(streams.QUEUE_SCRIPT, len(keys), *keys, *args))


def test_a_delivery_is_queued_once_and_whole(redis_url: str, queue_name: str) -> None:
    delivery = unique("d")
    assert publish(redis_url, queue_name, delivery, n=3) == 1
    assert publish(redis_url, queue_name, delivery, n=3) == 0  # GitHub redelivered it
    client = redis.Redis.from_url(redis_url)
    assert streams.queued_count(client, [queue_name]) == 3
    bodies = [m["headers"]["task"] for m in streams.queued_messages(client, [queue_name])]
    assert bodies == ["t", "t", "t"]


def test_an_acknowledged_message_leaves_the_stream(redis_url: str, queue_name: str) -> None:
    publish(redis_url, queue_name, unique("d"))
    worker = Consumer(redis_url, queue_name)
    [message] = worker.drain(1.0)
    assert message.decode()[1] == {"i": 0} and not message.delivery_info.get("redelivered")
    message.ack()
    assert streams.queued_count(redis.Redis.from_url(redis_url), [queue_name]) == 0


def test_a_message_taken_by_a_worker_that_dies_is_claimed(redis_url: str, queue_name: str) -> None:
    """The instant kombu's list transport loses a message: taken, nothing recorded."""
    publish(redis_url, queue_name, unique("d"))
    dying = Consumer(redis_url, queue_name)
    dying.consumer.channel.qos.restore_at_shutdown = False  # SIGKILL runs no clean-up
    assert len(dying.drain(0.5)) == 1  # taken; then SIGKILL: no ack, no restore
    survivor = Consumer(redis_url, queue_name)
    started = time.monotonic()
    while not survivor.drain(0.3) and time.monotonic() - started < 10:
        pass
    [message] = survivor.messages
    assert message.decode()[1] == {"i": 0}
    assert time.monotonic() - started < CLAIM_AFTER * 4
    message.ack()
    assert streams.queued_count(redis.Redis.from_url(redis_url), [queue_name]) == 0


def test_a_live_worker_keeps_what_it_holds(redis_url: str, queue_name: str) -> None:
    """A long task (a training run, a countdown) is never taken from a worker that lives."""
    publish(redis_url, queue_name, unique("d"))
    holder = Consumer(redis_url, queue_name)
    other = Consumer(redis_url, queue_name)
    holder.drain(0.3)
    for _ in range(8):  # four claim times, both consumers running
        holder.drain(0.25)
        other.drain(0.25)
    assert len(holder.messages) == 1 and other.messages == []


def test_a_warm_shutdown_gives_held_messages_back_at_once(redis_url: str, queue_name: str) -> None:
    publish(redis_url, queue_name, unique("d"), n=2)
    leaving = Consumer(redis_url, queue_name)
    assert len(leaving.drain(0.5)) == 2
    leaving.conn.close()  # what a warm shutdown does: restore what it holds
    arriving = Consumer(redis_url, queue_name)
    got = arriving.drain(0.5)  # well under the claim time
    assert sorted(m.decode()[1]["i"] for m in got) == [0, 1]
    for message in got:
        message.ack()
    assert streams.queued_count(redis.Redis.from_url(redis_url), [queue_name]) == 0


def test_a_worker_holding_all_it_may_still_keeps_what_it_holds(
    redis_url: str, queue_name: str
) -> None:
    """A busy worker reads nothing new, but must go on touching what it holds."""
    publish(redis_url, queue_name, unique("d"), n=2)
    busy = Consumer(redis_url, queue_name, prefetch=1)
    busy.drain(0.3)
    assert len(busy.messages) == 1  # full: the second stays queued
    other = Consumer(redis_url, queue_name)
    for _ in range(8):  # four claim times
        busy.drain(0.25)
        other.drain(0.25)
    assert len(busy.messages) == 1
    assert [m.decode()[1] for m in other.messages] == [{"i": 1}]  # only the free one


@pytest.mark.parametrize(
    ("redis_url", "broker"),
    [
        ("redis://127.0.0.1:6379/15", "steward://127.0.0.1:6379/15"),
        ("redis://:secret@cache:7000/2", "steward://cache:7000/2"),
        ("unix:///tmp/redis.sock?db=3", "steward://localhost"),
    ],
)
def test_the_broker_url_names_the_redis_without_its_password(redis_url: str, broker: str) -> None:
    assert streams.broker_url(redis_url) == broker
