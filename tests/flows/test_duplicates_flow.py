"""Possible duplicates in the bot (issue 27), in-process, with the real base encoder
(all-MiniLM-L6-v2, packaged) and the checked fake GitHub.

Each repository's history (``tests/duplicates_history.py``) is 70 issues about as many
made-up components, then 45 that repeat one of them, which people closed as duplicates in
the three ways GitHub shows: a ``Duplicate of #N`` comment, the ``duplicate`` close reason
with a link in a comment, the ``duplicate`` label with a ``marked_as_duplicate`` event and
a link. On installation the review-history backfill queues the calibration; the
calibration reads that history through the fake, embeds it and gates the suggestions on
its replay. Then new issues: one that repeats an old one gets one "possibly a duplicate"
comment in live mode, only a record in shadow mode, and never a second comment; a
maintainer's 👎 and a duplicate closed by people reach the next calibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.tasks import (
    CALIBRATE_DUPLICATES,
    BackfillArgs,
    CalibrateDuplicatesArgs,
    DuplicatesArgs,
    RefreshDuplicatesArgs,
)
from tests.duplicates_history import (
    BAR,
    DUPLICATES,
    LIVE,
    WRITERS,
    Topic,
    add_history,
    close_as_duplicate,
    repeat_of,
)
from tests.flows.conftest import Flows
from tests.flows.test_commands_flow import deliver, write_comment
from tests.support import INSTALLATION_ID, ORG
from workers.duplicates.decide import MARKER
from workers.duplicates.flow import (
    run_calibrate_duplicates,
    run_duplicates,
    run_refresh_duplicates,
)
from workers.reviewers.history import run_backfill
from workers.triage.status import duplicates_report, render_duplicates

pytestmark = pytest.mark.timeout(300)


def history(flows: Flows, config: str, *, seed: int = 1) -> tuple[str, list[Topic], list[int]]:
    """A repository with ``tests/duplicates_history.py``'s history: its name, topics and
    the originals' numbers."""
    repo = flows.new_repo("dups", config=config, collaborators=WRITERS)
    about, originals = add_history(flows.fake, repo, seed=seed)
    return repo, about, originals


async def install(flows: Flows, repo: str) -> dict[str, object]:
    """The installation's path: the backfill queues the calibration, which then runs."""
    backfill = BackfillArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)
    assert await flows.run(run_backfill, backfill) == {"backfilled": 0}
    (message,) = flows.queued(CALIBRATE_DUPLICATES.name)
    args = CALIBRATE_DUPLICATES.parse(message)
    assert args == CalibrateDuplicatesArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)
    return await flows.run(run_calibrate_duplicates, args)


def new_issue(flows: Flows, repo: str, topic: Topic) -> DuplicatesArgs:
    """A new issue that repeats ``topic``'s original report word for word."""
    number = repeat_of(flows.fake, repo, topic)
    return DuplicatesArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=number)


async def test_a_repeated_issue_gets_one_comment_in_live_mode(flows: Flows) -> None:
    repo, about, originals = history(flows, LIVE)

    calibrated = await install(flows, repo)

    assert calibrated["state"] == "live", calibrated
    assert calibrated["pairs"] == DUPLICATES and calibrated["with_earlier_duplicate"] == DUPLICATES
    gate = flows.store.duplicate_gate(f"{ORG}/{repo}")
    assert gate is not None and gate["live"] and gate["gate"]["correct"] >= 10
    args = new_issue(flows, repo, about[5])

    result = await flows.run(run_duplicates, args)

    assert result["duplicates"] == "comment" and result["suggested"][0] == originals[5]
    (body,) = [c for c in flows.fake.comment_bodies(ORG, repo, args.number) if MARKER in c]
    assert body.startswith("This issue is possibly a duplicate of:")
    assert f"- #{originals[5]} (open): " in body and body.count("\n- #") <= 3
    (row,) = flows.actions(repo, args.number)
    assert (row["feature"], row["action"], row["mode"]) == ("duplicates", "comment", "live")
    suggestion = flows.store.duplicate_suggestion(f"{ORG}/{repo}", args.number)
    assert suggestion is not None and (suggestion["state"], suggestion["how"]) == (
        "live",
        "comment",
    )
    # A redelivery or a retry posts nothing more.
    assert await flows.run(run_duplicates, args) == {"skipped": "already done"}
    comments = flows.fake.comment_bodies(ORG, repo, args.number)
    assert sum(MARKER in c for c in comments) == 1
    assert flows.writes(repo)[-1].path.endswith(f"/issues/{args.number}/comments")


