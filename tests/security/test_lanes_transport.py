"""Lanes in the broker, on a real Redis: one installation's flood does not delay another's
interactive work, interactive work goes before background work, and the stream
transport's guarantees hold in every lane (taken = pending, a dead consumer's message is
claimed, a warm shutdown gives back, a redelivered delivery is queued once).

Consumers are kombu connections driven as a Celery worker drives them
(``drain_events``); one that "dies" is abandoned without closing, as SIGKILL leaves it.
Each test has queues of its own, so lanes never mix between tests.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue

from core import lanes, streams
from core.tasks import BACKGROUND, INTERACTIVE
from tests.support import unique

CLAIM_AFTER = 1.0
OPEN: list[Consumer] = []


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    yield redis.Redis.from_url(redis_url)
    while OPEN:
        consumer = OPEN.pop()
        consumer.channel.qos.restore_at_shutdown = False
        consumer.conn.release()


class Consumer:
    """A kombu consumer of ``queues``; with ``ack`` it finishes each message at once (a
    worker doing one task at a time), else it holds what it is handed."""

    def __init__(
        self, redis_url: str, queues: list[str], *, prefetch: int = 1, ack: bool = True
    ) -> None:
        streams.register()
        options = {"redis_url": redis_url, "visibility_timeout": CLAIM_AFTER}
        self.conn = Connection(f"{streams.ALIAS}://", transport_options=options)
        self.messages: list[Any] = []
        entities = [Queue(q, Exchange(q, type="direct"), routing_key=q) for q in queues]

        def take(body: Any, message: Any) -> None:
            self.messages.append(message)
            if ack:
                message.ack()

        self.consumer = self.conn.Consumer(entities, callbacks=[take])
        self.consumer.qos(prefetch_count=prefetch)
        self.consumer.consume()
        self.channel = self.consumer.channel
        OPEN.append(self)

    def drain(self, seconds: float, until: int | None = None) -> list[Any]:
        """Run the consumer loop for ``seconds`` (or until ``until`` messages came)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and (until is None or len(self.messages) < until):
            with contextlib.suppress(TimeoutError):
                self.conn.drain_events(timeout=0.1)
        return self.messages

    def names(self) -> list[str]:
        return [m.decode()[1]["name"] for m in self.messages]


def put(
    client: redis.Redis, queue: str, name: str, *, lane: str, priority: str = INTERACTIVE
) -> None:
    """One task message into a lane, as the route task's fan-out adds it."""
    message = lanes.task_message("t", {"name": name}, queue)
    client.eval(lanes.PUT_SCRIPT, 0, queue, priority, lane, message)


def test_a_flood_in_one_lane_does_not_delay_another_lane(
    client: redis.Redis, redis_url: str
) -> None:
    queue = unique("q")
    for i in range(1000):
        put(client, queue, f"flood-{i}", lane="1001")
    put(client, queue, "newcomer", lane="2002")
    worker = Consumer(redis_url, [queue])
    worker.drain(10, until=3)
    # Round-robin: the flood's lane gives one, then the other lane's only message.
    assert worker.names()[:3] == ["flood-0", "newcomer", "flood-1"]


def test_lanes_with_work_take_turns(client: redis.Redis, redis_url: str) -> None:
    queue = unique("q")
    for lane, n in (("1", 6), ("2", 2), ("3", 3)):
        for i in range(n):
            put(client, queue, f"{lane}.{i}", lane=lane)
    worker = Consumer(redis_url, [queue])
    assert [m.split(".")[0] for m in worker.drain(10, until=11) and worker.names()] == (
        ["1", "2", "3", "1", "2", "3", "1", "3", "1", "1", "1"]
    )
    assert streams.queued_count(client, [queue]) == 0


def test_interactive_work_goes_before_background_work(client: redis.Redis, redis_url: str) -> None:
    queue = unique("q")
    for i in range(50):
        put(client, queue, f"embed-{i}", lane="1001", priority=BACKGROUND)
    put(client, queue, "welcome-same-org", lane="1001")
    put(client, queue, "welcome-other-org", lane="2002")
    worker = Consumer(redis_url, [queue])
    worker.drain(10, until=3)
    assert worker.names()[:3] == ["welcome-same-org", "welcome-other-org", "embed-0"]


def test_a_worker_keeps_a_slot_for_interactive_work(client: redis.Redis, redis_url: str) -> None:
    """Long background tasks (training, a bootstrap) never take every slot."""
    queue = unique("q")
    for i in range(10):
        put(client, queue, f"retrain-{i}", lane="1001", priority=BACKGROUND)
    worker = Consumer(redis_url, [queue], prefetch=4, ack=False)
    assert len(worker.drain(1.0)) == 3  # held, running: one slot left
    put(client, queue, "welcome", lane="2002")
    worker.drain(2.0, until=4)
    assert worker.names()[-1] == "welcome"


def test_finished_background_work_frees_its_slots(client: redis.Redis, redis_url: str) -> None:
    """Acknowledged messages no longer count against the background room."""
    queue = unique("q")
    for i in range(8):
        put(client, queue, f"embed-{i}", lane="1001", priority=BACKGROUND)
    worker = Consumer(redis_url, [queue], prefetch=4)  # acknowledges each at once
    assert len(worker.drain(5.0, until=8)) == 8


