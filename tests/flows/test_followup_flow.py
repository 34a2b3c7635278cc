"""No question left unanswered, in-process, as tables.

Each row opens an issue in a repository whose review history says alice knows http2
and erin authored every change; the opening (and perhaps an answer) is recorded by
``run_first_response`` as the route would queue it, then the hourly run (``run_followup``,
which queues one ``steward.followup_repo`` per repository, run here by ``followup``) runs
at a simulated moment. The rows check whom it routed to, the comment or assignment on the
fake, and that a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.tasks import FOLLOWUP_REPO, FirstResponseArgs, FollowupArgs
from tests.conftest import shared_data
from tests.flows.conftest import Flows
from tests.flows.test_reviewers_flow import repo_with_history
from tests.support import INSTALLATION_ID, ORG
from workers.followup.decide import FOLLOWUP_MARKER
from workers.followup.flow import run_first_response, run_followup, run_followup_repo

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ENABLED = "followup:\n  enabled: true\n"


def at(hours: float) -> str:
    """The ISO time ``hours`` after ``T0``."""
    return (T0 + timedelta(hours=hours)).isoformat()


async def followup(flows: Flows, now: str) -> dict[str, Any]:
    """One hourly run at ``now``: the scheduled task, then each repository's task it
    queued; ``{"routed": ...}`` of them all."""
    await flows.run(run_followup, FollowupArgs(now=now))
    routed: dict[str, Any] = {}
    for result in await flows.drain(FOLLOWUP_REPO, run_followup_repo):
        routed.update(result["routed"])
    return {"routed": routed}


@dataclass(frozen=True)
class Case:
    """One branch of the follow-up flow."""

    name: str
    config: str
    #: Whom the run routes the issue to (None: nobody, the issue is not in the answer).
    routed: str | None
    author: str = "dave"
    #: An answer: (who, their author_association, hours after opening).
    answer: tuple[str, str, float] | None = None
    run_at: float = 80
    state: str = "open"
    opted_out: bool = False
    #: What the flow says for the issue when it does not route it.
    why: str | None = None


CASES = [
    Case("unanswered past the deadline: one mention", ENABLED, "alice"),
    Case("off by default", "", None),
    Case("not due yet", ENABLED, None, run_at=71),
    Case("answered in time", ENABLED, None, answer=("bob", "MEMBER", 10)),
    Case("answered late but before the run", ENABLED, None, answer=("bob", "OWNER", 75)),
    Case("the author's own reply is no answer", ENABLED, "alice", answer=("dave", "MEMBER", 1)),
    Case("a passer-by's reply is no answer", ENABLED, "alice", answer=("zed", "NONE", 1)),
    Case("a bot's reply is no answer", ENABLED, "alice", answer=("ci[bot]", "MEMBER", 1)),
    Case("closed: nothing", ENABLED, None, state="closed", why="closed"),
    Case("the author is never pinged", ENABLED, "erin", author="alice"),
    Case("opted-out maintainers are skipped", ENABLED, "erin", opted_out=True),
    Case("assign", "followup:\n  enabled: true\n  how: assign\n", "alice"),
    Case(
        "a shorter deadline", "followup:\n  enabled: true\n  after_hours: 24\n", "alice", run_at=25
    ),
    Case("shadow mode writes nothing", "mode: shadow\n" + ENABLED, "alice"),
]


async def record(
    flows: Flows, repo: str, number: int, case: Case | DiscussionCase, kind: str = "issue"
) -> None:
    """Record the opening and the answer the way the route queues them."""
    base = FirstResponseArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=number,
        kind=kind,
        author=case.author,
        opened_at=at(0),
    )
    assert await flows.run(run_first_response, base) == {"recorded": "opened"}
    if case.answer:
        who, association, hours = case.answer
        answer = FirstResponseArgs(
            **{**base.__dict__, "answerer": who, "association": association, "at": at(hours)}
        )
        await flows.run(run_first_response, answer)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
async def test_followup(flows: Flows, case: Case) -> None:
    fake = flows.fake
    repo = await repo_with_history(flows, case.config)
    issue = fake.add_issue(
        ORG,
        repo,
        title="http2 transport hangs",
        body="net/http2/transport.go never returns",
        user=case.author,
        state=case.state,
    )
    await record(flows, repo, issue.number, case)
    flows.store.set_opt_out("alice", case.opted_out)
    start = flows.mark()
    key = f"{ORG}/{repo}#{issue.number}"
    try:
        result = await followup(flows, at(case.run_at))
        again = await followup(flows, at(case.run_at + 0.5))
    finally:
        flows.store.set_opt_out("alice", False)

    assert result["routed"].get(key) == (case.routed or case.why)
    assert key not in again["routed"]  # routed (or settled) once, never again
    live = "mode: shadow" not in case.config
    how = "assign" if "how: assign" in case.config else "mention"
    mentions = [c for c in fake.comment_bodies(ORG, repo, issue.number) if FOLLOWUP_MARKER in c]
    assignees = fake.issue(ORG, repo, issue.number).assignees
    if case.routed and live and how == "mention":
        (comment,) = mentions
        assert f"@{case.routed}" in comment and f"@{case.author}" not in comment
    else:
        assert mentions == []
    assert assignees == ([case.routed] if case.routed and live and how == "assign" else [])
    if not (case.routed and live):
        assert [
            r for r in flows.requests(since=start) if r.method == "POST" and "/repos/" in r.path
        ] == []
    rows = flows.actions(repo, issue.number)
    assert [(r["feature"], r["detail"]["to"]) for r in rows] == (
        [("followup", case.routed)] if case.routed else []
    )


async def test_a_late_answer_after_routing_changes_nothing(flows: Flows) -> None:
    repo = await repo_with_history(flows, ENABLED)
    issue = flows.fake.add_issue(
        ORG, repo, title="http2 hangs", body="net/http2/frame.go", user="dave"
    )
    case = Case("late", ENABLED, "alice")
    await record(flows, repo, issue.number, case)
    first = await followup(flows, at(73))
    assert first["routed"][f"{ORG}/{repo}#{issue.number}"] == "alice"
    (row,) = [r for r in flows.store.first_responses() if r["repo"] == f"{ORG}/{repo}"]
    assert (row["routed_to"], row["routed_at"]) == ("alice", T0 + timedelta(hours=73))
    late = FirstResponseArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=issue.number,
        kind="issue",
        author="dave",
        opened_at=at(0),
        answerer="alice",
        association="MEMBER",
        at=at(90),
    )
    await flows.run(run_first_response, late)
    (row,) = [r for r in flows.store.first_responses() if r["repo"] == f"{ORG}/{repo}"]
    assert (row["responder"], row["first_response_at"]) == ("alice", T0 + timedelta(hours=90))
    assert row["routed_to"] == "alice"


async def test_replay_hour_by_hour(flows: Flows) -> None:
    """A small replay of the benchmark: real times to merge as answer times, the job every
    simulated hour; nobody is pinged twice and none after its answer."""
    from benchmarks.bench_followup_replay import MAINTAINERS, load_items, replay

    history = shared_data("reviews/golang-net.jsonl")
    items = load_items(history, count=16, spacing=4, never_after_days=30)
    repo = flows.new_repo("replay", config=ENABLED, collaborators=MAINTAINERS)
    result = await replay(flows.run, flows.fake, repo, items, after_hours=72)
    assert result["pinged_twice"] == result["pinged_after_answer"] == 0
    assert result["routed_but_answered_in_time"] == 0
    assert result["routed"] == result["routed_as_expected"] == result["expected_routed"] > 0
    assert "dave" not in result["people"]  # read access is not a maintainer


async def test_a_routing_recorded_but_not_noted_is_not_repeated(flows: Flows) -> None:
    """A worker stopped between the audit record and the note: the next run notes it."""
    from sqlalchemy import update

    from core.store import first_responses

    repo = await repo_with_history(flows, ENABLED)
    issue = flows.fake.add_issue(ORG, repo, title="http2", body="net/http2/frame.go", user="dave")
    await record(flows, repo, issue.number, Case("crash", ENABLED, "alice"))
    key = f"{ORG}/{repo}#{issue.number}"
    assert (await followup(flows, at(73)))["routed"][key] == "alice"
    with flows.store.engine.begin() as conn:
        conn.execute(
            update(first_responses)
            .where(first_responses.c.repo == f"{ORG}/{repo}")
            .values(routed_to=None, routed_at=None)
        )
    again = await followup(flows, at(74))
    assert again["routed"][key] == "already routed"
    (row,) = [r for r in flows.store.first_responses() if r["repo"] == f"{ORG}/{repo}"]
    assert row["routed_to"] == "alice"
    comments = flows.fake.comment_bodies(ORG, repo, issue.number)
    assert sum(FOLLOWUP_MARKER in c for c in comments) == 1


@dataclass(frozen=True)
class DiscussionCase:
    """One branch of the follow-up flow for a discussion."""

    name: str
    config: str
    routed: str | None
    closed: bool = False
    answer: tuple[str, str, float] | None = None
    why: str | None = None
    author: str = "dave"


DISCUSSION_CASES = [
    DiscussionCase("unanswered discussion: one mention", ENABLED, "alice"),
    DiscussionCase(
        "assign becomes a mention", "followup:\n  enabled: true\n  how: assign\n", "alice"
    ),
    DiscussionCase("closed discussion: nothing", ENABLED, None, closed=True, why="closed"),
    DiscussionCase("answered by a member", ENABLED, None, answer=("bob", "MEMBER", 5)),
    DiscussionCase("shadow mode writes nothing", "mode: shadow\n" + ENABLED, "alice"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in DISCUSSION_CASES])
async def test_followup_of_a_discussion(flows: Flows, case: DiscussionCase) -> None:
    fake = flows.fake
    repo = await repo_with_history(flows, case.config)
    item = fake.add_discussion(
        ORG, repo, title="http2 transport hangs", body="net/http2/transport.go", author="dave"
    )
    item.closed = case.closed
    await record(flows, repo, item.number, case, kind="discussion")
    key = f"{ORG}/{repo}#{item.number}"

    result = await followup(flows, at(80))
    again = await followup(flows, at(81))

    assert result["routed"].get(key) == (case.routed or case.why)
    assert key not in again["routed"]
    live = "mode: shadow" not in case.config
    mentions = [
        c.body
        for c in fake.discussion_comments(ORG, repo, item.number)
        if FOLLOWUP_MARKER in c.body
    ]
    if case.routed and live:
        (comment,) = mentions
        assert f"@{case.routed}" in comment and "this discussion" in comment
        assert "@dave" not in comment
    else:
        assert mentions == []
    rows = flows.actions(repo, item.number)
    assert [(r["action"], r["detail"]["to"]) for r in rows] == (
        [("mention", case.routed)] if case.routed else []
    )
