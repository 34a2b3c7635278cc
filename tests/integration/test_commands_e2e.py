"""End to end: commands in comments through ``steward serve``, a Celery worker and the
checked fake GitHub.

Each test writes a comment in a repository of its own, sends the real ``issue_comment``
or ``discussion_comment`` delivery (the fake's ``comment_payload``), signed, to the
receiver and looks at what the worker did on the fake: labels, assignees, reactions,
replies, and how many writes it took (the fake ignores a repeated reaction or label, so
effects are counted as requests too).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from functools import partial
from typing import Any

import pytest

from app.routes.commands import body_digest
from core.tasks import ROUTE
from fakegithub.fake import FakeGitHub
from fakegithub.state import Permission
from tests.bot import Bot
from tests.support import ORG, unique, wait_for
from workers.commands.decide import read_key

pytestmark = pytest.mark.timeout(240)

BOT = "steward[bot]"
#: maint triages, reader only reads; dave is no collaborator at all.
PEOPLE: Mapping[str, Permission] = {"maint": "triage", "reader": "read"}


def new_repo(fake: FakeGitHub, prefix: str) -> str:
    name = unique(prefix)
    fake.add_repo(ORG, name, labels=("bug", "docs"), collaborators=PEOPLE)
    return name


def deliver(
    bot: Bot,
    fake: FakeGitHub,
    repo: str,
    comment: int,
    *,
    action: str = "created",
    previous: str = "",
    delivery: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """Send the comment's delivery as GitHub would (a new delivery id unless given)."""
    payload = fake.comment_payload(ORG, repo, comment, action=action, previous=previous)
    event = "issue_comment" if "issue" in payload else "discussion_comment"
    return bot.deliver(event, payload, delivery=delivery or str(uuid.uuid4()))


def queued(answer: tuple[int, dict[str, Any]]) -> None:
    """Accepted: the receiver queues the delivery's route task, which queues the command."""
    status, body = answer
    assert status == 202 and body == {"queued": [ROUTE.name]}, answer


def writes(fake: FakeGitHub, repo: str, path: str, method: str = "POST") -> list[Any]:
    """The bodies of ``method`` requests on ``/repos/ORG/repo`` + ``path``."""
    return [c.json for c in fake.calls(method, rf"^/repos/{ORG}/{repo}{path}$")]


def mutations(fake: FakeGitHub, name: str, node_id: str) -> list[dict[str, Any]]:
    """GraphQL mutations called ``name`` about the node ``node_id``."""
    return [
        c.json
        for c in fake.calls("POST", "^/graphql$")
        if name in c.json["query"] and node_id in c.json["variables"].values()
    ]


def bot_replies(fake: FakeGitHub, repo: str, number: int) -> list[str]:
    return [c.body for c in fake.comments_on(ORG, repo, number) if c.user == BOT]


def was_read(bot: Bot, repo: str, number: int, comment: int, body: str) -> bool:
    """Whether the worker read this version of the comment (its audit record)."""
    key = read_key(f"{ORG}/{repo}", number, comment=comment, version=body_digest(body))
    return bot.store().has_action(key)


def test_label_runs_once_under_redelivery(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "cmd-label")
    issue = fake.add_issue(ORG, repo, title="crash", user="erin")
    comment = fake.add_comment(ORG, repo, issue.number, body="/label bug", user="maint").id
    delivery = str(uuid.uuid4())

    queued(deliver(bot, fake, repo, comment, delivery=delivery))
    for _ in range(3):  # new deliveries of the comment at once: the worker runs them together
        queued(deliver(bot, fake, repo, comment))
    wait_for(lambda: fake.reactions_on(ORG, repo, comment), timeout=60)
    # Later, the same delivery again is a duplicate, and a new one runs nothing.
    assert deliver(bot, fake, repo, comment, delivery=delivery) == (200, {"duplicate": True})
    queued(deliver(bot, fake, repo, comment))
    bot.drain(redis_url)

    assert fake.labels_on(ORG, repo, issue.number) == ["bug"]
    assert writes(fake, repo, rf"/issues/{issue.number}/labels") == [{"labels": ["bug"]}]
    assert fake.reactions_on(ORG, repo, comment) == [(BOT, "+1")]
    assert writes(fake, repo, rf"/issues/comments/{comment}/reactions") == [{"content": "+1"}]
    assert fake.comment_bodies(ORG, repo, issue.number) == ["/label bug"]
    # Who may label was asked of GitHub, not read from the payload.
    asked = fake.calls("GET", rf"^/repos/{ORG}/{repo}/collaborators/maint/permission$")
    assert asked and {c.status for c in asked} <= {200, 304}
    ran = [a for a in bot.store().actions_for(f"{ORG}/{repo}") if a["action"] == "label"]
    assert [a["detail"]["labels"] for a in ran] == [["bug"]]


