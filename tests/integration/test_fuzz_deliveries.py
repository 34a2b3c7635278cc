"""Fuzzed signed deliveries: never a 5xx, and every queued task fits its contract.

The receiver runs as in production (``build_web_app`` on a real aiohttp server and a
real Redis) in a background thread; Hypothesis drives the fuzzer of
:mod:`tests.fuzzing` over the real example payloads and posts each delivery over HTTP.
Tasks that odd-but-valid values reach are run through the real flows against the fake
GitHub (``test_odd_but_valid_task_arguments_end_cleanly``): a task that cannot act
says why and stops, it never raises. People's text (comments, edits, discussions, and
repeated deliveries of one item) is fuzzed here at the door and, with every task it
queues run in-process, in ``tests/security/test_fuzz_tasks.py``.
``benchmarks/bench_fuzz.py`` is the long version (10,000 deliveries through real
``steward serve`` and ``steward worker`` processes).
"""

from __future__ import annotations

import asyncio
import http.client
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.routes import Job
from app.server import build_web_app
from core.payloads import LOGIN, MAX_ID, NAME
from core.settings import load_settings
from core.store import open_store
from core.tasks import TASKS
from tests.fuzzing import (
    REPEATS,
    TEXT_EVENTS,
    TEXT_EXAMPLES,
    fuzzed,
    text_delivery,
    with_hostile_text,
)
from tests.support import INSTALLATION_ID, SECRET, free_port, key_pair

PATH = "/api/github/webhooks"


@dataclass
class Receiver:
    """A receiver serving on a port from its own thread; the jobs it queued."""

    port: int
    jobs: list[Job] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """One delivery over HTTP."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", PATH, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def receiver(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=None,
    ).with_overrides(redis_url=redis_url)
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'steward.db'}")
    served = Receiver(port=free_port())
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve() -> web.AppRunner:
        redis = aioredis.Redis.from_url(redis_url)
        app = build_web_app(settings, redis=redis, store=store, send=served.jobs.append)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", served.port).start()
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        holder.append(loop.run_until_complete(serve()))
        started.set()
        loop.run_forever()

    holder: list[web.AppRunner] = []
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    yield served
    asyncio.run_coroutine_threadsafe(holder[0].cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def check_job(job: Job) -> None:
    """A queued job parses under its contract, with values a worker can act on."""
    args = TASKS[job.task].parse(job.kwargs)
    for name in ("owner", "repo"):
        if hasattr(args, name):
            assert NAME.fullmatch(getattr(args, name)), (job.task, name)
    for name in ("number", "installation_id"):
        value = getattr(args, name, None)
        assert value is None or 0 < value <= MAX_ID, (job.task, name, value)
    for name in ("author", "actor"):
        if hasattr(args, name):
            assert LOGIN.fullmatch(getattr(args, name)), (job.task, name)
    assert "\x00" not in repr(job.kwargs)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rnd=st.randoms(use_true_random=False))
def test_fuzzed_deliveries_never_get_a_5xx(receiver: Receiver, rnd: random.Random) -> None:
    delivery = fuzzed(rnd, owner="octo-org", repo="fuzzed", installation_id=INSTALLATION_ID)
    before = len(receiver.jobs)
    status, body = receiver.post(delivery.body, delivery.headers)
    assert status < 500, (status, body[:200], delivery.mutations)
    assert status in (200, 202, 400, 401, 413), (status, body[:200], delivery.mutations)
    if status >= 400:
        assert b'"error"' in body and len(receiver.jobs) == before, delivery.mutations
    for job in receiver.jobs[before:]:
        check_job(job)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rnd=st.randoms(use_true_random=False), name=st.sampled_from(TEXT_EVENTS))
def test_fuzzed_text_and_repeated_deliveries_never_get_a_5xx(
    receiver: Receiver, rnd: random.Random, name: str
) -> None:
    """Comments, edits and discussions full of people's hostile text (the worst inputs
    of the command parser among them), each delivered once or again: answered without
    a 5xx, and what is queued fits its contract. ``tests/security/test_fuzz_tasks.py``
    runs the queued tasks of such deliveries in-process."""
    from fakegithub.webhooks import load_webhook_example
    from tests.support import retarget

    payload = retarget(
        load_webhook_example(TEXT_EXAMPLES[name]),
        owner="octo-org",
        repo="fuzzed-text",
        installation_id=INSTALLATION_ID,
    )
    payload = with_hostile_text(payload, name, rnd)
    for _ in range(rnd.choice(REPEATS)):
        delivery = text_delivery(rnd, payload, name)
        before = len(receiver.jobs)
        status, body = receiver.post(delivery.body, delivery.headers)
        assert status in (200, 202, 400), (status, body[:200], delivery.mutations)
        for job in receiver.jobs[before:]:
            check_job(job)


@pytest.mark.parametrize(
    ("mutation", "value"),
    [
        ("issue.number", 1.0),
        ("issue.number", "12"),
        ("issue.number", 2**70),
        ("issue.number", True),
        ("repository.id", "1"),
        ("repository.name", "\ud800"),
        ("repository.owner.login", "a\x00b"),
        ("issue", 7),
        ("issue.user", None),
        ("issue.labels", [{"name": None}]),
        ("installation.id", -1),
        ("sender", "octocat"),
    ],
)
def test_odd_values_are_refused_at_the_door(receiver: Receiver, mutation: str, value: Any) -> None:
    import json

    from tests.support import delivery_headers, example, retarget

    payload = retarget(example("issues.opened"), owner="octo-org", repo="odd")
    *parents, last = mutation.split(".")
    node = payload
    for key in parents:
        node = node[key]
    node[last] = value
    body = json.dumps(payload).encode("utf-8", "surrogatepass")
    before = len(receiver.jobs)
    status, answer = receiver.post(body, delivery_headers("issues", body))
    assert status == 400, answer
    assert mutation.split(".")[0].encode() in answer or b"JSON" in answer or b"UTF" in answer
    assert len(receiver.jobs) == before
