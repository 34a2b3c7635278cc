"""End to end, real processes (``steward serve``, ``steward worker``, Redis, the fake over
HTTP): a repository whose history has issues people closed as duplicates is calibrated
when the App is installed on it; a new issue that repeats an old one then gets one
"possibly a duplicate" comment, and a redelivery adds none.
"""

from __future__ import annotations

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot
from tests.duplicates_history import LIVE, WRITERS, add_history, repeat_of
from tests.support import ORG, example, opened, unique, wait_for
from workers.duplicates.decide import MARKER

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def install(fake: FakeGitHub, bot: Bot, name: str) -> None:
    """Deliver ``installation_repositories.added`` for ``ORG/name``."""
    payload = example("installation_repositories.added")
    payload["installation"]["id"] = 777
    payload["repositories_added"] = [
        {
            "id": fake.repo(ORG, name).id,
            "node_id": "R",
            "name": name,
            "full_name": f"{ORG}/{name}",
            "private": False,
        }
    ]
    assert bot.deliver("installation_repositories", payload)[0] == 202


def test_calibrated_on_install_then_one_comment(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    name = unique("dups")
    full = f"{ORG}/{name}"
    fake.add_repo(ORG, name, collaborators=WRITERS, files={".github/steward.yml": LIVE})
    about, originals = add_history(fake, name)

    install(fake, bot, name)

    gate = wait_for(lambda: bot.store().duplicate_gate(full), timeout=420, interval=1)
    assert gate["live"], (gate["gate"]["reason"], bot.log("worker.log"))
    assert gate["calibration"]["pairs"] == 45
    bot.drain(redis_url, timeout=120)
    number = repeat_of(fake, name, about[9])
    payload = opened("issues.opened", name, number, "newbie")

    assert bot.deliver("issues", payload)[0] == 202

    def ours() -> list[str]:
        return [c for c in fake.comment_bodies(ORG, name, number) if MARKER in c]

    (comment,) = wait_for(ours, timeout=180, interval=0.5)
    assert f"- #{originals[9]} (open): " in comment
    assert bot.deliver("issues", payload)[0] == 202  # a redelivery: nothing more
    bot.drain(redis_url, timeout=120)
    assert len(ours()) == 1
