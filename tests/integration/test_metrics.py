"""``GET /metrics``: deliveries, task runs, queue depth, live precision and several
processes merged from one multiprocess directory, all parsed as Prometheus text. The
settings and the live-precision cache alone: tests/unit/test_metrics.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from celery import Task
from celery.exceptions import Retry
from prometheus_client.parser import text_string_to_metric_families

from app.server import build_web_app
from core import metrics as core_metrics
from core import tasks as contracts
from core.settings import Settings, load_settings
from core.store import ActionRecord, Store, open_store
from core.streams import stream_key
from core.tasks import DEFAULT_QUEUE, INFERENCE_QUEUE
from tests.flows import conftest as flow_fixtures
from tests.flows.conftest import Flows
from tests.integration.test_receiver import Queue, issue_opened, post
from tests.support import INSTALLATION_ID, ORG, SECRET, key_pair
from workers import runtime as worker_runtime
from workers.github import GitHubUnavailable
from workers.tasks import run_task
from workers.welcome.flow import run_welcome

ROOT = Path(__file__).resolve().parents[2]
# The in-process flow runner of tests/flows, for a task run through run_task.
base_settings = flow_fixtures.base_settings
fake = flow_fixtures.fake
migrated_db = flow_fixtures.migrated_db
settings = flow_fixtures.settings
store = flow_fixtures.store
runtime = flow_fixtures.runtime
flows = flow_fixtures.flows
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Iterator[Path]:
    """This test's multiprocess directory, configured for this process (undone after)."""
    directory = core_metrics.configure_metrics(tmp_path / "metrics")
    assert directory is not None
    yield directory
    core_metrics.configure_metrics(None)


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, sorted labels) → value (the text must parse)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


#: The scrapes' bearer token (``/metrics`` is not served on the webhook port without one).
TOKEN = "scrape-token"


def web_settings(redis_url: str, **extra: str) -> Settings:
    """A configured receiver's settings (the test App, the test Redis, the scrape token)."""
    env = {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET}
    env.update({"STEWARD_METRICS_TOKEN": TOKEN, **extra})
    return load_settings({**env, "REDIS_URL": redis_url}, env_file=Path("/nonexistent.env"))


@pytest.fixture
async def web(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str, metrics_dir: Path
) -> AsyncIterator[tuple[TestClient, Store]]:
    """The web app of ``steward serve`` (jobs captured, not queued) and its store."""
    redis = aioredis.Redis.from_url(redis_url)
    store = open_store(sqlite_url)
    app = build_web_app(web_settings(redis_url), redis=redis, store=store, send=Queue().send)
    yield await aiohttp_client(app), store
    await redis.aclose()


async def scrape(client: TestClient, **headers: str) -> Samples:
    headers.setdefault("Authorization", f"Bearer {TOKEN}")
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(await resp.text())