def test_an_edit_runs_only_new_command_lines(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "cmd-edit")
    number = fake.add_issue(ORG, repo, title="crash", user="erin").number
    first = "/label bug"
    comment = fake.add_comment(ORG, repo, number, body=first, user="maint").id
    queued(deliver(bot, fake, repo, comment))
    wait_for(lambda: fake.labels_on(ORG, repo, number) == ["bug"], timeout=60)
    bot.drain(redis_url)
    fake.issue(ORG, repo, number).labels.clear()  # rerunning /label bug would show

    edits = [
        (f"{first}\n\nthanks!", []),  # the same command, reworded around it
        (f"{first}\n/label docs", [{"labels": ["docs"]}]),  # a new line: only that runs
        (f"/label docs\n{first}", []),  # reordered: nothing new
    ]
    previous, label_posts = first, [{"labels": ["bug"]}]
    for body, new_posts in edits:
        fake.edit_comment(ORG, repo, comment, body=body)
        queued(deliver(bot, fake, repo, comment, action="edited", previous=previous))
        bot.drain(redis_url)
        assert was_read(bot, repo, number, comment, body), body
        label_posts += new_posts
        assert writes(fake, repo, rf"/issues/{number}/labels") == label_posts, body
        previous = body

    assert fake.labels_on(ORG, repo, number) == ["docs"]
    reactions = writes(fake, repo, rf"/issues/comments/{comment}/reactions")
    assert reactions == [{"content": "+1"}] * 2  # one per command that ran
    assert bot_replies(fake, repo, number) == []


@pytest.mark.parametrize(
    ("user", "body", "says"),
    [
        pytest.param("reader", "/label bug", "only people with triage access", id="reader"),
        pytest.param("dave", "/label bug", "only people with triage access", id="stranger"),
        pytest.param("maint", "/label bug, nope", "no label `nope`", id="unknown-label"),
    ],
)
def test_a_refusal_is_answered_once(
    bot: Bot, fake: FakeGitHub, redis_url: str, user: str, body: str, says: str
) -> None:
    repo = new_repo(fake, "cmd-refused")
    number = fake.add_issue(ORG, repo, title="crash", user="erin").number
    comment = fake.add_comment(ORG, repo, number, body=body, user=user).id
    delivery = str(uuid.uuid4())

    queued(deliver(bot, fake, repo, comment, delivery=delivery))
    wait_for(lambda: bot_replies(fake, repo, number), timeout=60)
    assert deliver(bot, fake, repo, comment, delivery=delivery) == (200, {"duplicate": True})
    queued(deliver(bot, fake, repo, comment))
    queued(deliver(bot, fake, repo, comment, action="edited", previous=body))
    bot.drain(redis_url)

    (reply,) = bot_replies(fake, repo, number)
    assert says in reply and f"@{user}" in reply and f"`{body}`" in reply
    assert f"steward:command-refused:{comment}:" in reply
    assert len(writes(fake, repo, rf"/issues/{number}/comments")) == 1
    assert fake.labels_on(ORG, repo, number) == []
    assert writes(fake, repo, rf"/issues/{number}/labels") == []
    assert fake.reactions_on(ORG, repo, comment) == [(BOT, "confused")]
    assert fake.calls("GET", rf"^/repos/{ORG}/{repo}/collaborators/{user}/permission$")


def test_assign_me_then_unassign(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "cmd-assign")
    number = fake.add_issue(ORG, repo, title="crash", user="erin").number
    for body, assigned in (("/assign @me", ["reader"]), ("/unassign", [])):
        comment = fake.add_comment(ORG, repo, number, body=body, user="reader").id
        queued(deliver(bot, fake, repo, comment))
        wait_for(partial(fake.reactions_on, ORG, repo, comment), timeout=60)
        bot.drain(redis_url)
        assert fake.issue(ORG, repo, number).assignees == assigned, body
        assert fake.reactions_on(ORG, repo, comment) == [(BOT, "+1")], body
    assert writes(fake, repo, rf"/issues/{number}/assignees") == [{"assignees": ["reader"]}]
    assert writes(fake, repo, rf"/issues/{number}/assignees", "DELETE") == [
        {"assignees": ["reader"]}
    ]
    assert fake.calls("GET", rf"^/repos/{ORG}/{repo}/assignees/reader$")
    assert bot_replies(fake, repo, number) == []


