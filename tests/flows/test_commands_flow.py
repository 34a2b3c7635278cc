"""Commands in comments, in-process, as tables, through the checked fake GitHub.

Each case writes a comment in the fake, builds the real ``issue_comment`` or
``discussion_comment`` delivery from ``@octokit/webhooks-examples`` (the fake's
``comment_payload``), routes it through the receiver's router to get the task's
arguments, and runs ``run_commands`` as a worker would. Rows check the flow's answer,
the item's labels and assignees, the reactions on the comment and the replies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from gidgethub import sansio

from core.payloads import Envelope
from core.routing import Dispatch, build_router
from core.store import ActionRecord
from core.tasks import COMMAND, CommandArgs
from fakegithub.state import Permission
from tests.flows.conftest import Flows
from tests.flows.test_reviewers_flow import WRITERS, repo_with_history
from tests.support import INSTALLATION_ID, ORG
from workers.commands.decide import HELP_MARKER
from workers.commands.flow import run_commands
from workers.gates import label_effect_key

BOT = "steward[bot]"
LABELS = ("bug", "docs", "Good First Issue")
#: maint triages, writer writes, reader only reads; dave is no collaborator at all.
PEOPLE: Mapping[str, Permission] = {
    "maint": "triage",
    "writer": "write",
    "reader": "read",
    "alice": "write",
}


async def routed(payload: dict[str, Any], event: str) -> CommandArgs | None:
    """The ``steward.command`` arguments the receiver's router queues for a delivery."""
    delivery = str(uuid.uuid4())
    dispatch = Dispatch(Envelope.parse(event, delivery, payload))
    await build_router().dispatch(
        sansio.Event(payload, event=event, delivery_id=delivery), dispatch
    )
    jobs = [job for job in dispatch.jobs if job.task == COMMAND.name]
    assert len(jobs) <= 1
    return COMMAND.parse(jobs[0].kwargs) if jobs else None


@dataclass
class Thread:
    """An item of a test repository with one comment on it."""

    repo: str
    number: int
    kind: str
    comment: int

    def event(self) -> str:
        """The webhook event a comment on this item sends."""
        return "discussion_comment" if self.kind == "discussion" else "issue_comment"


def new_item(flows: Flows, repo: str, kind: str, *, labels: tuple[str, ...] = ()) -> int:
    """A new issue, pull request or discussion by erin."""
    fake = flows.fake
    if kind == "discussion":
        return fake.add_discussion(ORG, repo, title="Ideas", author="erin", labels=labels).number
    if kind == "pull_request":
        return fake.add_pull(ORG, repo, title="fix", user="erin", labels=labels).number
    return fake.add_issue(ORG, repo, title="crash", user="erin", labels=labels).number


def write_comment(flows: Flows, thread: tuple[str, int, str], *, body: str, user: str) -> Thread:
    """``user`` comments ``body`` on the item."""
    repo, number, kind = thread
    if kind == "discussion":
        made: Any = flows.fake.add_discussion_comment(ORG, repo, number, body=body, author=user)
    else:
        made = flows.fake.add_comment(ORG, repo, number, body=body, user=user)
    return Thread(repo, number, kind, made.id)


async def deliver(flows: Flows, thread: Thread, action: str = "created") -> dict[str, Any]:
    """Route the comment's delivery and run the queued task (nothing queued: ``{}``)."""
    payload = flows.fake.comment_payload(ORG, thread.repo, thread.comment, action=action)
    args = await routed(payload, thread.event())
    return {} if args is None else await flows.run(run_commands, args)


def replies(flows: Flows, thread: Thread) -> list[str]:
    """The bot's comments on the item."""
    fake = flows.fake
    if thread.kind == "discussion":
        found = fake.discussion_comments(ORG, thread.repo, thread.number)
        return [c.body for c in found if c.author == BOT]
    return [c.body for c in fake.comments_on(ORG, thread.repo, thread.number) if c.user == BOT]


