# ruff: noqa: F811 (the flows' fixtures are imported by name, and named again as parameters)
"""Strangers and noisy neighbours, through the real flows (in-process, the checked fake).

- one reply per comment: a refused comment edited five times with new unknown commands
  gets one reply, edited in place (before: six replies);
- at most ``commands.max_replies_per_hour`` new replies per person and item; past it,
  a reaction only (before: one reply per comment, without limit);
- ``/reviewers`` acts once per head commit and says so once (before: every time);
- markers count only in the App's own comments: a person who pastes one keeps nothing
  from being said (before: the help and the welcome were suppressed);
- a flood of the worst comments does not delay another comment's ``/label`` by a second
  (before: one comment held the GIL for seconds).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from core.tasks import CommandArgs
from tests.flows.conftest import (  # noqa: F401 (the flows' fixtures, used by name)
    Flows,
    base_settings,
    fake,
    flows,
    migrated_db,
    runtime,
    settings,
    store,
)
from tests.flows.test_commands_flow import (
    BOT,
    LABELS,
    PEOPLE,
    Thread,
    deliver,
    new_item,
    replies,
    routed,
    write_comment,
)
from tests.flows.test_reviewers_flow import WRITERS, repo_with_history
from tests.flows.test_welcome_flow import Item, welcome_args
from tests.support import ORG
from workers.commands.flow import run_commands
from workers.welcome.decide import marker as welcome_marker
from workers.welcome.flow import run_welcome


def refusals(flows: Flows, thread: Thread) -> list[str]:
    """The bot's refusal replies on the item."""
    return [body for body in replies(flows, thread) if "did not run" in body]


