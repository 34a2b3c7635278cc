"""Broadcasts and replies on the stream transport, with kombu connections driven as Celery
drives them: a fanout message reaches every listening connection and nothing is stored;
a worker-shaped connection (a task consumer waiting on its bells, a remote-control
channel beside it) wakes for a broadcast at once; replies reach the caller; none of it
touches a lane.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.pidbox import Mailbox

from core import streams
from core.broadcast import REPLY_PREFIX, bell_of, is_reply_queue, reply_queue
from core.lanes import lanes_key
from tests.support import unique


@pytest.fixture
def connections(redis_url: str) -> Iterator[list[Connection]]:
    opened: list[Connection] = []
    yield opened
    for conn in opened:
        conn.release()


def connect(redis_url: str, opened: list[Connection]) -> Connection:
    streams.register()
    conn = Connection(f"{streams.ALIAS}://", transport_options={"redis_url": redis_url})
    opened.append(conn)
    return conn


def listen(conn: Connection, queue: Queue, got: list[Any]) -> Any:
    """Consume ``queue`` on a channel of its own, appending (body, when) to ``got``."""
    consumer = conn.Consumer(
        queue, callbacks=[lambda body, m: got.append((body, time.monotonic()))], no_ack=True
    )
    consumer.consume()
    return consumer


def drain(conn: Connection, seconds: float, *, each: float = 0.2) -> None:
    """Run the consumer loop for ``seconds``, ``each`` seconds per call (a Celery
    worker's loop calls with 2 s)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(TimeoutError):
            conn.drain_events(timeout=each)


def test_a_broadcast_reaches_every_listener_and_is_not_stored(
    redis_url: str, connections: list[Connection]
) -> None:
    exchange = Exchange(unique("bx"), type="fanout", durable=False)
    listeners = [connect(redis_url, connections) for _ in range(2)]
    got: list[list[Any]] = [[], []]
    for i, conn in enumerate(listeners):
        listen(conn, Queue(unique("node"), exchange, auto_delete=True), got[i])
    publisher = connect(redis_url, connections)
    publisher.Producer().publish({"n": 1}, exchange=exchange, declare=[exchange])
    for conn in listeners:
        drain(conn, 0.5)
    assert [[body for body, _ in g] for g in got] == [[{"n": 1}], [{"n": 1}]]
    client = redis.Redis.from_url(redis_url)
    assert [
        k for k in client.scan_iter(f"*{exchange.name}*") if k != bell_of(exchange.name).encode()
    ] == []


def test_a_worker_waiting_on_its_bells_wakes_for_a_broadcast(
    redis_url: str, connections: list[Connection]
) -> None:
    """The task channel blocks in XREAD up to a second; the broadcast for the channel
    beside it must not wait for that (``celery inspect`` gives up after one second)."""
    worker = connect(redis_url, connections)
    tasks = unique("tasks")
    tasks_got: list[Any] = []
    listen(worker, Queue(tasks, Exchange(tasks), routing_key=tasks), tasks_got)
    exchange = Exchange(unique("pidbox"), type="fanout", durable=False)
    got: list[Any] = []
    listen(worker, Queue(unique("node"), exchange, auto_delete=True), got)
    drain(worker, 1.2)  # past the first, spurious wake-ups
    waiting = threading.Thread(target=drain, args=(worker, 2.0), kwargs={"each": 2.0})
    waiting.start()
    time.sleep(0.3)  # the consumer is inside its blocking read now
    sent = time.monotonic()
    connect(redis_url, connections).Producer().publish(
        {"method": "ping"}, exchange=exchange, declare=[exchange]
    )
    waiting.join()
    assert [body for body, _ in got] == [{"method": "ping"}]
    assert got[0][1] - sent < 0.4, f"woke {got[0][1] - sent:.2f} s after the broadcast"
    # Task messages still flow on the same connection.
    connect(redis_url, connections).Producer().publish({"task": 1}, exchange="", routing_key=tasks)
    drain(worker, 1.5)
    assert [body for body, _ in tasks_got] == [{"task": 1}]


def test_replies_reach_the_caller_and_no_lane_is_made(
    redis_url: str, connections: list[Connection]
) -> None:
    box = Mailbox(unique("ns"), type="fanout")
    caller = box(connect(redis_url, connections))
    worker = connect(redis_url, connections)
    node = box(worker).Node(
        hostname="node@test",
        channel=worker.channel(),
        handlers={"ping": lambda state, **kw: "pong"},
    )
    node.listen()
    answers: list[Any] = []
    oids: list[str] = []

    def call() -> None:
        oids.append(caller.oid)  # one per thread
        answers.extend(caller._broadcast("ping", reply=True, timeout=2.0, limit=1))

    calling = threading.Thread(target=call)
    calling.start()
    deadline = time.monotonic() + 3
    while calling.is_alive() and time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            worker.drain_events(timeout=0.1)
    calling.join(3)
    assert answers == [{"node@test": "pong"}]
    assert is_reply_queue(caller.reply_queue.name)
    assert reply_queue(caller.reply_exchange.name, oids[0]) == caller.reply_queue.name
    client = redis.Redis.from_url(redis_url)
    assert not client.exists(lanes_key(caller.reply_queue.name))
    assert not list(client.scan_iter(REPLY_PREFIX + "*"))