@dataclass(frozen=True)
class Quiet:
    """A repository where a repeated issue gets no comment, and what is recorded."""

    name: str
    config: str
    action: str
    state: str | None


QUIET = [
    Quiet("shadow is the default: recorded only", f"triage:\n{BAR}", "suggest", "shadow"),
    Quiet("a repository in shadow mode", f"mode: shadow\n{LIVE}", "comment", "shadow"),
    Quiet(
        "the default bar keeps 45 duplicates in shadow",
        "triage:\n  duplicates: live\n",
        "suggest",
        "shadow",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in QUIET])
async def test_nothing_is_posted_in_shadow(flows: Flows, case: Quiet) -> None:
    repo, about, originals = history(flows, case.config)
    await install(flows, repo)
    args = new_issue(flows, repo, about[7])
    before = len(flows.writes(repo))

    result = await flows.run(run_duplicates, args)

    assert result["duplicates"] == case.action and result["suggested"][0] == originals[7]
    assert flows.writes(repo)[before:] == []
    (row,) = flows.actions(repo, args.number)
    assert (row["action"], row["mode"]) == (case.action, "shadow")
    suggestion = flows.store.duplicate_suggestion(f"{ORG}/{repo}", args.number)
    assert suggestion is not None and (suggestion["state"], suggestion["how"]) == (
        "shadow",
        "record",
    )


async def test_the_label_instead_of_a_comment(flows: Flows) -> None:
    repo, about, _ = history(flows, f"{LIVE}duplicates:\n  how: label\n  label: maybe-dup\n")
    await install(flows, repo)
    args = new_issue(flows, repo, about[3])

    result = await flows.run(run_duplicates, args)

    assert result["duplicates"] == "label"
    assert "maybe-dup" in flows.fake.labels_on(ORG, repo, args.number)
    assert not any(MARKER in c for c in flows.fake.comment_bodies(ORG, repo, args.number))
    # A maintainer says it is wrong: the label goes, the suggestion is a mistake, and the
    # gate is re-judged on it at once (one mistake of one, beside the history's).
    thread = write_comment(flows, (repo, args.number, "issue"), body="/steward wrong", user="alice")
    assert (await deliver(flows, thread))["ran"] == ["/steward wrong"]
    assert "maybe-dup" not in flows.fake.labels_on(ORG, repo, args.number)
    full = f"{ORG}/{repo}"
    row = flows.store.duplicate_suggestion(full, args.number)
    assert row is not None and (row["verdict"], row["verdict_source"]) == ("wrong", "command")
    gate = flows.store.duplicate_gate(full)
    assert gate is not None and (gate["gate"]["judged"], gate["gate"]["judged_correct"]) == (1, 0)