async def test_deliveries_are_counted_by_event_and_outcome(
    web: tuple[TestClient, Store],
) -> None:
    http, _ = web
    body = issue_opened()
    headers = {"X-GitHub-Delivery": "metrics-1"}
    assert (await post(http, "issues", body, **headers)).status == 202
    assert (await post(http, "issues", body, **headers)).status == 200  # the same delivery
    assert (
        await post(http, "issues", body, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
    ).status == 401
    assert (await post(http, "issues", b"[1]")).status == 400
    samples = await scrape(http)
    name = "steward_deliveries_total"
    assert value(samples, name, event="issues", outcome="queued") == 1
    assert value(samples, name, event="issues", outcome="duplicate") == 1
    assert value(samples, name, event="unknown", outcome="bad_signature") == 1
    assert value(samples, name, event="unknown", outcome="malformed") == 1


async def test_queue_depth_is_read_at_scrape_time(
    web: tuple[TestClient, Store], redis_url: str
) -> None:
    http, _ = web
    client = aioredis.Redis.from_url(redis_url)
    try:
        samples = await scrape(http)
        lengths = [await client.xlen(stream_key(q)) for q in (DEFAULT_QUEUE, INFERENCE_QUEUE)]
    finally:
        await client.aclose()
    assert value(samples, "steward_queue_depth", queue=DEFAULT_QUEUE) == lengths[0]
    assert value(samples, "steward_queue_depth", queue=INFERENCE_QUEUE) == lengths[1]


def decision(store: Store, repo: str, number: int, **detail: Any) -> None:
    mode = detail.pop("mode", "live")
    store.record_action(
        ActionRecord(
            effect_key=f"triage:{repo}#{number}",
            repo=repo,
            feature="triage",
            action="decision",
            number=number,
            detail=detail,
            mode=mode,
        )
    )


async def test_live_precision_per_repository_follows_the_evaluate_live_rule(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str, metrics_dir: Path
) -> None:
    store = open_store(sqlite_url)
    decision(store, "o/live", 1, applied=["bug"])
    decision(store, "o/live", 2, applied=["bug", "docs"])
    store.record_feedback(repo="o/live", number=2, kind="label_removed", subject="docs", actor="m")
    decision(store, "o/shadow", 1, applied=["bug"], mode="shadow")
    store.record_feedback(repo="o/shadow", number=1, kind="label_added", subject="bug", actor="m")
    redis = aioredis.Redis.from_url(redis_url)
    app = build_web_app(web_settings(redis_url), redis=redis, store=store, send=Queue().send)
    try:  # computed when the web process starts: the first scrape gets it
        samples = await scrape(await aiohttp_client(app))
    finally:
        await redis.aclose()
    assert value(samples, "steward_label_precision", repo="o/live", mode="live") == 2 / 3
    assert value(samples, "steward_label_judged", repo="o/live", mode="live") == 3
    assert value(samples, "steward_label_precision", repo="o/shadow", mode="shadow") == 1.0
    assert value(samples, "steward_triage_decisions", repo="o/live") == 2


async def test_a_token_guards_metrics_when_set(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str, metrics_dir: Path
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    settings = web_settings(redis_url, STEWARD_METRICS_TOKEN="s3cret")
    app = build_web_app(settings, redis=redis, store=open_store(sqlite_url), send=Queue().send)
    http = await aiohttp_client(app)
    try:
        assert (await http.get("/metrics")).status == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer nope"})).status == 401
        await scrape(http, Authorization="Bearer s3cret")
    finally:
        await redis.aclose()


class FakeTask:
    """What :func:`run_task` uses of a bound Celery task: its name and ``retry``."""

    name = "steward.test"

    class request:
        retries = 0

    def retry(self, **_: Any) -> Exception:
        return Retry("again")


def test_task_runs_are_counted_by_outcome_and_timed(
    flows: Flows, metrics_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_runtime, "_runtime", flows.runtime)
    task = cast(Task, FakeTask())
    where = {"installation_id": INSTALLATION_ID, "owner": ORG, "repo": flows.new_repo("m")}
    missing = {**where, "number": 2**40, "kind": "issue", "author": "newbie"}
    assert "skipped" in run_task(task, contracts.WELCOME, missing, flow=run_welcome)
    assert "rejected" in run_task(task, contracts.WELCOME, {"nonsense": 1}, flow=run_welcome)

    async def fine(ctx: Any, args: Any) -> dict[str, Any]:
        return {"done": True}

    async def down(ctx: Any, args: Any) -> dict[str, Any]:
        raise GitHubUnavailable("HTTP 502")

    async def broken(ctx: Any, args: Any) -> dict[str, Any]:
        raise RuntimeError("a bug")

    run_task(task, contracts.WELCOME, missing, flow=fine)
    with pytest.raises(Retry):
        run_task(task, contracts.WELCOME, missing, flow=down)
    with pytest.raises(RuntimeError):
        run_task(task, contracts.WELCOME, missing, flow=broken)
    samples = parse(core_metrics.render().decode())
    for outcome in core_metrics.TASK_OUTCOMES:
        assert value(samples, "steward_tasks_total", task="steward.test", outcome=outcome) == 1
    assert value(samples, "steward_task_seconds_count", task="steward.test") == 5


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from core import metrics

    metrics.configure_metrics(Path(sys.argv[1]))
    metrics.record_delivery("issues", "queued")
    metrics.record_task("steward.welcome", "succeeded", 0.2)
    metrics.record_rate_limit("42", float(sys.argv[2]))
    metrics.record_batch("model", 8, 0.05)
    """
)


def test_two_processes_are_merged_and_dead_ones_cleaned(metrics_dir: Path) -> None:
    writers = []
    for remaining in (4000, 4999):  # one after the other: the later value is the latest
        args = [sys.executable, "-c", WRITER, str(metrics_dir), str(remaining)]
        writers.append(subprocess.Popen(args, cwd=ROOT))
        assert writers[-1].wait(60) == 0
    pids = {core_metrics.file_owner(p) for p in metrics_dir.glob("*.db")}
    assert pids == {(core_metrics.this_host(), w.pid) for w in writers}
    core_metrics.record_delivery("issues", "queued")  # this process too
    samples = parse(core_metrics.render().decode())
    assert value(samples, "steward_deliveries_total", event="issues", outcome="queued") == 3
    succeeded = {"task": "steward.welcome", "outcome": "succeeded"}
    assert value(samples, "steward_tasks_total", **succeeded) == 2
    assert value(samples, "steward_inference_batch_size_sum", source="model") == 16
    remaining = value(samples, "steward_github_rate_limit_remaining", installation="42")
    assert remaining == 4999  # the most recent write wins
    removed = core_metrics.remove_dead_files(metrics_dir)
    assert {core_metrics.file_owner(p) for p in removed} == pids
    samples = parse(core_metrics.render().decode())
    assert value(samples, "steward_deliveries_total", event="issues", outcome="queued") == 1


CONTAINER = textwrap.dedent(
    """
    import socket
    import sys
    from pathlib import Path

    socket.gethostname = lambda: sys.argv[2]  # another container, with the same pids
    from core import metrics

    metrics.configure_metrics(Path(sys.argv[1]), clean=True)
    metrics.record_task("steward.welcome", "succeeded", 0.2)
    """
)


def test_containers_sharing_the_directory_are_merged_and_keep_their_files(
    metrics_dir: Path,
) -> None:
    for host in ("worker_1", "worker-2"):
        args = [sys.executable, "-c", CONTAINER, str(metrics_dir), host]
        assert subprocess.run(args, cwd=ROOT, timeout=60).returncode == 0
    hosts = {core_metrics.file_owner(p)[0] for p in metrics_dir.glob("*.db")}  # type: ignore[index]
    assert hosts == {"worker-1", "worker-2"}
    # This host's start-up cleaning leaves the other containers' files alone.
    assert core_metrics.remove_dead_files(metrics_dir) == []
    # An older file of this host's dead process (before host names) is still cleaned.
    old = metrics_dir / "counter_999999999.db"
    old.write_bytes(b"")
    assert core_metrics.remove_dead_files(metrics_dir) == [old]
    samples = parse(core_metrics.render().decode())
    succeeded = {"task": "steward.welcome", "outcome": "succeeded"}
    assert value(samples, "steward_tasks_total", **succeeded) == 2


def _forked_child_records() -> None:
    core_metrics.record_task("steward.welcome", "succeeded", 0.1)


def test_a_forked_child_writes_its_own_file(metrics_dir: Path) -> None:
    """Celery's prefork children are forks of a process that already wrote metrics."""
    import multiprocessing

    core_metrics.record_task("steward.welcome", "succeeded", 0.1)
    child = multiprocessing.get_context("fork").Process(target=_forked_child_records)
    child.start()
    child.join(30)
    assert child.exitcode == 0
    pids = {core_metrics.file_owner(p) for p in metrics_dir.glob("*.db")}
    assert pids == {(core_metrics.this_host(), os.getpid()), (core_metrics.this_host(), child.pid)}
    samples = parse(core_metrics.render().decode())
    succeeded = {"task": "steward.welcome", "outcome": "succeeded"}
    assert value(samples, "steward_tasks_total", **succeeded) == 2
