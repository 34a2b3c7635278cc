"""Benchmark the webhook receiver: signed deliveries against a real `steward serve`.

Starts `steward serve --no-worker` (a local Redis database, or the embedded one), posts
real signed `issues.opened` deliveries with several connections at once, and reports
acknowledgements per second and latency percentiles. Queued tasks are discarded after.

    python benchmarks/bench_receiver.py [--requests 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fakegithub import load_webhook_example  # noqa: E402
from fakegithub.deliveries import delivery_headers, retarget  # noqa: E402

SECRET = "bench-secret"


def pick_redis() -> str | None:
    """An empty database of the local Redis, or None for the embedded one."""
    try:
        redis.Redis(socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    for db in range(15, 0, -1):
        client = redis.Redis(db=db)
        if client.dbsize() == 0 and client.set("steward-bench:claim", 1, nx=True, ex=3600):
            return f"redis://127.0.0.1:6379/{db}"
    return None


async def fire(url: str, total: int, concurrency: int) -> tuple[list[float], dict[int, int]]:
    """Post ``total`` deliveries with ``concurrency`` workers; (latencies ms, status counts)."""
    payload = retarget(
        load_webhook_example("issues.opened"), owner="bench", repo="r", installation_id=1
    )
    body = json.dumps(payload).encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            queue.get_nowait()
            headers = delivery_headers("issues", body, secret=SECRET, delivery=str(uuid.uuid4()))
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
            latencies.append((time.perf_counter() - start) * 1000)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies, statuses


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    from tests.support import free_port, key_pair  # the test App's key is fine here

    port = free_port()
    redis_url = pick_redis()
    tmp = tempfile.mkdtemp(prefix="steward-bench-")
    env = {
        **os.environ,
        "APP_ID": "1",
        "PRIVATE_KEY": key_pair()[0],
        "WEBHOOK_SECRET": SECRET,
        "STEWARD_DATA_DIR": tmp,
        "STEWARD_ENV_FILE": f"{tmp}/none.env",
        "LOG_LEVEL": "warning",
        "PORT": str(port),
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--no-worker"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/github/webhooks"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                import urllib.request

                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        asyncio.run(fire(url, args.warmup, args.concurrency))
        started = time.perf_counter()
        latencies, statuses = asyncio.run(fire(url, args.requests, args.concurrency))
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        if redis_url:
            redis.Redis.from_url(redis_url).flushdb()
    print(
        f"receiver benchmark: {args.requests} signed issues.opened deliveries, "
        f"{args.concurrency} connections, broker {'local Redis' if redis_url else 'embedded'}"
    )
    print(f"  statuses          {dict(sorted(statuses.items()))}")
    print(f"  acks per second   {args.requests / elapsed:8.0f}")
    for q in (50, 90, 99):
        print(f"  p{q:<2} latency       {percentile(latencies, q):8.2f} ms")
    print(f"  mean latency      {statistics.fmean(latencies):8.2f} ms")
    print(f"  max latency       {max(latencies):8.2f} ms")
    return 0 if set(statuses) == {202} else 1


if __name__ == "__main__":
    sys.exit(main())
