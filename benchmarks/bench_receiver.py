"""Benchmark the webhook receiver: signed deliveries against a real `steward serve`.

Starts `steward serve --no-worker` (a local Redis database, or the embedded one), posts
real signed `issues.opened` deliveries with several connections at once, and reports
acknowledgements per second and latency percentiles. Queued tasks are discarded after.

    python benchmarks/bench_receiver.py [--requests 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def issue_opened_body() -> bytes:
    """The body every benchmark delivery carries: GitHub's real ``issues.opened`` example."""
    payload = retarget(
        load_webhook_example("issues.opened"), owner="bench", repo="r", installation_id=1
    )
    return json.dumps(payload).encode()


def run(coroutine: Any) -> Any:
    """Run the load generator on uvloop where installed: the less CPU the client takes
    from the shared cores, the more the numbers say about the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


async def fire(url: str, total: int, concurrency: int) -> tuple[list[float], dict[int, int]]:
    """Post ``total`` deliveries with ``concurrency`` workers; (latencies ms, status counts).

    The deliveries are signed before the clock starts (signing is GitHub's work).
    """
    body = issue_opened_body()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    for _ in range(total):
        delivery = str(uuid.uuid4())
        queue.put_nowait(delivery_headers("issues", body, secret=SECRET, delivery=delivery))

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            headers = queue.get_nowait()
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


def start_steward(
    port: int, redis_url: str | None, data_dir: str, private_key: str, *, code: Path = ROOT
) -> subprocess.Popen[bytes]:
    """`steward serve --no-worker` on ``port`` in its own process group (its own session);
    ``code`` is the Steward to run (this checkout, or an older one: :func:`code_of`)."""
    env = {
        **os.environ,
        "APP_ID": "1",
        "PRIVATE_KEY": private_key,
        "WEBHOOK_SECRET": SECRET,
        "STEWARD_DATA_DIR": data_dir,
        "STEWARD_ENV_FILE": f"{data_dir}/none.env",
        "LOG_LEVEL": "warning",
        "PORT": str(port),
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    if code != ROOT:
        env["PYTHONPATH"] = str(code)
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--no-worker"],
        env=env,
        cwd=code,
        start_new_session=True,
    )


@contextlib.contextmanager
def code_of(commit: str | None) -> Iterator[tuple[Path, str]]:
    """The Steward to run: this checkout, or ``commit``'s files (``git archive``) in a
    temporary folder, run with this checkout's virtual environment."""
    if commit is None:
        yield ROOT, "this checkout"
        return
    with tempfile.TemporaryDirectory(prefix="steward-bench-code-") as tmp:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
        )
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(Path(tmp) / "code", filter="data")
        yield Path(tmp) / "code", f"commit {commit[:10]}"


def wait_for_http(url: str, timeout: float = 60) -> bool:
    """Poll ``url`` until it answers 2xx; False if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group and wait for it (SIGKILL after 30 s)."""
    if server.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(5)


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
    server = start_steward(port, redis_url, tmp, key_pair()[0])
    url = f"http://127.0.0.1:{port}/api/github/webhooks"
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        run(fire(url, args.warmup, args.concurrency))
        started = time.perf_counter()
        latencies, statuses = run(fire(url, args.requests, args.concurrency))
        elapsed = time.perf_counter() - started
    finally:
        stop_server(server)
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
