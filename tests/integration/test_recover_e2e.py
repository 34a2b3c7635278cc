"""End to end: deliveries GitHub could not hand over while Steward was down come back.

A fake GitHub of its own (so its delivery log holds this test's deliveries only) sends
three real ``issues.opened`` deliveries from its Hookshot to a ``steward serve`` that
is not running: GitHub logs "failed to connect to host". Then the bot starts, the
recovery task runs in a real worker (queued through Celery, as beat queues it),
GitHub redelivers, and each newcomer gets exactly one welcome. Once everything is
back, neither the operator's ``steward deliveries redeliver`` nor another run of the
task asks for anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core.deliveries import delivery_key
from core.queue import create_celery, enqueue
from core.settings import load_settings
from core.tasks import RECOVER_DELIVERIES, NoArgs
from fakegithub.fake import FakeGitHub
from tests.bot import ROOT, Bot, bot_env
from tests.conftest import make_fake
from tests.support import ORG, SECRET, opened, unique, wait_for
from workers.deliveries.flow import LOCK_KEY, MARK_KEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ATTEMPTS = r"^/app/hook/deliveries/\d+/attempts$"
NEWCOMERS = ("ada", "grace", "linus")


@pytest.fixture
def github() -> Iterator[tuple[FakeGitHub, str]]:
    """A fake GitHub whose delivery log this test has to itself."""
    fake = make_fake()
    with fake.serve_in_thread() as url:
        yield fake, url
    assert fake.violations == [], "the bot made calls GitHub's OpenAPI description rejects"


@pytest.fixture
def bot(github: tuple[FakeGitHub, str], redis_url: str, tmp_path: Path) -> Iterator[Bot]:
    """A bot that is not started yet (the test starts it when Steward comes back)."""
    client = redis.Redis.from_url(redis_url)
    client.delete(MARK_KEY, LOCK_KEY)
    env = bot_env(api_url=github[1], data_dir=tmp_path, redis_url=redis_url)
    made = Bot(env=env, data_dir=tmp_path)
    yield made
    made.stop()
    client.delete(MARK_KEY)


def queue_recovery(bot: Bot) -> None:
    """Queue ``steward.recover_deliveries`` as Celery beat does."""
    from celery import _state

    settings = load_settings(bot.env, env_file=bot.data_dir / "no.env")
    previous = _state.default_app
    try:
        enqueue(create_celery(settings), RECOVER_DELIVERIES, NoArgs())
    finally:
        _state.set_default_app(previous)


def recoveries_done(bot: Bot) -> int:
    """Runs of the recovery task the worker has finished (Celery's line for each)."""
    log = (bot.data_dir / "worker.log").read_text(errors="replace")
    return sum(
        "Task steward.recover_deliveries[" in line and "succeeded" in line
        for line in log.splitlines()
    )


def run_recovery(bot: Bot, fake: FakeGitHub, *, asks: int) -> None:
    """One run of the task in the worker; once it has finished (so it has asked GitHub
    for everything it meant to) and GitHub has sent what was asked for, GitHub has had
    ``asks`` requests in all.
    """
    finished = recoveries_done(bot)
    queue_recovery(bot)
    wait_for(lambda: recoveries_done(bot) > finished, timeout=60)
    wait_for(fake.hooks.idle, timeout=30)
    assert len(fake.calls("POST", ATTEMPTS)) == asks


def welcomes(fake: FakeGitHub, repo: str, number: int) -> list[str]:
    return [b for b in fake.comment_bodies(ORG, repo, number) if "steward:welcome" in b]


def test_missed_deliveries_are_redelivered_and_take_effect_once(
    github: tuple[FakeGitHub, str], bot: Bot, redis_url: str
) -> None:
    fake, _ = github
    repo = unique("recover")
    config = "triage:\n  enabled: false\nreviewers:\n  issues: 'off'\n"
    fake.add_repo(ORG, repo, files={"CONTRIBUTING.md": "# Hi\n", ".github/steward.yml": config})
    issues = [fake.add_issue(ORG, repo, title=f"Help {who}", user=who) for who in NEWCOMERS]

    # Steward is down: GitHub cannot connect and logs every delivery as failed.
    fake.hooks.configure(bot.url, SECRET)
    sent = [
        fake.hooks.send("issues", opened("issues.opened", repo, issue.number, issue.user))
        for issue in issues
    ]
    assert {(d.status, d.status_code) for d in sent} == {("failed to connect to host", 0)}

    bot.start_server("--no-worker")
    bot.start_worker()
    # The newest attempt in the log failed, so the first run sends one probe...
    run_recovery(bot, fake, asks=1)
    wait_for(lambda: welcomes(fake, repo, issues[0].number), timeout=60)
    # ...which got through, so the next run asks for the rest.
    run_recovery(bot, fake, asks=3)
    for issue in issues:
        wait_for(lambda issue=issue: welcomes(fake, repo, issue.number), timeout=60)

    everything_is_back = _cli(bot, "redeliver", "--since", "1h", "--json")
    assert everything_is_back["redelivered"] == []
    assert everything_is_back["counts"] == {"delivered": 3}
    run_recovery(bot, fake, asks=3)  # another scheduled run asks for nothing
    bot.drain(redis_url)  # every task the redeliveries queued has run: a duplicate shows

    for issue, delivery in zip(issues, sent, strict=True):
        (welcome,) = welcomes(fake, repo, issue.number)
        assert f"@{issue.user}" in welcome
        first, again = fake.hooks.attempts(delivery.guid)
        assert (first.status_code, again.status_code, again.redelivery) == (0, 202, True)
        assert redis.Redis.from_url(redis_url).exists(delivery_key(delivery.guid))
    assert len(fake.hooks.deliveries) == 6


def _cli(bot: Bot, *args: str) -> dict[str, object]:
    """``steward deliveries ARGS`` as an operator runs it, with the bot's environment."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "deliveries", *args],
        env=bot.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result
