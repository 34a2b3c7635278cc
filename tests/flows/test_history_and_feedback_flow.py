"""Review history, label feedback and installation bookkeeping, in-process, as tables.

``run_backfill`` and ``run_record_pull`` read merged pull requests from the fake into
the store; ``run_feedback`` and ``run_installation_sync`` only touch the store (their
rows also check that they make no GitHub call at all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gidgethub import BadRequest

from core.store import ActionRecord
from core.tasks import BackfillArgs, FeedbackArgs, InstallationArgs, PullArgs, TriageArgs
from tests.flows.conftest import TRIAGE_LABELS, Flows
from tests.support import INSTALLATION_ID, ORG
from workers.feedback.flow import run_feedback
from workers.gates import label_effect_key
from workers.installations.flow import run_installation_sync
from workers.reviewers import history
from workers.reviewers.history import run_backfill, run_record_pull
from workers.triage.flow import run_triage
from workers.triage.live_eval import live_precision

BASE = datetime(2024, 1, 1, tzinfo=UTC)

# ------------------------------------------------------------------ backfill


def merged_history(flows: Flows, repo: str, count: int) -> list[int]:
    """``count`` merged pull requests a day apart in 2024 (oldest first), reviewed by bob.

    Pull requests made later without ``created_at`` are newer: they come first in the
    newest-first listing the backfill reads.
    """
    numbers = []
    for day in range(count):
        pull = flows.fake.add_pull(
            ORG,
            repo,
            title=f"change {day}",
            user="erin",
            merged=True,
            files=[f"src/{day}.py"],
            created_at=BASE + timedelta(days=day),
        )
        flows.fake.add_review(ORG, repo, pull.number, user="bob")
        numbers.append(pull.number)
    return numbers


def backfill_args(repo: str) -> BackfillArgs:
    """A backfill task's arguments."""
    return BackfillArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)


def pages_read(flows: Flows, repo: str, since: int = 0) -> list[str]:
    """The ``page`` of every pull request listing read during the test (after ``since``)."""
    listings = flows.requests("GET", rf"^/repos/{ORG}/{repo}/pulls$", since=since)
    return [r.query.get("page", "") for r in listings]


@pytest.mark.parametrize(
    ("merged", "page_size", "limit", "expected", "pages", "state"),
    [
        pytest.param(10, 100, 1000, 10, ["1"], ("2", 10), id="one page"),
        pytest.param(10, 4, 1000, 10, ["1", "2", "3"], ("4", 10), id="page by page"),
        pytest.param(7, 4, 1000, 7, ["1", "2", "3"], ("4", 7), id="a full last page"),
        pytest.param(10, 4, 6, 7, ["1", "2"], ("3", 7), id="stops at the limit"),
        pytest.param(0, 100, 1000, 0, ["1"], ("2", 0), id="nothing merged yet"),
    ],
)
async def test_backfill(
    flows: Flows,
    monkeypatch: pytest.MonkeyPatch,
    merged: int,
    page_size: int,
    limit: int,
    expected: int,
    pages: list[str],
    state: tuple[str, int],
) -> None:
    monkeypatch.setattr(history, "PAGE_SIZE", page_size)
    monkeypatch.setattr(history, "BACKFILL_LIMIT", limit)
    repo = flows.new_repo("backfill")
    merged_history(flows, repo, merged)
    # Newest, so first on page 1: it takes a place on the page but is not recorded.
    flows.fake.add_pull(ORG, repo, title="closed, not merged", state="closed", files=["x.py"])
    flows.fake.add_pull(ORG, repo, title="still open", files=["y.py"])

    assert await flows.run(run_backfill, backfill_args(repo)) == {"backfilled": expected}

    assert pages_read(flows, repo) == pages
    full = f"{ORG}/{repo}"
    saved = flows.store.backfill_state(full, "pulls")
    assert saved is not None and (saved["cursor"], saved["count"], saved["done"]) == (
        *state,
        True,
    )
    changes = flows.store.changes_for(full)
    assert len(changes) == expected
    assert all(c["reviewers"] == ["bob"] and c["author"] == "erin" for c in changes)
    before = flows.mark()
    assert await flows.run(run_backfill, backfill_args(repo)) == {
        "skipped": "already backfilled",
        "count": expected,
    }
    assert flows.requests(since=before) == []