def assignees(flows: Flows, thread: Thread) -> list[str]:
    """Who is assigned to the item."""
    return list(flows.fake.issue(ORG, thread.repo, thread.number).assignees)


@dataclass(frozen=True)
class Case:
    """One comment and what it should do."""

    name: str
    body: str
    user: str = "maint"
    kind: str = "issue"
    ran: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    labels_before: tuple[str, ...] = ()
    labels_after: tuple[str, ...] = ()
    assigned_before: tuple[str, ...] = ()
    assigned_after: tuple[str, ...] = ()
    #: What the refusal reply says (it is posted at most once, only when refused).
    says: str = ""
    config: str = ""


CASES = [
    Case(
        "label, repository spelling",
        "/label BUG, good first issue",
        ran=("/label BUG, good first issue",),
        labels_after=("bug", "Good First Issue"),
    ),
    Case(
        "label on a pull request",
        "/label docs",
        kind="pull_request",
        ran=("/label docs",),
        labels_after=("docs",),
    ),
    Case(
        "label on a discussion",
        "/label docs",
        kind="discussion",
        ran=("/label docs",),
        labels_after=("docs",),
    ),
    Case(
        "label needs triage access",
        "/label bug",
        user="reader",
        refused=("/label bug",),
        says="only people with triage access",
    ),
    Case(
        "unknown label",
        "/label bug, nope",
        refused=("/label bug, nope",),
        says="no label `nope`",
    ),
    Case(
        "remove-label",
        "/remove-label Bug",
        user="writer",
        ran=("/remove-label Bug",),
        labels_before=("bug", "docs"),
        labels_after=("docs",),
    ),
    Case(
        "remove-label on a discussion",
        "/remove-label docs",
        kind="discussion",
        ran=("/remove-label docs",),
        labels_before=("bug", "docs"),
        labels_after=("bug",),
    ),
    Case(
        "remove-label needs triage access",
        "/remove-label bug",
        user="dave",
        refused=("/remove-label bug",),
        labels_before=("bug",),
        labels_after=("bug",),
        says="triage access",
    ),
    Case(
        "assign me", "/assign @me", user="reader", ran=("/assign @me",), assigned_after=("reader",)
    ),
    Case(
        "assign someone else",
        "/assign @alice",
        ran=("/assign @alice",),
        kind="pull_request",
        assigned_after=("alice",),
    ),
    Case(
        "not assignable",
        "/assign @me",
        user="dave",
        refused=("/assign @me",),
        says="@dave cannot be assigned",
    ),
    Case(
        "assigning others needs triage access",
        "/assign @alice",
        user="reader",
        refused=("/assign @alice",),
        says="triage access may assign others",
    ),
    Case(
        "unassign myself",
        "/unassign",
        user="reader",
        ran=("/unassign",),
        assigned_before=("reader", "alice"),
        assigned_after=("alice",),
    ),
    Case(
        "unassign someone else",
        "/unassign @alice",
        ran=("/unassign @alice",),
        assigned_before=("alice",),
    ),
    Case(
        "unassigning others needs triage access",
        "/unassign @alice",
        user="reader",
        refused=("/unassign @alice",),
        assigned_before=("alice",),
        assigned_after=("alice",),
        says="triage access may unassign others",
    ),
    Case(
        "no assigning on discussions",
        "/assign @me",
        kind="discussion",
        refused=("/assign @me",),
        says="does not apply to discussions",
    ),
    Case(
        "reviewers only on pull requests",
        "/reviewers",
        refused=("/reviewers",),
        says="pull requests only",
    ),
    Case(
        "ignored in code, quotes and HTML comments",
        "```\n/label bug\n```\n> /label bug\n    /label docs\n<!-- /assign @me -->\n"
        "please /label bug",
    ),
    Case(
        "a run and a refusal in one comment",
        "/label docs\n/label nope",
        ran=("/label docs",),
        refused=("/label nope",),
        labels_after=("docs",),
        says="no label `nope`",
    ),
    Case(
        "an unknown steward command",
        "/steward dance",
        user="dave",
        refused=("/steward dance",),
        says="`/steward help` lists them",
    ),
    Case(
        "shadow mode records, writes nothing",
        "/label bug\n/label nope",
        ran=("/label bug",),
        refused=("/label nope",),
        config="mode: shadow\n",
    ),
]