def test_interactive_first_across_queues(client: redis.Redis, redis_url: str) -> None:
    """A worker of two queues (``steward``, ``steward.inference``) serves both in turn."""
    default, inference = unique("q"), unique("q")
    for i in range(3):
        put(client, default, f"d{i}", lane="7")
        put(client, inference, f"i{i}", lane="7")
    put(client, inference, "bg", lane="7", priority=BACKGROUND)
    worker = Consumer(redis_url, [default, inference])
    worker.drain(10, until=7)
    assert worker.names() == ["d0", "i0", "d1", "i1", "d2", "i2", "bg"]


def test_a_lane_message_taken_by_a_worker_that_dies_is_claimed(
    client: redis.Redis, redis_url: str
) -> None:
    queue = unique("q")
    put(client, queue, "welcome", lane="3003")
    dying = Consumer(redis_url, [queue], ack=False)
    dying.channel.qos.restore_at_shutdown = False  # SIGKILL runs no clean-up
    assert dying.drain(1.0, until=1)  # taken (pending in the lane), then killed
    OPEN.remove(dying)
    survivor = Consumer(redis_url, [queue], ack=False)
    started = time.monotonic()
    survivor.drain(CLAIM_AFTER * 6, until=1)
    assert survivor.names() == ["welcome"]
    assert time.monotonic() - started < CLAIM_AFTER * 5
    survivor.messages[0].ack()
    assert streams.queued_count(client, [queue]) == 0


def test_a_warm_shutdown_gives_lane_messages_back_to_their_lanes(
    client: redis.Redis, redis_url: str
) -> None:
    queue = unique("q")
    put(client, queue, "a", lane="11")
    put(client, queue, "b", lane="12", priority=BACKGROUND)
    leaving = Consumer(redis_url, [queue], prefetch=4, ack=False)
    assert sorted(m.decode()[1]["name"] for m in leaving.drain(1.0, until=2)) == ["a", "b"]
    OPEN.remove(leaving)
    leaving.conn.close()  # a warm shutdown: restore what it holds
    assert client.xlen(lanes.lane_key(queue, INTERACTIVE, "11")) == 1
    assert client.xlen(lanes.lane_key(queue, BACKGROUND, "12")) == 1
    arriving = Consumer(redis_url, [queue])
    assert sorted(arriving.drain(1.0, until=2) and arriving.names()) == ["a", "b"]
    assert streams.queued_count(client, [queue]) == 0


def test_a_redelivered_delivery_is_queued_once(client: redis.Redis, redis_url: str) -> None:
    queue, delivery = unique("q"), unique("steward:test:delivery")
    message = lanes.task_message("t", {"name": "route", "installation_id": 4004}, queue)
    keys, args = lanes.queue_once_args(delivery, 60, [(queue, message)], value="{}")
    assert client.eval(lanes.QUEUE_SCRIPT, len(keys), *keys, *args) == 1
    assert client.eval(lanes.QUEUE_SCRIPT, len(keys), *keys, *args) == 0  # GitHub again
    assert client.xlen(lanes.lane_key(queue, INTERACTIVE, "4004")) == 1
    worker = Consumer(redis_url, [queue])
    assert worker.drain(2.0, until=1) and worker.names() == ["route"]
    worker.drain(0.5)
    assert worker.names() == ["route"]  # not handed over twice


def test_the_depth_of_a_queue_counts_every_lane(client: redis.Redis, redis_url: str) -> None:
    queue = unique("q")
    for lane, priority in (("1", INTERACTIVE), ("1", BACKGROUND), ("2", INTERACTIVE)):
        put(client, queue, "t", lane=lane, priority=priority)
    assert client.eval(lanes.DEPTH_SCRIPT, 0, queue) == 3 == streams.queued_count(client, [queue])
    worker = Consumer(redis_url, [queue], prefetch=4, ack=False)
    worker.drain(2.0, until=3)
    assert client.eval(lanes.DEPTH_SCRIPT, 0, queue) == 3  # held, not yet done
    for message in worker.messages:
        message.ack()
    assert client.eval(lanes.DEPTH_SCRIPT, 0, queue) == 0


def test_an_idle_worker_wakes_when_work_arrives(client: redis.Redis, redis_url: str) -> None:
    queue = unique("q")
    worker = Consumer(redis_url, [queue])
    worker.drain(0.5)  # idle: blocked on the bell
    started = time.monotonic()
    put(client, queue, "welcome", lane="5")
    worker.drain(3.0, until=1)
    assert worker.names() == ["welcome"]
    assert time.monotonic() - started < 1.0


def test_messages_queued_before_lanes_are_still_delivered(
    client: redis.Redis, redis_url: str
) -> None:
    """An upgrade: the queue's old single stream is read to its end."""
    queue = unique("q")
    old = streams.stream_key(queue)
    client.xgroup_create(old, lanes.GROUP, id="0", mkstream=True)
    client.xadd(old, {"m": lanes.task_message("t", {"name": "old"}, queue)})
    worker = Consumer(redis_url, [queue])
    assert worker.drain(3.0, until=1) and worker.names() == ["old"]
    assert streams.queued_count(client, [queue]) == 0