def test_commands_on_a_discussion(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "cmd-discussion")
    discussion = fake.add_discussion(ORG, repo, title="Ideas", author="erin")
    body = "/label docs\n/assign @me"
    made = fake.add_discussion_comment(ORG, repo, discussion.number, body=body, author="maint")

    for _ in range(2):  # the second delivery (a new id) changes nothing
        queued(deliver(bot, fake, repo, made.id))
        bot.drain(redis_url)

    assert fake.labels_on(ORG, repo, discussion.number) == ["docs"]
    assert len(mutations(fake, "addLabelsToLabelable", discussion.node_id)) == 1
    assert sorted(fake.reactions_on(ORG, repo, made.id)) == [(BOT, "+1"), (BOT, "confused")]
    assert len(mutations(fake, "addReaction", made.node_id)) == 2
    replies = [c.body for c in fake.discussion_comments(ORG, repo, discussion.number)]
    assert len(replies) == 2 and replies[0] == body  # the comment and one reply
    assert "`/assign` does not apply to discussions" in replies[1] and "@maint" in replies[1]
    assert len(mutations(fake, "addDiscussionComment", discussion.node_id)) == 1


@pytest.mark.parametrize(
    ("body", "to_worker"),
    [
        pytest.param("```\n/label bug\n```", True, id="fenced"),
        pytest.param("~~~~ sh\n/label bug\n/assign @me\n~~~~\n", True, id="tilde-fence"),
        pytest.param("<!--\n/label bug\n-->\nlooks good", True, id="html-comment"),
        pytest.param("> /label bug\n\nagreed", False, id="quote"),
        pytest.param("    /label bug", False, id="indented-code"),
        pytest.param("please /label bug", False, id="mid-line"),
    ],
)
def test_commands_in_code_or_quotes_are_ignored(
    bot: Bot, fake: FakeGitHub, redis_url: str, body: str, to_worker: bool
) -> None:
    repo = new_repo(fake, "cmd-ignored")
    number = fake.add_issue(ORG, repo, title="crash", user="erin").number
    comment = fake.add_comment(ORG, repo, number, body=body, user="maint").id

    queued(deliver(bot, fake, repo, comment))
    bot.drain(redis_url)
    # The route only looks for a slash at a line's start; the command's parser decides.
    assert was_read(bot, repo, number, comment, body) == to_worker

    assert fake.reactions_on(ORG, repo, comment) == []
    assert fake.labels_on(ORG, repo, number) == [] and fake.issue(ORG, repo, number).assignees == []
    assert fake.comment_bodies(ORG, repo, number) == [body]
    assert [c for c in fake.calls("*", rf"^/repos/{ORG}/{repo}/") if c.method != "GET"] == []


def test_steward_wrong_undoes_the_bots_labels_once_and_help_is_posted_once(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    from core.store import ActionRecord
    from workers.commands.decide import HELP_MARKER
    from workers.gates import label_effect_key

    repo = new_repo(fake, "cmd-wrong")
    full = f"{ORG}/{repo}"
    number = fake.add_issue(ORG, repo, title="crash", user="erin", labels=["bug", "docs"]).number
    store = bot.store()
    for label, mode in (("bug", "live"), ("docs", "shadow")):  # docs: a person's label
        key = label_effect_key(full, number, label)
        record = ActionRecord(key, full, "triage", "label", number, detail={"label": label})
        store.record_action(dataclasses.replace(record, mode=mode))
    body = "/steward wrong\n/steward help"
    comment = fake.add_comment(ORG, repo, number, body=body, user="maint").id

    for _ in range(2):  # a second delivery of the same comment changes nothing
        queued(deliver(bot, fake, repo, comment))
    wait_for(lambda: bot_replies(fake, repo, number) and fake.reactions_on(ORG, repo, comment))
    bot.drain(redis_url)

    assert fake.labels_on(ORG, repo, number) == ["docs"]
    corrections = [(f["subject"], f["kind"]) for f in store.feedback_for(full)]
    assert corrections == [("bug", "label_removed")]  # recorded for training, once
    assert fake.reactions_on(ORG, repo, comment) == [(BOT, "+1")]
    (reply,) = bot_replies(fake, repo, number)
    assert HELP_MARKER in reply and "/label" in reply and "/steward wrong" in reply
    assert writes(fake, repo, rf"/issues/{number}/labels/bug", "DELETE") == [None]
