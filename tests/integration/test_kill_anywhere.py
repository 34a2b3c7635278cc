"""Workers SIGKILLed at random instants of a burst: nothing lost, nothing doubled.

The short version of ``benchmarks/bench_kill_anywhere.py`` (see :mod:`tests.kill_anywhere`):
a real ``steward serve`` and real workers on the stream transport, the fake GitHub, and
a killer that SIGKILLs the worker (pool and all) at random instants and starts a fresh
one. Every first issue must end with exactly one welcome, and the last task must finish
within 60 s of the last kill.
"""

from __future__ import annotations

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot
from tests.kill_anywhere import run_burst

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_a_burst_survives_random_kills(bot: Bot, fake: FakeGitHub) -> None:
    burst = run_burst(bot, fake, deliveries=30, kills=4, spread=20, seed=7, timeout=180)
    summary = burst.summary()
    assert summary["accepted"] == 30, summary
    assert (summary["lost"], summary["doubled"]) == (0, 0), summary
    assert summary["finished_after_last_kill_s"] is not None
    assert summary["finished_after_last_kill_s"] < 60, summary
