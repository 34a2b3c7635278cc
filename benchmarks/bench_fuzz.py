"""Benchmark the edge on fuzzed signed deliveries: any 5xx? any task exception?

Real processes (``steward serve --no-worker`` and one ``steward worker``) and the fake
GitHub, with one repository (``octo-org/fuzzed``, a few issues, a pull request and a
discussion so some deliveries name things that exist). ``--deliveries`` fuzzed
deliveries from :mod:`tests.fuzzing` (real example payloads with odd values, removed
keys, deep nesting, odd content types; all signed with the right secret) are posted
with ``--concurrency`` connections; then the queues are drained and the worker's log
is read.

It prints the answers by status, every 5xx (there should be none), the tasks the
worker ran and how they ended: succeeded, retried, and **raised** (a task exception:
there should be none; a task that cannot act ends with a result that says why).

    .venv/bin/python benchmarks/bench_fuzz.py [--deliveries 10000] [--concurrency 8]
        [--seed 0] [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_day_one import bench_redis, running, say, wait_until  # noqa: E402
from core.streams import queued_count  # noqa: E402
from fakegithub.fake import FakeGitHub  # noqa: E402
from tests.fuzzing import Delivery, fuzzed  # noqa: E402
from tests.support import APP_ID, INSTALLATION_ID, ORG, key_pair  # noqa: E402

REPO = "fuzzed"
QUEUES = ("steward", "steward.inference")
RAISED = re.compile(r"Task (steward\.\w+)\[[^\]]+\] raised unexpected: (\w+)")
SUCCEEDED = re.compile(r"Task (steward\.\w+)\[[^\]]+\] succeeded")
RETRY = re.compile(r"Task (steward\.\w+)\[[^\]]+\] retry")


def seed_fake(fake: FakeGitHub) -> None:
    """The repository the fuzzed payloads point at, with items some of them name."""
    fake.add_repo(ORG, REPO, labels=["bug", "enhancement", "question"])
    for i in range(5):
        fake.add_issue(ORG, REPO, title=f"Crash number {i}", body="It crashes")
    fake.add_pull(ORG, REPO, title="Fix the crash", files=["src/app.py"], user="dev")
    fake.add_discussion(ORG, REPO, title="How do I start?", category="Q&A")


async def post_all(
    url: str, deliveries: list[Delivery], concurrency: int, queued: Counter[str]
) -> list[int]:
    """POST every delivery; the status of each (599 when the connection failed). The
    tasks the receiver said it queued are counted in ``queued``.
    """
    statuses = [0] * len(deliveries)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(deliveries)):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            d = deliveries[i]
            try:
                async with session.post(url, data=d.body, headers=d.headers) as resp:
                    body = await resp.read()
                    statuses[i] = resp.status
                if statuses[i] == 202:
                    queued.update(json.loads(body)["queued"])
            except aiohttp.ClientError:
                statuses[i] = 599
            if i % 1000 == 999:
                say(f"  {i + 1} posted")

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return statuses


def idle(redis_url: str) -> bool:
    """No task queued, in flight, or waiting for a retry."""
    return queued_count(redis.Redis.from_url(redis_url), QUEUES) == 0


def worker_outcomes(log: str) -> dict[str, Any]:
    """Tasks by how they ended, from the worker's log."""
    raised = Counter(f"{task}: {exc}" for task, exc in RAISED.findall(log))
    return {
        "succeeded": Counter(SUCCEEDED.findall(log)),
        "retried": Counter(RETRY.findall(log)),
        "raised": raised,
    }


def report(statuses: list[int], deliveries: list[Delivery], outcomes: dict[str, Any]) -> None:
    """The table (``outcomes`` has the tasks queued, and how the worker ended them)."""
    by_status = Counter(statuses)
    print(f"\n{len(statuses)} fuzzed signed deliveries")
    for status, count in sorted(by_status.items()):
        print(f"  {status}: {count}")
    fives = [d.mutations for s, d in zip(statuses, deliveries, strict=True) if s >= 500]
    print(f"responses >= 500: {len(fives)}")
    for mutations in fives[:10]:
        print(f"    {mutations}")
    print(f"tasks queued:    {sum(outcomes['queued'].values())} {dict(outcomes['queued'])}")
    print(f"tasks succeeded: {sum(outcomes['succeeded'].values())} {dict(outcomes['succeeded'])}")
    print(f"tasks retried:   {sum(outcomes['retried'].values())}")
    print(f"task exceptions: {sum(outcomes['raised'].values())} {dict(outcomes['raised'])}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drain-timeout", type=float, default=600)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    rnd = random.Random(args.seed)
    deliveries = [
        fuzzed(rnd, owner=ORG, repo=REPO, installation_id=INSTALLATION_ID)
        for _ in range(args.deliveries)
    ]
    workdir = Path(tempfile.mkdtemp(prefix="steward-bench-fuzz-"))
    fake = FakeGitHub(check_responses=False)
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(INSTALLATION_ID, ORG)
    seed_fake(fake)
    started = time.monotonic()
    try:
        with (
            fake.serve_in_thread() as api_url,
            bench_redis(workdir) as redis_url,
            running(api_url, redis_url, workdir) as bot,
        ):
            say(f"posting {len(deliveries)} deliveries")
            queued: Counter[str] = Counter()
            statuses = asyncio.run(post_all(bot.url, deliveries, args.concurrency, queued))
            say("draining the queues")
            wait_until(lambda: idle(redis_url) or None, args.drain_timeout, "queues drained", 1.0)
            time.sleep(2)
            outcomes = worker_outcomes((workdir / "worker.log").read_text(errors="replace"))
            outcomes["queued"] = queued
    finally:
        if args.keep:
            say(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(statuses, deliveries, outcomes)
    print(f"total {time.monotonic() - started:.0f}s")
    if args.json:
        fives = sum(1 for s in statuses if s >= 500)
        summary = {
            "deliveries": len(statuses),
            "by_status": dict(Counter(statuses)),
            "responses_5xx": fives,
            **{k: dict(v) for k, v in outcomes.items()},
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