async def test_backfill_resumes_where_it_stopped(
    flows: Flows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that fails on page 3 keeps pages 1–2; the next run reads page 3 only."""
    monkeypatch.setattr(history, "PAGE_SIZE", 4)
    repo = flows.new_repo("resume")
    oldest, *_ = merged_history(flows, repo, 10)  # newest first: the oldest is on page 3
    # Not a retried 5xx: a 4xx fails the run at once, as a task that is then re-queued.
    flows.fake.fail_next("GET", rf"/pulls/{oldest}/reviews$", status=404, times=1)

    with pytest.raises(BadRequest):
        await flows.run(run_backfill, backfill_args(repo))

    full = f"{ORG}/{repo}"
    saved = flows.store.backfill_state(full, "pulls")
    assert saved is not None and (saved["cursor"], saved["count"], saved["done"]) == (
        "3",
        8,
        False,
    )
    since = flows.mark()
    assert await flows.run(run_backfill, backfill_args(repo)) == {"backfilled": 10}
    assert pages_read(flows, repo, since) == ["3"]
    assert flows.store.change_count(full) == 10


# --------------------------------------------------------------- record pull


@dataclass(frozen=True)
class RecordCase:
    """One merged (or not) pull request joining the history."""

    name: str
    merged: bool = True
    #: (login, review state) in submission order.
    reviews: tuple[tuple[str, str], ...] = (("bob", "APPROVED"),)
    #: The body; ``{bug}`` and ``{pull}`` are an issue's and another PR's numbers.
    body: str = ""
    reviewers: tuple[str, ...] = ("bob",)
    #: Which of ``bug`` / ``pull`` end up as fixed issues.
    fixes: tuple[str, ...] = ()


RECORD_CASES = [
    RecordCase("merged with a review"),
    RecordCase("not merged: nothing recorded", merged=False, reviewers=()),
    RecordCase(
        "reviewers: first review first, no author, no bots, no pending",
        reviews=(
            ("erin", "COMMENTED"),
            ("ci[bot]", "APPROVED"),
            ("carol", "COMMENTED"),
            ("alice", "PENDING"),
            ("bob", "CHANGES_REQUESTED"),
            ("carol", "APPROVED"),
        ),
        reviewers=("carol", "bob"),
    ),
    RecordCase("closes an issue", body="Fixes #{bug}.", fixes=("bug",)),
    RecordCase(
        "references that do not close an issue",
        body="See #{bug}. Fixes #{pull}. Fixes #9999. Closes other/repo#{bug}.",
    ),
    RecordCase(
        "closing keywords, own repository named",
        body="resolves octo-org/{repo}#{bug}",
        fixes=("bug",),
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in RECORD_CASES])
async def test_record_pull(flows: Flows, case: RecordCase) -> None:
    fake = flows.fake
    repo = flows.new_repo("record")
    bug = fake.add_issue(ORG, repo, title="QUIC handshake times out", user="dave")
    other = fake.add_pull(ORG, repo, title="another pull request", user="dave")
    body = case.body.format(bug=bug.number, pull=other.number, repo=repo)
    pull = fake.add_pull(
        ORG, repo, title="quic", user="erin", merged=case.merged, files=["quic/a.go"], body=body
    )
    for login, state in case.reviews:
        fake.add_review(ORG, repo, pull.number, user=login, state=state)
    args = PullArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=pull.number)

    assert await flows.run(run_record_pull, args) == {"recorded": case.merged}

    changes = flows.store.changes_for(f"{ORG}/{repo}")
    if not case.merged:
        assert changes == []
        return
    (change,) = changes
    assert change["id"] == str(pull.number) and change["author"] == "erin"
    assert change["reviewers"] == list(case.reviewers) and change["files"] == ["quic/a.go"]
    titles = {"bug": (bug.number, bug.title), "pull": (other.number, other.title)}
    assert change["fixes"] == [{"number": titles[f][0], "title": titles[f][1]} for f in case.fixes]
    assert flows.writes(repo) == []


async def test_a_later_review_refreshes_the_recorded_pull(flows: Flows) -> None:
    fake = flows.fake
    repo = flows.new_repo("rereview")
    pull = fake.add_pull(ORG, repo, title="quic", user="erin", merged=True, files=["a.go"])
    fake.add_review(ORG, repo, pull.number, user="bob")
    args = PullArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=pull.number)
    assert await flows.run(run_record_pull, args) == {"recorded": True}
    fake.add_review(ORG, repo, pull.number, user="alice", state="COMMENTED")

    assert await flows.run(run_record_pull, args) == {"recorded": True}

    (change,) = flows.store.changes_for(f"{ORG}/{repo}")
    assert change["reviewers"] == ["bob", "alice"]


# ------------------------------------------------------------------ feedback


@dataclass(frozen=True)
class FeedbackCase:
    """A person's label change after (or without) the bot's triage of the item."""

    name: str
    added: bool
    expected: str | None
    #: Labels the bot recorded on the item, with the mode they were recorded in.
    bot_labels: tuple[tuple[str, str], ...] = ()
    #: Whether the bot recorded a triage decision for the item.
    decided: bool = True


FEEDBACK_CASES = [
    FeedbackCase("removing the bot's label", False, "label_removed", (("bug", "live"),)),
    FeedbackCase("removing a shadow-only label", False, None, (("bug", "shadow"),)),
    FeedbackCase("removing a label the bot did not add", False, None, (("question", "live"),)),
    FeedbackCase("adding a label the bot missed", True, "label_added", (("question", "live"),)),
    FeedbackCase("adding a label after a decision of none", True, "label_added"),
    FeedbackCase("adding back the bot's own label", True, None, (("bug", "live"),)),
    FeedbackCase("adding on an item the bot never saw", True, None, decided=False),
    FeedbackCase("removing on an item the bot never saw", False, None, decided=False),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in FEEDBACK_CASES])
async def test_feedback(flows: Flows, case: FeedbackCase) -> None:
    repo = flows.new_repo("feedback")
    full, number = f"{ORG}/{repo}", 5
    for label, mode in case.bot_labels:
        key = label_effect_key(full, number, label)
        flows.store.record_action(
            ActionRecord(key, full, "triage", "label", number, detail={"label": label}, mode=mode)
        )
    if case.decided:
        key = f"triage:{full}#{number}:decision"
        flows.store.record_action(ActionRecord(key, full, "triage", "decision", number))
    args = FeedbackArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=number,
        label="bug",
        added=case.added,
        actor="maintainer",
    )

    assert await flows.run(run_feedback, args) == {"feedback": case.expected}

    rows = [
        (f["number"], f["kind"], f["subject"], f["actor"]) for f in flows.store.feedback_for(full)
    ]
    assert rows == ([(number, case.expected, "bug", "maintainer")] if case.expected else [])
    assert flows.requests() == []


@pytest.mark.parametrize(
    ("mode", "change", "judged"),
    [
        pytest.param("live", False, {"live_precision": 0.0, "live_judged": 1}, id="live, removed"),
        pytest.param("shadow", True, {"shadow_precision": 1.0, "shadow_judged": 1}, id="shadow"),
    ],
)
async def test_triage_then_feedback(
    flows: Flows,
    install_model: Callable[[str], Path],
    mode: str,
    change: bool,
    judged: dict[str, float],
) -> None:
    """The bot labels (or would label) ``bug``; a maintainer's change is then judged."""
    repo = flows.new_repo("judged", config=f"mode: {mode}\n", labels=TRIAGE_LABELS)
    install_model(repo)
    issue = flows.fake.add_issue(ORG, repo, title="Crash on save")
    triage = TriageArgs(
        installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=issue.number, kind="issue"
    )
    assert (await flows.run(run_triage, triage))["labels"] == ["bug"]
    feedback = FeedbackArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=issue.number,
        label="bug",
        added=change,
        actor="maintainer",
    )

    result = await flows.run(run_feedback, feedback)

    # Live: the bot's label was removed. Shadow: the bot never applied it, so a person
    # adding it is a label the bot "missed", which is what judges the shadow decision.
    assert result == {"feedback": "label_removed" if mode == "live" else "label_added"}
    full = f"{ORG}/{repo}"
    decisions = flows.actions(repo, issue.number, "decision")
    scores = live_precision(decisions, flows.store.feedback_for(full))
    assert {k: scores[k] for k in judged} == judged


