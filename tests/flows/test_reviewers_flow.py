"""Reviewers for pull requests and people for issues, in-process, as tables.

Each repository's review history is collected by the real backfill flow from merged
pull requests in the fake: alice reviewed six http2 changes, bob four docs changes.
Then ``run_reviewers`` / ``run_issue_people`` run once per row; the rows check the
flow's answer, the requested reviewers or comment on GitHub, and the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from core.tasks import BackfillArgs, IssueArgs, PullArgs
from fakegithub.state import Permission
from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG
from workers.people import PEOPLE_MARKER, REVIEWERS_MARKER
from workers.reviewers.flow import run_issue_people, run_reviewers
from workers.reviewers.history import run_backfill

#: carol may only read: she is never asked, however much she reviewed.
WRITERS: Mapping[str, Permission] = {
    "alice": "write",
    "bob": "write",
    "erin": "write",
    "frank": "write",
    "carol": "read",
}
HTTP2 = ("net/http2/transport.go", "net/http2/frame.go")
DOCS = ("docs/index.md",)
#: (reviewer, merged pull requests they reviewed, the files those changed).
HISTORY: tuple[tuple[str, int, tuple[str, ...]], ...] = (("alice", 6, HTTP2), ("bob", 4, DOCS))
#: bob knows http2 too, a little less than alice: load and availability decide.
CLOSE_CALL = (*HISTORY, ("bob", 5, HTTP2[:1]))


async def repo_with_history(
    flows: Flows,
    config: str,
    *,
    history: tuple[tuple[str, int, tuple[str, ...]], ...] = HISTORY,
    files: Mapping[str, str] | None = None,
) -> str:
    """A repository whose review history the backfill flow has collected."""
    fake = flows.fake
    repo = flows.new_repo("review", config=config, collaborators=WRITERS, files=files)
    for reviewer, count, changed in history:
        for i in range(count):
            pull = fake.add_pull(
                ORG, repo, title=f"change {i}", user="erin", merged=True, files=changed
            )
            fake.add_review(ORG, repo, pull.number, user=reviewer)
    args = BackfillArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)
    expected = sum(count for _, count, _ in history)
    assert await flows.run(run_backfill, args) == {"backfilled": expected}
    return repo


def pull_args(repo: str, number: int) -> PullArgs:
    """A pull request task's arguments."""
    return PullArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=number)


@dataclass(frozen=True)
class Case:
    """One branch of the reviewers flow."""

    name: str
    config: str
    expected: dict[str, Any]
    files: tuple[str, ...] = ("net/http2/transport.go",)
    author: str = "dave"
    draft: bool = False
    requested_before: tuple[str, ...] = ()
    history: tuple[tuple[str, int, tuple[str, ...]], ...] = HISTORY
    #: alice set GitHub's busy status / opted out of review requests.
    busy: bool = False
    opted_out: bool = False
    #: Open pull requests that wait on alice's review.
    alice_waited_on: int = 0
    #: The POST body of the review request, when one is made.
    request_body: dict[str, Any] | None = None


REQUEST_ONE = "reviewers:\n  mode: request\n  count: 1\n"


def chose(reviewers: list[str], mode: str) -> dict[str, Any]:
    """The flow's answer when it decided."""
    return {"reviewers": reviewers, "mode": mode}


