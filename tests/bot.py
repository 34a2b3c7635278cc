"""A running Steward for end-to-end tests: ``steward serve`` and ``steward worker`` processes.

Everything is real: HTTP into the web process, a Redis broker, Celery workers in their
own processes, and the fake GitHub over HTTP, checked against GitHub's OpenAPI description.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from core.store import Store, open_store
from core.streams import queued_count
from core.tasks import DEFAULT_QUEUE, INFERENCE_QUEUE
from tests.support import APP_ID, SECRET, delivery_headers, free_port, key_pair, wait_for

ROOT = Path(__file__).resolve().parent.parent


def bot_env(*, api_url: str, data_dir: Path, redis_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of the bot's processes (no `.env` from the working directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))}
    env.update(
        APP_ID=str(APP_ID),
        PRIVATE_KEY=key_pair()[0],
        WEBHOOK_SECRET=SECRET,
        GITHUB_API_URL=api_url,
        STEWARD_DATA_DIR=str(data_dir),
        STEWARD_ENV_FILE=str(data_dir / "no.env"),
        STEWARD_VISIBILITY_TIMEOUT="6",
        LOG_LEVEL="info",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


@dataclass
class Bot:
    """Handles on the running processes plus helpers to talk to them."""

    env: dict[str, str]
    data_dir: Path
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The webhook URL."""
        return f"http://127.0.0.1:{self.port}/api/github/webhooks"

    def _spawn(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        out = open(self.data_dir / log, "ab")  # noqa: SIM115 - handed to the child
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_server(self, *extra: str) -> None:
        """Start ``steward serve`` and wait until it answers /healthz."""
        self.server = self._spawn("serve", "--port", str(self.port), *extra, log="serve.log")
        wait_for(self._healthy, timeout=60, interval=0.2)

    def _healthy(self) -> bool:
        if self.server and self.server.poll() is not None:
            raise AssertionError("steward serve exited:\n" + self.log("serve.log"))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                return True
        except OSError:
            return False

    def start_worker(self) -> subprocess.Popen[bytes]:
        """Start one more ``steward worker``."""
        worker = self._spawn(
            "worker",
            "--concurrency",
            "4",
            "--hostname",
            f"w{len(self.workers)}@%h",
            log="worker.log",
        )
        self.workers.append(worker)
        return worker

    def kill_workers(self) -> None:
        """SIGKILL every worker with its pool children (a crash: no warm shutdown)."""
        for worker in self.workers:
            _signal_group(worker, signal.SIGKILL)
            worker.wait(10)
        self.workers.clear()

    def stop(self) -> None:
        """Stop the server and workers gracefully, then make sure nothing is left."""
        procs = [p for p in [*self.workers, self.server] if p]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
            _signal_group(proc, signal.SIGKILL)
        self.workers.clear()
        self.server = None

    def store(self) -> Store:
        """The bot's database (SQLite in its data dir)."""
        return open_store(f"sqlite:///{(self.data_dir / 'steward.db').resolve()}")

    def log(self, name: str) -> str:
        """A process log's last lines (for failure messages)."""
        path = self.data_dir / name
        return path.read_text()[-4000:] if path.exists() else ""

    def deliver(
        self,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        delivery: str | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """POST a signed delivery; returns (status, JSON body)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h = {**delivery_headers(event, body, delivery=delivery, secret=secret), **(headers or {})}
        request = urllib.request.Request(
            self.url, data=body, headers={k: v for k, v in h.items() if v}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def drain(self, redis_url: str, timeout: float = 45) -> None:
        """Wait until the queue is empty and no task is in flight."""
        client = redis.Redis.from_url(redis_url)

        def idle() -> bool:
            return queued_count(client, (DEFAULT_QUEUE, INFERENCE_QUEUE)) == 0

        wait_for(idle, timeout=timeout, interval=0.2)
        time.sleep(0.3)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal a child's whole process group (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def running_bot(bot: Bot, *, workers: int = 1) -> Iterator[Bot]:
    """Start server and workers, yield, stop."""
    bot.start_server("--no-worker")
    for _ in range(workers):
        bot.start_worker()
    try:
        yield bot
    finally:
        bot.stop()