def expected_reactions(case: Case) -> list[tuple[str, str]]:
    """The bot's reactions a case leaves on the comment."""
    if "shadow" in case.config:
        return []
    return [(BOT, "+1")] * bool(case.ran) + [(BOT, "confused")] * bool(case.refused)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
async def test_commands(flows: Flows, case: Case) -> None:
    fake = flows.fake
    repo = flows.new_repo("commands", config=case.config, labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, case.kind, labels=case.labels_before)
    if case.assigned_before:
        fake.issue(ORG, repo, number).assignees = list(case.assigned_before)
    thread = write_comment(flows, (repo, number, case.kind), body=case.body, user=case.user)

    result = await deliver(flows, thread)

    if not case.ran and not case.refused:
        # Fenced lines may look like commands to the receiver; the worker runs none.
        assert result == {"ran": [], "refused": [], "mode": "live"}
        assert flows.writes(repo) == [] and flows.mutations() == []
        return
    assert result == {
        "ran": list(case.ran),
        "refused": list(case.refused),
        "mode": "shadow" if "shadow" in case.config else "live",
    }
    after = case.labels_before if "shadow" in case.config else case.labels_after
    assert sorted(fake.labels_on(ORG, repo, number)) == sorted(after)
    if case.kind != "discussion":
        assert sorted(assignees(flows, thread)) == sorted(case.assigned_after)
    assert fake.reactions_on(ORG, repo, thread.comment) == expected_reactions(case)
    said = replies(flows, thread)
    assert len(said) == (1 if case.refused and "shadow" not in case.config else 0)
    assert all(case.says in text and f"@{case.user}" in text for text in said)
    # Delivered again: nothing more happens, not even a read of the comment.
    before = flows.mark()
    assert await deliver(flows, thread) == {
        "skipped": "this version of the comment was read already"
    }
    assert flows.requests(since=before) == []