CASES = [
    Case(
        "request the expert with the teams",
        "reviewers:\n  mode: request\n  count: 1\n  teams: [net-team]\n",
        chose(["alice"], "request"),
        request_body={"reviewers": ["alice"], "team_reviewers": ["net-team"]},
    ),
    Case("request without teams", REQUEST_ONE, chose(["alice"], "request")),
    Case(
        "suggest mode comments, most familiar first",
        "reviewers:\n  mode: suggest\n  count: 2\n",
        chose(["bob", "alice"], "suggest"),
        files=DOCS,
    ),
    Case("suggest is the default", "", chose(["alice", "bob"], "suggest")),
    Case("off", "reviewers:\n  mode: 'off'\n", {"skipped": "reviewers.mode is off"}),
    Case("draft waits", REQUEST_ONE, {"skipped": "draft"}, draft=True),
    Case(
        "draft asked when drafts are not skipped",
        "reviewers:\n  mode: request\n  count: 1\n  skip_drafts: false\n",
        chose(["alice"], "request"),
        draft=True,
    ),
    Case(
        "author already requested reviewers",
        REQUEST_ONE,
        {"skipped": "the author already requested reviewers"},
        requested_before=("bob",),
    ),
    Case("the author is never asked", REQUEST_ONE, chose(["bob"], "request"), author="alice"),
    Case(
        "never-list",
        "reviewers:\n  mode: request\n  count: 1\n  never: [alice]\n",
        chose(["bob"], "request"),
    ),
    Case(
        "a close call goes to the expert",
        REQUEST_ONE,
        chose(["alice"], "request"),
        files=HTTP2[1:],
        history=CLOSE_CALL,
    ),
    Case(
        "busy people give way in a close call",
        REQUEST_ONE,
        chose(["bob"], "request"),
        files=HTTP2[1:],
        history=CLOSE_CALL,
        busy=True,
    ),
    Case(
        "busy is no veto when nobody else knows the code",
        REQUEST_ONE,
        chose(["alice"], "request"),
        busy=True,
    ),
    Case(
        "loaded people give way in a close call",
        REQUEST_ONE,
        chose(["bob"], "request"),
        files=HTTP2[:1],
        history=CLOSE_CALL,
        alice_waited_on=4,
    ),
    Case("opted-out people give way", REQUEST_ONE, chose(["bob"], "request"), opted_out=True),
    Case(
        "read-only collaborators are never asked",
        REQUEST_ONE,
        chose(["alice"], "request"),
        history=(*HISTORY, ("carol", 9, HTTP2)),
    ),
    Case(
        "shadow mode records, asks nobody",
        f"mode: shadow\n{REQUEST_ONE}",
        chose(["alice"], "request"),
    ),
    Case("no history: recorded, nobody asked", REQUEST_ONE, chose([], "request"), history=()),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
async def test_reviewers(flows: Flows, case: Case) -> None:
    fake = flows.fake
    repo = await repo_with_history(flows, case.config, history=case.history)
    pull = fake.add_pull(
        ORG,
        repo,
        title="http2: handle GOAWAY",
        user=case.author,
        files=case.files,
        draft=case.draft,
        requested_reviewers=case.requested_before,
    )
    for i in range(case.alice_waited_on):
        fake.add_pull(ORG, repo, title=f"waits {i}", user="erin", requested_reviewers=["alice"])
    if case.busy:
        fake.user("alice").busy = True
    if case.opted_out:
        flows.store.set_opt_out("alice", True)
    try:
        result = await flows.run(run_reviewers, pull_args(repo, pull.number))
    finally:
        fake.user("alice").busy = False

    assert result == case.expected
    live = "mode: shadow" not in case.config
    chosen = result.get("reviewers", [])
    requested = chosen if live and result.get("mode") == "request" else []
    assert fake.requested_reviewers(ORG, repo, pull.number) == [*case.requested_before, *requested]
    requests = flows.requests("POST", rf"/pulls/{pull.number}/requested_reviewers$")
    if requested:
        (request,) = requests
        assert request.json == (case.request_body or {"reviewers": requested})
    else:
        assert requests == []
    comments = [c for c in fake.comment_bodies(ORG, repo, pull.number) if REVIEWERS_MARKER in c]
    if live and chosen and result["mode"] == "suggest":
        (comment,) = comments
        positions = [comment.index(f"@{login}") for login in chosen]
        assert positions == sorted(positions)
    else:
        assert comments == []
    if not (live and chosen):
        assert flows.writes(repo) == []

    rows = flows.actions(repo, pull.number)
    if "reviewers" not in result:
        assert rows == []
        return
    (row,) = rows
    assert (row["feature"], row["action"]) == ("reviewers", result["mode"])
    assert row["mode"] == ("live" if live else "shadow")
    assert row["effect_key"] == f"reviewers:{ORG}/{repo}#{pull.number}"
    assert row["detail"]["reviewers"] == chosen and len(row["detail"]["reasons"]) == len(chosen)
    assert row["detail"]["history"] == sum(count for _, count, _ in case.history)


async def test_reviewers_are_asked_once(flows: Flows) -> None:
    repo = await repo_with_history(flows, REQUEST_ONE)
    pull = flows.fake.add_pull(ORG, repo, title="http2", user="dave", files=HTTP2[:1])
    assert await flows.run(run_reviewers, pull_args(repo, pull.number)) == chose(
        ["alice"], "request"
    )
    before = flows.mark()

    assert await flows.run(run_reviewers, pull_args(repo, pull.number)) == {
        "skipped": "already done"
    }

    assert flows.requests(since=before) == []
    assert len(flows.requests("POST", "/requested_reviewers$")) == 1


async def test_codeowners_are_read_and_ranked(flows: Flows) -> None:
    """A CODEOWNERS file names people the history does not: they become candidates."""
    repo = await repo_with_history(
        flows, "reviewers:\n  count: 3\n", files={".github/CODEOWNERS": "/net/ @frank\n"}
    )
    pull = flows.fake.add_pull(ORG, repo, title="http2", user="dave", files=HTTP2[:1])

    result = await flows.run(run_reviewers, pull_args(repo, pull.number))

    assert "frank" in result["reviewers"]
    assert flows.requests("GET", rf"/repos/{ORG}/{repo}/contents/\.github/CODEOWNERS$")


# ------------------------------------------------------------- people for issues


@dataclass(frozen=True)
class PeopleCase:
    """One branch of the people-for-issues flow."""

    name: str
    config: str
    expected: dict[str, Any]
    author: str = "dave"
    history: tuple[tuple[str, int, tuple[str, ...]], ...] = HISTORY
    #: alice opted out of suggestions (``steward people opt-out alice``).
    opted_out: bool = False
    #: alice set GitHub's busy status.
    busy: bool = False


#: Next after alice: erin, who authored every change of the history (authors resolve
#: issues too), not bob, who reviewed only docs changes.
NEXT_AFTER_ALICE = {"people": ["erin"], "how": "mention"}

PEOPLE_CASES = [
    PeopleCase(
        "no history yet",
        "reviewers:\n  issues: mention\n",
        {"skipped": "no review history yet"},
        history=(),
    ),
    PeopleCase("off", "reviewers:\n  issues: 'off'\n", {"skipped": "reviewers.issues is off"}),
    PeopleCase(
        "record is the default", "reviewers:\n  count: 1\n", {"people": ["alice"], "how": "record"}
    ),
    PeopleCase(
        "mention",
        "reviewers:\n  issues: mention\n  count: 1\n",
        {"people": ["alice"], "how": "mention"},
    ),
    PeopleCase(
        "assign",
        "reviewers:\n  issues: assign\n  count: 1\n",
        {"people": ["alice"], "how": "assign"},
    ),
    PeopleCase(
        "shadow mode mentions nobody",
        "mode: shadow\nreviewers:\n  issues: mention\n  count: 1\n",
        {"people": ["alice"], "how": "mention"},
    ),
    PeopleCase(
        "the issue's author is left out",
        "reviewers:\n  issues: mention\n  count: 1\n",
        NEXT_AFTER_ALICE,
        author="alice",
    ),
    PeopleCase(
        "opted-out people are not mentioned",
        "reviewers:\n  issues: mention\n  count: 1\n",
        NEXT_AFTER_ALICE,
        opted_out=True,
    ),
    PeopleCase(
        "busy people give way in a close call",
        "reviewers:\n  issues: mention\n  count: 1\n",
        {"people": ["bob"], "how": "mention"},
        history=CLOSE_CALL,
        busy=True,
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in PEOPLE_CASES])
async def test_people_for_issues(flows: Flows, case: PeopleCase) -> None:
    fake = flows.fake
    if case.history:
        repo = await repo_with_history(flows, case.config, history=case.history)
    else:
        repo = flows.new_repo("people", config=case.config, collaborators=WRITERS)
    issue = fake.add_issue(
        ORG,
        repo,
        title="http2 transport hangs",
        body="net/http2/transport.go never returns",
        user=case.author,
    )
    start = flows.mark()
    args = IssueArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=issue.number)
    flows.store.set_opt_out("alice", case.opted_out)
    fake.user("alice").busy = case.busy
    try:
        result = await flows.run(run_issue_people, args)
    finally:
        fake.user("alice").busy = False

    assert result == case.expected
    if not case.history:
        assert flows.requests(since=start) == []  # decided from the store alone
    live = "mode: shadow" not in case.config
    how, people = result.get("how"), result.get("people", [])
    mentions = [c for c in fake.comment_bodies(ORG, repo, issue.number) if PEOPLE_MARKER in c]
    if live and how == "mention":
        (comment,) = mentions
        assert all(f"@{login}" in comment for login in people)
    else:
        assert mentions == []
    assigned = fake.issue(ORG, repo, issue.number).assignees
    assert assigned == (people if live and how == "assign" else [])
    if not (live and how in ("mention", "assign")):
        assert flows.writes(repo) == []

    rows = flows.actions(repo, issue.number)
    if "people" not in result:
        assert rows == []
        return
    (row,) = rows
    assert (row["feature"], row["action"], row["effect_key"]) == (
        "people",
        how,
        f"people:{ORG}/{repo}#{issue.number}",
    )
    assert row["detail"]["people"] == people
    assert await flows.run(run_issue_people, args) == {"skipped": "already done"}
