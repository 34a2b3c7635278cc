"""A burst of deliveries while workers are SIGKILLed at random instants.

Shared by ``tests/integration/test_kill_anywhere.py`` (a short burst in the suite) and
``benchmarks/bench_kill_anywhere.py`` (100 kills). Every delivery is a first issue of
its own newcomer, so each must end with exactly one welcome comment; the triage, the
people-for-issues and the welcome task of each are all killed at some point of their
lives (taken, reserved, running, inside a GitHub call), and a fresh worker starts
right after each kill. The result says whether anything was lost or doubled, and how
long after the last kill the last task finished.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fakegithub.fake import FakeGitHub
from tests.bot import Bot
from tests.support import ORG, opened, unique, wait_for


@dataclass
class Burst:
    """What happened in one burst."""

    deliveries: int
    kills: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    welcomes: dict[int, int] = field(default_factory=dict)
    finished_after_last_kill: float | None = None
    seconds: float = 0.0

    @property
    def lost(self) -> int:
        """Issues left without a welcome."""
        return sum(1 for n in self.welcomes.values() if n == 0)

    @property
    def doubled(self) -> int:
        """Issues welcomed more than once."""
        return sum(1 for n in self.welcomes.values() if n > 1)

    def summary(self) -> dict[str, Any]:
        """The numbers, for a table or JSON."""
        return {
            "deliveries": self.deliveries,
            "kills": len(self.kills),
            "accepted": self.statuses.get(202, 0),
            "lost": self.lost,
            "doubled": self.doubled,
            "finished_after_last_kill_s": self.finished_after_last_kill,
            "seconds": round(self.seconds, 1),
        }


def welcome_count(fake: FakeGitHub, repo: str, number: int) -> int:
    """Welcome comments on one issue."""
    return sum("steward:welcome" in body for body in fake.comment_bodies(ORG, repo, number))


def _deliver_all(bot: Bot, payloads: list[dict[str, Any]], burst: Burst) -> None:
    for payload in payloads:
        burst.statuses[bot.deliver("issues", payload)[0]] += 1


def _kill_at_random(bot: Bot, burst: Burst, *, kills: int, spread: float, seed: int) -> None:
    rnd = random.Random(seed)
    instants = sorted(rnd.uniform(0, spread) for _ in range(kills))
    started = time.monotonic()
    for instant in instants:
        time.sleep(max(0.0, started + instant - time.monotonic()))
        bot.kill_workers()
        burst.kills.append(time.monotonic())
        bot.start_worker()


def run_burst(
    bot: Bot,
    fake: FakeGitHub,
    *,
    deliveries: int,
    kills: int,
    spread: float,
    seed: int = 0,
    timeout: float = 300,
) -> Burst:
    """Deliver ``deliveries`` first issues while killing the worker ``kills`` times over
    ``spread`` seconds; wait until every issue is welcomed (or ``timeout``)."""
    repo = unique("killed")
    fake.add_repo(ORG, repo, files={"CONTRIBUTING.md": "# How we work\n"})
    numbers, payloads = [], []
    for i in range(deliveries):
        login = f"newcomer-{seed}-{i}"
        issue = fake.add_issue(ORG, repo, title=f"It crashes ({i})", user=login)
        numbers.append(issue.number)
        payloads.append(opened("issues.opened", repo, issue.number, login, "NONE"))
    burst = Burst(deliveries)
    started = time.monotonic()
    killer = threading.Thread(
        target=_kill_at_random,
        args=(bot, burst),
        kwargs={"kills": kills, "spread": spread, "seed": seed},
    )
    killer.start()
    _deliver_all(bot, payloads, burst)
    killer.join()

    def all_welcomed() -> bool:
        return all(welcome_count(fake, repo, n) for n in numbers)

    with contextlib.suppress(AssertionError):  # what is missing is counted as lost below
        wait_for(all_welcomed, timeout=timeout, interval=0.5)
    done = time.monotonic()
    # A doubled effect comes from a task still queued or held (a killed worker's message
    # comes back after the visibility timeout): once the queue has drained, it has landed.
    bot.drain(bot.env["REDIS_URL"], timeout=120)
    burst.welcomes = {n: welcome_count(fake, repo, n) for n in numbers}
    burst.seconds = done - started
    if burst.kills:
        burst.finished_after_last_kill = round(max(0.0, done - burst.kills[-1]), 1)
    return burst
