"""Several web processes on one port (``steward serve --web-processes N``) share one Redis:
connections are spread over them, a delivery is queued once whichever answers it, and
stopping the first process stops them all.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
import uuid
from pathlib import Path

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot, bot_env
from tests.support import opened, wait_for

pytestmark = pytest.mark.slow


def pid_answering(bot: Bot) -> int:
    """The pid of the web process that answered one fresh connection."""
    health = bot.url.replace("/api/github/webhooks", "/healthz")
    with urllib.request.urlopen(health, timeout=5) as resp:
        return int(json.loads(resp.read())["pid"])


def alive(pid: int) -> bool:
    """Whether a process with this pid still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_three_web_processes_share_the_port_and_the_deduplication(
    fake_github: tuple[FakeGitHub, str], redis_url: str, tmp_path: Path
) -> None:
    _, api_url = fake_github
    env = bot_env(api_url=api_url, data_dir=tmp_path, redis_url=redis_url)
    bot = Bot(env=env, data_dir=tmp_path)
    bot.start_server("--no-worker", "--web-processes", "3")
    pids: set[int] = set()
    try:
        # The siblings start a moment after the first process; the kernel then spreads
        # new connections over all three.
        wait_for(lambda: pids.add(pid_answering(bot)) or len(pids) >= 3, timeout=60)

        payload = opened("issues.opened", "spread", 1, "newbie", "NONE")
        delivery = str(uuid.uuid4())
        statuses = [bot.deliver("issues", payload, delivery=delivery)[0] for _ in range(10)]
        assert statuses.count(202) == 1 and statuses.count(200) == 9, statuses
    finally:
        assert bot.server is not None
        bot.server.send_signal(signal.SIGTERM)
        bot.server.wait(30)
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=20)