async def test_edits_of_a_comment_get_one_reply_edited_in_place(flows: Flows) -> None:
    fake = flows.fake
    repo = flows.new_repo("edits", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    thread = write_comment(flows, (repo, number, "issue"), body="/steward x0", user="dave")
    assert (await deliver(flows, thread))["refused"] == ["/steward x0"]
    body = "/steward x0"
    for i in range(1, 6):
        body += f"\n/steward x{i}"
        fake.edit_comment(ORG, repo, thread.comment, body=body)
        assert (await deliver(flows, thread, "edited"))["refused"] == [f"/steward x{i}"]
    (reply,) = refusals(flows, thread)
    assert all(f"`/steward x{i}`" in reply for i in range(6)), reply
    posts = flows.requests("POST", rf"/repos/{ORG}/{repo}/issues/{number}/comments$")
    edits = flows.requests("PATCH", rf"/repos/{ORG}/{repo}/issues/comments/\d+$")
    assert (len(posts), len(edits)) == (1, 5)
    assert fake.reactions_on(ORG, repo, thread.comment) == [(BOT, "confused")]


async def test_a_person_gets_at_most_three_new_replies_per_item_and_hour(flows: Flows) -> None:
    repo = flows.new_repo("noisy", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    threads = []
    for i in range(6):
        thread = write_comment(flows, (repo, number, "issue"), body=f"/steward a{i}", user="dave")
        assert (await deliver(flows, thread))["refused"] == [f"/steward a{i}"]
        threads.append(thread)
    said = refusals(flows, threads[0])
    assert len(said) == 3 and all("@dave" in s for s in said)
    for thread in threads:  # every refused comment is still told, by a reaction
        assert flows.fake.reactions_on(ORG, repo, thread.comment) == [(BOT, "confused")]
    other = write_comment(flows, (repo, number, "issue"), body="/steward b", user="erin")
    await deliver(flows, other)
    assert len(refusals(flows, other)) == 4  # the limit is per person


async def test_the_hourly_limit_is_a_setting(flows: Flows) -> None:
    config = "commands:\n  max_replies_per_hour: 1\n"
    repo = flows.new_repo("limit", config=config, labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    for i in range(3):
        thread = write_comment(flows, (repo, number, "issue"), body=f"/steward {i}", user="dave")
        await deliver(flows, thread)
    assert len(refusals(flows, thread)) == 1


async def test_reviewers_run_once_per_head_commit(flows: Flows) -> None:
    fake = flows.fake
    repo = await repo_with_history(flows, "reviewers:\n  mode: suggest\n  count: 1\n")
    for login, permission in PEOPLE.items():
        if login not in WRITERS:
            fake.add_collaborator(ORG, repo, login, permission)
    pull = fake.add_pull(ORG, repo, title="http2", user="dave", files=["net/http2/transport.go"])
    where = (repo, pull.number, "pull_request")
    ran = []
    for _ in range(5):
        thread = write_comment(flows, where, body="/reviewers", user="maint")
        ran.append((await deliver(flows, thread))["ran"])
    assert ran == [["/reviewers"], [], [], [], []]
    bodies = replies(flows, thread)
    assert len([b for b in bodies if "suggests these reviewers" in b]) == 1
    assert len([b for b in bodies if "already asked" in b]) == 1


@pytest.mark.parametrize("kind", ["issue", "discussion"])
async def test_a_pasted_marker_keeps_nothing_from_being_said(flows: Flows, kind: str) -> None:
    repo = flows.new_repo("pasted", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, kind)
    paste = "look: <!-- steward:commands-help --> <!-- steward:command-refused:1:reply -->"
    write_comment(flows, (repo, number, kind), body=paste, user="erin")
    thread = write_comment(flows, (repo, number, kind), body="/steward help", user="dave")
    assert (await deliver(flows, thread))["ran"] == ["/steward help"]
    assert len([b for b in replies(flows, thread) if "Commands Steward understands" in b]) == 1


async def test_a_pasted_welcome_marker_keeps_nothing_from_being_said(flows: Flows) -> None:
    fake = flows.fake
    repo = flows.new_repo("welcome-paste")
    issue = fake.add_issue(ORG, repo, title="It crashes", user="newbie", author_association="NONE")
    fake.add_comment(ORG, repo, issue.number, body=welcome_marker("issue"), user="erin")
    args = welcome_args(
        repo, "issue", Item(issue.number), author="newbie", author_type="User", association="NONE"
    )
    result = await flows.run(run_welcome, args)
    assert result == {"welcomed": "issue", "posted": True, "mode": "live"}


@pytest.mark.parametrize(
    ("author", "ours"),
    [
        ({"login": "steward[bot]", "type": "Bot"}, True),
        ({"login": "Steward[bot]"}, True),
        ({"login": "steward", "__typename": "Bot"}, True),  # GraphQL names a bot so
        ({"login": "steward", "__typename": "User"}, False),  # a person called steward
        ({"login": "other[bot]", "type": "Bot"}, False),
        ({"login": "erin", "type": "User"}, False),
        (None, False),
    ],
)
def test_only_the_apps_own_account_is_the_bot(author: dict[str, str] | None, ours: bool) -> None:
    from workers.flow import is_own_bot

    assert is_own_bot(author, bot_login="steward[bot]") is ours


# ---------------------------------------------------------------- a flood of comments

#: The worst comment of the issue: GitHub's maximum length, one long line of spaces.
FLOOD = "/label a" + " " * (65_536 - 9) + "b"


async def test_a_flood_does_not_delay_anothers_label(flows: Flows) -> None:
    """Twelve worst-case comments run in a worker thread (as Celery's thread pool runs
    tasks) while a maintainer's ``/label`` runs: it finishes within a second of the
    time it takes alone."""
    repo = flows.new_repo("flood", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    flood = [
        await task_args(
            flows, write_comment(flows, (repo, number, "issue"), body=FLOOD, user="dave")
        )
        for _ in range(12)
    ]
    alone = await timed_label(flows, repo, number)
    stop = threading.Event()
    worker = threading.Thread(target=run_flood, args=(flows, flood, stop), daemon=True)
    worker.start()
    try:
        await asyncio.sleep(0.05)  # the flood is under way
        busy = await timed_label(flows, repo, number)
    finally:
        stop.set()
        worker.join(600)
    assert busy - alone < 1.0, f"/label took {alone:.2f} s alone, {busy:.2f} s in the flood"
    assert "bug" in flows.fake.labels_on(ORG, repo, number)


async def task_args(flows: Flows, thread: Thread) -> CommandArgs:
    """The command task's arguments for a comment, as the router builds them."""
    payload = flows.fake.comment_payload(ORG, thread.repo, thread.comment)
    args = await routed(payload, "issue_comment")
    assert args is not None
    return args


async def timed_label(flows: Flows, repo: str, number: int) -> float:
    """Seconds one maintainer's ``/label bug`` takes, from its task's start to its end."""
    thread = write_comment(flows, (repo, number, "issue"), body="/label bug", user="maint")
    args = await task_args(flows, thread)
    started = time.perf_counter()
    assert (await flows.run(run_commands, args))["ran"] == ["/label bug"]
    return time.perf_counter() - started


def run_flood(flows: Flows, flood: list[CommandArgs], stop: threading.Event) -> None:
    """Run the flood's tasks one after another on this thread's own event loop."""
    for args in flood:
        if stop.is_set():
            return
        asyncio.run(flows.run(run_commands, args))
