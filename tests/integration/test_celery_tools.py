"""Celery's own tools against two real ``steward worker`` processes on the stream
transport: ``celery -A workers.celery_app inspect ping|active|stats`` answer from both,
``control enable_events`` reaches both, and an event receiver then sees a task succeed.

The commands run as an operator types them (a subprocess of the virtualenv's ``celery``);
the workers are the end-to-end tests' own (:class:`tests.bot.Bot`).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from core.broadcast import REPLY_PREFIX
from core.lanes import lanes_key
from core.queue import create_celery
from core.settings import load_settings
from core.tasks import DEFAULT_QUEUE, ROUTE
from tests.bot import Bot, bot_env
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")
APP = "workers.celery_app"
NAMES = {f"w{i}@{socket.gethostname()}" for i in range(2)}

pytestmark = pytest.mark.slow


def celery(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``celery -A workers.celery_app ARGS`` as an operator runs it."""
    return subprocess.run(
        [CELERY, "-A", APP, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def answers(env: dict[str, str], command: str) -> dict[str, Any]:
    """Each worker's answer to ``inspect COMMAND`` (``--json``)."""
    done = celery(env, "inspect", command, "--json")
    if done.returncode != 0:  # no node answered: an error line, not JSON
        return {}
    found: dict[str, Any] = json.loads(done.stdout)
    return found


@pytest.fixture(scope="module")
def workers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """Two ``steward worker`` processes (``w0@host``, ``w1@host``); nothing calls GitHub."""
    data_dir = tmp_path_factory.mktemp("celery-tools")
    env = bot_env(api_url="http://127.0.0.1:9", data_dir=data_dir, redis_url=redis_url)
    bot = Bot(env=env, data_dir=data_dir)
    for _ in NAMES:
        bot.start_worker()
    try:
        wait_for(lambda: set(answers(env, "ping")) == NAMES, timeout=120, interval=1)
        yield bot
    except AssertionError:
        raise AssertionError("the workers never answered:\n" + bot.log("worker.log")) from None
    finally:
        bot.stop()


def scenario() -> ModuleType:
    """deploy/scenario.py (make test-deploy's), whose ping step reads this output."""
    path = ROOT / "deploy" / "scenario.py"
    loader = importlib.machinery.SourceFileLoader("deploy_scenario", str(path))
    spec = importlib.util.spec_from_loader("deploy_scenario", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("deploy_scenario", module)  # its dataclasses look themselves up
    loader.exec_module(module)
    return module


def test_inspect_ping_answers_from_every_worker(workers: Bot) -> None:
    deploy = scenario()
    assert deploy.INSPECT_PING == ("celery", "-A", APP, "inspect", "ping")  # the docs' form
    done = celery(workers.env, *deploy.INSPECT_PING[3:])
    assert done.returncode == 0, done.stderr
    assert deploy.ping_answers(done.stdout) == NAMES, done.stdout
    assert "2 nodes online." in done.stdout


def test_inspect_active_and_stats_answer_from_every_worker(workers: Bot) -> None:
    active = answers(workers.env, "active")
    assert set(active) == NAMES and all(tasks == [] for tasks in active.values()), active
    stats = answers(workers.env, "stats")
    assert set(stats) == NAMES
    for name, worker in stats.items():
        assert worker["pool"]["max-concurrency"] == 4, name
        broker = worker["broker"]
        assert broker["transport"] == "steward"
        assert broker["transport_options"]["redis_url"] == workers.env["REDIS_URL"]
        assert "password" not in broker
    queues = answers(workers.env, "active_queues")
    assert {q["name"] for q in queues[min(NAMES)]} == {DEFAULT_QUEUE, "steward.inference"}


def test_broadcasts_and_replies_leave_nothing_in_redis(workers: Bot) -> None:
    client = redis.Redis.from_url(workers.env["REDIS_URL"])
    assert answers(workers.env, "ping")
    pidbox = [f"{name}.celery.pidbox" for name in NAMES]
    leftovers = [
        key.decode()
        for key in client.scan_iter("steward:*")
        if any(name in key.decode() for name in ("pidbox", "celeryev"))
        and not key.decode().startswith("steward:broadcast-bell:")
    ]
    assert leftovers == [], "a broadcast or reply queue became a key"
    assert not any(client.exists(lanes_key(queue)) for queue in pidbox)
    assert not list(client.scan_iter(REPLY_PREFIX + "*"))  # read and deleted by the caller


def test_control_enable_events_then_a_task_is_seen_to_succeed(workers: Bot) -> None:
    celery_app = create_celery(load_settings(workers.env))
    seen: list[dict[str, Any]] = []
    receivers: list[Any] = []

    def capture() -> None:
        with celery_app.connection() as conn:
            receiver = celery_app.events.Receiver(conn, handlers={"*": seen.append})
            receivers.append(receiver)
            receiver.capture(limit=None, timeout=None, wakeup=False)

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    try:
        # Both workers' heartbeats arrive (every 2 s) before anything is asked of them.
        wait_for(lambda: {e.get("hostname") for e in seen} >= NAMES, timeout=20, interval=0.2)
        done = celery(workers.env, "control", "enable_events")
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("task events enabled") == 2, done.stdout
        result = celery_app.send_task(ROUTE.name, kwargs={}, queue=ROUTE.queue)

        def succeeded() -> list[dict[str, Any]]:
            return [
                e
                for e in list(seen)
                if e["type"] == "task-succeeded" and e.get("uuid") == result.id
            ]

        (event,) = wait_for(succeeded, timeout=30, interval=0.2)
        assert event["hostname"] in NAMES
        kinds = [e["type"] for e in list(seen) if e.get("uuid") == result.id]
        assert kinds[:2] == ["task-received", "task-started"] and kinds[-1] == "task-succeeded"
    finally:
        for receiver in receivers:
            receiver.should_stop = True
        celery(workers.env, "control", "disable_events")
        thread.join(5)