# ------------------------------------------------------------- installations


def installation(action: str, **fields: Any) -> InstallationArgs:
    """An installation task's arguments for the test installation."""
    return InstallationArgs(
        installation_id=INSTALLATION_ID,
        action=action,
        account=ORG,
        account_type="Organization",
        **fields,
    )


@pytest.mark.parametrize(
    ("events", "result", "active", "queued"),
    [
        pytest.param(
            [installation("created", added=((1, f"{ORG}/b"), (2, f"{ORG}/a")))],
            {"installation": INSTALLATION_ID, "repositories": [f"{ORG}/a", f"{ORG}/b"]},
            [f"{ORG}/a", f"{ORG}/b"],
            [[f"{ORG}/b", f"{ORG}/a"]],
            id="created with repositories",
        ),
        pytest.param(
            [
                installation("created", added=((1, f"{ORG}/a"),)),
                installation("added", added=((2, f"{ORG}/b"),)),
                installation("removed", removed=(1,)),
            ],
            {"installation": INSTALLATION_ID, "repositories": [f"{ORG}/b"]},
            [f"{ORG}/b"],
            [[f"{ORG}/a"], [f"{ORG}/b"]],
            id="repositories added and removed",
        ),
        pytest.param(
            [installation("created")],
            {"installation": INSTALLATION_ID, "repositories": []},
            [],
            [],
            id="created without repositories",
        ),
        pytest.param(
            [installation("created", added=((1, f"{ORG}/a"),)), installation("deleted")],
            {"installation": INSTALLATION_ID, "deleted": True},
            [],
            [[f"{ORG}/a"]],
            id="deleted",
        ),
        pytest.param(
            [installation("created", added=((1, f"{ORG}/a"),)), installation("suspend")],
            {"installation": INSTALLATION_ID, "deleted": True},
            [],
            [[f"{ORG}/a"]],
            id="suspended",
        ),
        pytest.param(
            [
                installation("created", added=((1, f"{ORG}/a"),)),
                installation("deleted"),
                installation("created", added=((1, f"{ORG}/a"),)),
            ],
            {"installation": INSTALLATION_ID, "repositories": [f"{ORG}/a"]},
            [f"{ORG}/a"],
            [[f"{ORG}/a"], [f"{ORG}/a"]],
            id="installed again after deletion",
        ),
        pytest.param(
            [installation("created", added=((1, f"{ORG}/a"),))] * 2,
            {"installation": INSTALLATION_ID, "repositories": [f"{ORG}/a"]},
            [f"{ORG}/a"],
            [[f"{ORG}/a"], [f"{ORG}/a"]],
            id="a redelivery changes nothing",
        ),
    ],
)
async def test_installation_sync(
    flows: Flows,
    monkeypatch: pytest.MonkeyPatch,
    events: list[InstallationArgs],
    result: dict[str, Any],
    active: list[str],
    queued: list[list[str]],
) -> None:
    backfills: list[list[str]] = []
    for event in events:
        before = len(flows.queued("steward.backfill"))
        answer = await flows.run(run_installation_sync, event)
        new = flows.queued("steward.backfill")[before:]
        if new:
            assert {m["installation_id"] for m in new} == {INSTALLATION_ID}
            backfills.append([f"{m['owner']}/{m['repo']}" for m in new])
            # every added repository is also bootstrapped for triage
            boots = flows.queued("steward.bootstrap")[-len(new) :]
            assert [f"{m['owner']}/{m['repo']}" for m in boots] == backfills[-1]

    assert answer == result
    assert flows.store.active_repositories(INSTALLATION_ID) == active
    assert backfills == queued
    row = flows.store.installation(INSTALLATION_ID)
    assert row is not None and row["account_login"] == ORG
    assert (row["deleted_at"] is not None) == bool(result.get("deleted"))
    assert flows.requests() == []