async def test_an_edit_runs_only_the_new_command(flows: Flows) -> None:
    fake = flows.fake
    repo = flows.new_repo("edit", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    thread = write_comment(flows, (repo, number, "issue"), body="/label bug", user="maint")
    assert (await deliver(flows, thread))["ran"] == ["/label bug"]

    fake.edit_comment(ORG, repo, thread.comment, body="/label bug\n\n/label docs\n/label nope")
    assert await deliver(flows, thread, "edited") == {
        "ran": ["/label docs"],
        "refused": ["/label nope"],
        "mode": "live",
    }
    fake.edit_comment(ORG, repo, thread.comment, body="/label bug\n/label docs\n/label nope\nfix")
    assert await deliver(flows, thread, "edited") == {"ran": [], "refused": [], "mode": "live"}

    label_posts = flows.requests("POST", rf"/issues/{number}/labels$")
    assert [r.json for r in label_posts] == [{"labels": ["bug"]}, {"labels": ["docs"]}]
    assert len(replies(flows, thread)) == 1
    assert fake.reactions_on(ORG, repo, thread.comment) == [(BOT, "+1"), (BOT, "confused")]


async def test_an_edit_on_a_discussion_runs_only_the_new_command(flows: Flows) -> None:
    fake = flows.fake
    repo = flows.new_repo("edit-discussion", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "discussion")
    thread = write_comment(flows, (repo, number, "discussion"), body="/label bug", user="maint")
    assert (await deliver(flows, thread))["ran"] == ["/label bug"]
    fake.edit_discussion_comment(ORG, repo, thread.comment, body="/label bug\n/label docs")
    assert (await deliver(flows, thread, "edited"))["ran"] == ["/label docs"]
    assert fake.labels_on(ORG, repo, number) == ["bug", "docs"]
    assert len([m for m in flows.mutations() if "addLabelsToLabelable" in m.json["query"]]) == 2


async def test_redelivery_after_a_lost_record_changes_nothing_twice(flows: Flows) -> None:
    """The read record is gone (a worker died before writing it): each command's own
    record still keeps it from running again, and the refusal is not repeated.
    """
    repo = flows.new_repo("again", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    thread = write_comment(
        flows, (repo, number, "issue"), body="/label bug\n/label nope", user="maint"
    )
    payload = flows.fake.comment_payload(ORG, repo, thread.comment)
    args = await routed(payload, "issue_comment")
    assert args is not None
    first = await flows.run(run_commands, args)
    assert first == {"ran": ["/label bug"], "refused": ["/label nope"], "mode": "live"}
    with flows.store.engine.begin() as conn:  # forget the read record only
        conn.exec_driver_sql("DELETE FROM actions WHERE action = 'read'")
    before = flows.mark()
    assert await flows.run(run_commands, args) == {"ran": [], "refused": [], "mode": "live"}
    assert [r.method for r in flows.requests(since=before) if r.method != "GET"] == []
    assert len(replies(flows, thread)) == 1


async def test_bots_comments_are_ignored(flows: Flows) -> None:
    repo = flows.new_repo("bots", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    thread = write_comment(flows, (repo, number, "issue"), body="/label bug", user="ci[bot]")
    payload = flows.fake.comment_payload(ORG, repo, thread.comment)
    payload["sender"] = {"login": "erin", "type": "User"}  # a person edits a bot's comment
    assert await routed(payload, "issue_comment") is None
    args = CommandArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=number,
        kind="issue",
        comment_id=thread.comment,
        digest="x",
        author="erin",
    )
    assert await flows.run(run_commands, args) == {"skipped": "not a person's comment"}
    assert flows.writes(repo) == []


async def test_commands_can_be_turned_off(flows: Flows) -> None:
    repo = flows.new_repo(
        "off", config="commands:\n  enabled: false\n", labels=LABELS, collaborators=PEOPLE
    )
    thread = write_comment(
        flows, (repo, new_item(flows, repo, "issue"), "issue"), body="/label bug", user="maint"
    )
    assert await deliver(flows, thread) == {"skipped": "commands are off"}
    assert flows.writes(repo) == []


@pytest.mark.parametrize("kind", ["issue", "discussion"])
async def test_help_is_answered_once(flows: Flows, kind: str) -> None:
    repo = flows.new_repo("help", labels=LABELS, collaborators=PEOPLE)
    number = new_item(flows, repo, kind)
    first = write_comment(flows, (repo, number, kind), body="/steward help", user="dave")
    second = write_comment(flows, (repo, number, kind), body="/steward help", user="erin")
    assert (await deliver(flows, first))["ran"] == ["/steward help"]
    assert (await deliver(flows, second))["ran"] == ["/steward help"]
    said = replies(flows, first)
    assert len(said) == 1 and HELP_MARKER in said[0] and "/remove-label" in said[0]
    for thread in (first, second):
        assert flows.fake.reactions_on(ORG, repo, thread.comment) == [(BOT, "+1")]


@dataclass(frozen=True)
class WrongCase:
    """``/steward wrong`` on an item the bot labelled."""

    name: str
    user: str = "maint"
    kind: str = "issue"
    #: (label, mode) the bot recorded; those recorded live are on the item.
    bot: tuple[tuple[str, str], ...] = (("bug", "live"), ("docs", "shadow"))
    #: Labels a person removed already (and the correction recorded then).
    removed_before: tuple[str, ...] = ()
    ran: bool = True
    labels_after: tuple[str, ...] = ("docs",)
    corrections: tuple[str, ...] = ("bug",)


WRONG_CASES = [
    WrongCase("removes the bot's live labels and learns"),
    WrongCase("on a discussion", kind="discussion"),
    WrongCase(
        "two labels",
        bot=(("bug", "live"), ("docs", "live")),
        labels_after=(),
        corrections=("bug", "docs"),
    ),
    WrongCase(
        "a label people removed already is not recorded twice",
        bot=(("bug", "live"), ("docs", "live")),
        removed_before=("docs",),
        labels_after=(),
        corrections=("docs", "bug"),
    ),
    WrongCase(
        "nothing to undo",
        bot=(("docs", "shadow"),),
        ran=False,
        corrections=(),
    ),
    WrongCase(
        "needs triage access",
        user="reader",
        ran=False,
        labels_after=("bug", "docs"),
        corrections=(),
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in WRONG_CASES])
async def test_steward_wrong(flows: Flows, case: WrongCase) -> None:
    repo = flows.new_repo("wrong", labels=LABELS, collaborators=PEOPLE)
    full = f"{ORG}/{repo}"
    on_item = tuple(label for label, _ in case.bot if label not in case.removed_before)
    number = new_item(flows, repo, case.kind, labels=on_item)
    for label, mode in case.bot:
        key = label_effect_key(full, number, label)
        detail = {"label": label}
        flows.store.record_action(
            ActionRecord(key, full, "triage", "label", number, detail=detail, mode=mode)
        )
    for label in case.removed_before:
        flows.store.record_feedback(
            repo=full, number=number, kind="label_removed", subject=label, actor="erin"
        )
    thread = write_comment(flows, (repo, number, case.kind), body="/steward wrong", user=case.user)

    result = await deliver(flows, thread)

    assert result["ran"] == (["/steward wrong"] if case.ran else [])
    assert sorted(flows.fake.labels_on(ORG, repo, number)) == sorted(case.labels_after)
    corrections = [
        (f["subject"], f["kind"]) for f in flows.store.feedback_for(full) if f["number"] == number
    ]
    assert corrections == [(label, "label_removed") for label in case.corrections]
    reaction = "+1" if case.ran else "confused"
    assert flows.fake.reactions_on(ORG, repo, thread.comment) == [(BOT, reaction)]


@pytest.mark.parametrize(
    ("config", "user", "expected_comments", "requested"),
    [
        pytest.param(
            "reviewers:\n  mode: request\n  count: 1\n", "maint", 0, ["alice"], id="request"
        ),
        pytest.param("reviewers:\n  mode: suggest\n  count: 1\n", "maint", 2, [], id="suggest"),
        pytest.param("reviewers:\n  mode: suggest\n  count: 1\n", "dave", 2, [], id="the author"),
    ],
)
async def test_reviewers_again(
    flows: Flows, config: str, user: str, expected_comments: int, requested: list[str]
) -> None:
    """``/reviewers`` acts once per head commit: asked again it says so once (one reply),
    then only reacts; after a new commit it runs again."""
    fake = flows.fake
    repo = await repo_with_history(flows, config)
    for login, permission in PEOPLE.items():
        if login not in WRITERS:
            fake.add_collaborator(ORG, repo, login, permission)
    pull = fake.add_pull(ORG, repo, title="http2", user="dave", files=["net/http2/transport.go"])
    where = (repo, pull.number, "pull_request")
    outcomes = []
    for _ in range(3):
        thread = write_comment(flows, where, body="/reviewers", user=user)
        result = await deliver(flows, thread)
        outcomes.append((result["ran"], result["refused"]))
    assert outcomes == [(["/reviewers"], []), ([], ["/reviewers"]), ([], ["/reviewers"])]
    said = [c for c in replies(flows, thread) if "already asked" in c]
    assert len(said) == 1 and "after a new commit" in said[0]
    assert fake.reactions_on(ORG, repo, thread.comment) == [(BOT, "confused")]
    info = fake.issue(ORG, repo, pull.number).pull
    assert info is not None
    info.head_sha = "f" * 40  # a new commit
    thread = write_comment(flows, where, body="/reviewers", user=user)
    assert (await deliver(flows, thread))["ran"] == ["/reviewers"]
    assert fake.requested_reviewers(ORG, repo, pull.number) == requested
    suggestions = [c for c in replies(flows, thread) if "suggests these reviewers" in c]
    assert len(suggestions) == expected_comments


async def test_reviewers_refused_for_others_and_when_off(flows: Flows) -> None:
    repo = flows.new_repo(
        "reviewers-off", config="reviewers:\n  mode: 'off'\n", labels=LABELS, collaborators=PEOPLE
    )
    pull = flows.fake.add_pull(ORG, repo, title="x", user="erin", files=["a.py"])
    for user, says in (("reader", "triage access"), ("maint", "`reviewers.mode` is `off`")):
        thread = write_comment(
            flows, (repo, pull.number, "pull_request"), body="/reviewers", user=user
        )
        assert (await deliver(flows, thread))["refused"] == ["/reviewers"]
        assert says in replies(flows, thread)[-1]


async def test_past_ten_commands_the_rest_are_refused_once(flows: Flows) -> None:
    names = tuple(f"area-{i}" for i in range(12))
    repo = flows.new_repo("many", labels=names, collaborators=PEOPLE)
    number = new_item(flows, repo, "issue")
    body = "".join(f"/label {name}\n" for name in names)
    thread = write_comment(flows, (repo, number, "issue"), body=body, user="maint")

    result = await deliver(flows, thread)
    again = await deliver(flows, thread, action="edited")

    assert result["ran"] == [f"/label {name}" for name in names[:10]]
    assert result["refused"] == ["/label area-10", "/label area-11"]
    assert sorted(flows.fake.labels_on(ORG, repo, number)) == sorted(names[:10])
    (reply,) = [b for b in flows.fake.comment_bodies(ORG, repo, number) if "did not run" in b]
    assert "at most 10 commands" in reply and "area-11" in reply
    assert again.get("ran", []) == [] and again.get("refused", []) == []


async def test_a_second_delivery_running_at_the_same_time_refuses_nothing(flows: Flows) -> None:
    """Two deliveries of one ``/steward wrong`` comment run at once: the first removes
    the bot's label; the second, planning after that, finds nothing to undo. That is no
    refusal to answer: the command is done, as its audit record (under its lock) says."""
    from workers.commands.decide import command_key, parse_commands
    from workers.commands.flow import Session, run_one
    from workers.flow import open_repo

    repo = flows.new_repo("race", labels=LABELS, collaborators=PEOPLE)
    full = f"{ORG}/{repo}"
    number = new_item(flows, repo, "issue", labels=("bug",))
    key = label_effect_key(full, number, "bug")
    flows.store.record_action(
        ActionRecord(key, full, "triage", "label", number, detail={"label": "bug"})
    )
    thread = write_comment(flows, (repo, number, "issue"), body="/steward wrong", user="maint")
    payload = flows.fake.comment_payload(ORG, repo, thread.comment)
    args = await routed(payload, "issue_comment")
    assert args is not None
    (command,) = parse_commands("/steward wrong")
    # The first run's effect: the label is gone and the command is recorded.
    flows.fake.issue(ORG, repo, number).labels.remove("bug")
    done = command_key(full, number, comment=thread.comment, command=command)
    flows.store.record_action(ActionRecord(done, full, "commands", "wrong", number))

    async with flows.runtime.task_context() as ctx:
        task = await open_repo(ctx, args)
        assert await run_one(Session(task, args, "maint"), command) is None