async def test_off_and_before_calibration(flows: Flows) -> None:
    repo = flows.new_repo("dups-off", config="triage:\n  duplicates: 'off'\n")
    made = flows.fake.add_issue(ORG, repo, title="Something broke", body="It broke.")
    off = DuplicatesArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=made.number)
    assert await flows.run(run_duplicates, off) == {"skipped": "triage.duplicates is off"}

    fresh = flows.new_repo("dups-new", config=LIVE)
    made = flows.fake.add_issue(ORG, fresh, title="Something broke", body="It broke.")
    args = DuplicatesArgs(
        installation_id=INSTALLATION_ID, owner=ORG, repo=fresh, number=made.number
    )
    result = await flows.run(run_duplicates, args)
    assert result == {"skipped": "not calibrated yet: calibration queued"}
    assert len(flows.queued(CALIBRATE_DUPLICATES.name)) == 1
    # A second issue before the calibration ran queues nothing more.
    await flows.run(run_duplicates, args)
    assert len(flows.queued(CALIBRATE_DUPLICATES.name)) == 1
    assert flows.writes(repo) == [] and flows.writes(fresh) == []
    calibrated = await flows.run(
        run_calibrate_duplicates,
        CALIBRATE_DUPLICATES.parse(flows.queued(CALIBRATE_DUPLICATES.name)[0]),
    )
    assert calibrated["state"] == "shadow" and calibrated["issues"] == 1
    assert duplicates_report(None, flows.store.duplicate_counts(f"{ORG}/{repo}"))["state"] == (
        "not calibrated"
    )


async def test_corrections_and_confirmations_reach_the_next_calibration(flows: Flows) -> None:
    repo, about, originals = history(flows, LIVE)
    full = f"{ORG}/{repo}"
    await install(flows, repo)
    wrong = new_issue(flows, repo, about[11])
    right = new_issue(flows, repo, about[12])
    for args in (wrong, right):
        assert (await flows.run(run_duplicates, args))["duplicates"] == "comment"
    # A maintainer's 👎 on one comment (a reader's 👎 does not count), and people close
    # the other as a duplicate of the issue the bot suggested first.
    fake = flows.fake
    (mine,) = [c for c in fake.issue(ORG, repo, wrong.number).comments if MARKER in c.body]
    fake.react(mine.reactions, user="bob", content="-1")
    fake.react(mine.reactions, user="alice", content="-1")
    close_as_duplicate(flows.fake, repo, right.number, originals[12], 0)
    refresh = RefreshDuplicatesArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)

    refreshed = await flows.run(run_refresh_duplicates, refresh)

    assert refreshed["new_pairs"] == 1 and refreshed["wrong"] == 1
    assert refreshed["judged"] == {"confirmed": 1, "other": 0}
    assert refreshed["calibration_queued"] is True
    counts = flows.store.duplicate_counts(full)["live"]
    assert counts == {"suggested": 2, "confirmed": 1, "wrong": 1, "other": 0}
    row = flows.store.duplicate_suggestion(full, wrong.number)
    assert row is not None and (row["verdict_source"], row["verdict_actor"]) == (
        "reaction",
        "alice",
    )
    # The next calibration counts the correction: the corrected issue's top suggestion is
    # a mistake now, the confirmed one a right answer.
    before = flows.store.duplicate_gate(full)
    again = await flows.run(
        run_calibrate_duplicates,
        CALIBRATE_DUPLICATES.parse(flows.queued(CALIBRATE_DUPLICATES.name)[-1]),
    )
    after = flows.store.duplicate_gate(full)
    assert before is not None and after is not None
    assert again["corrections"] == 1 and again["pairs"] == DUPLICATES + 1
    assert after["gate"]["applied"] - after["gate"]["correct"] >= 1
    assert before["gate"]["applied"] == before["gate"]["correct"]
    # ``steward status`` shows the gate and what people did.
    status = duplicates_report(after, flows.store.duplicate_counts(full))
    assert status["calibration"]["corrections"] == 1 and status["support"] >= 10
    text = "\n".join(render_duplicates(status))
    assert "possible duplicates: " in text and "suggested live 2 (confirmed 1, wrong 1" in text
    # Nothing new since: the next refresh finds nothing and queues nothing.
    quiet = await flows.run(run_refresh_duplicates, refresh)
    assert quiet["new_pairs"] == 0 and quiet["wrong"] == 0 and quiet["calibration_queued"] is False
