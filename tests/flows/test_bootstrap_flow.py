"""Day one in-process: bootstrap on installation, the label gate, shadow decisions, and a
label demoted when people correct it.

The classifier is the real nearest-neighbour one over the packaged MiniLM encoder; the
history is built in the fake as closed, labelled issues, so every number the gate
measures comes from the same code a deployment runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from core.stores.audit import ActionRecord
from core.tasks import BootstrapArgs, FeedbackArgs, TriageArgs
from fakegithub.limits import Limits
from tests.flows.conftest import Flows
from tests.support import BUG, INSTALLATION_ID, ORG, THINGS, WISH
from workers.budget import Budget
from workers.feedback.flow import run_feedback
from workers.triage.bootstrap import run_bootstrap
from workers.triage.flow import run_triage
from workers.triage.status import render, status_report

LABELS = ("bug", "enhancement", "duplicate", "wontfix")
START = datetime(2024, 1, 1, tzinfo=UTC)


def add_history(flows: Flows, repo: str, rounds: int) -> None:
    """``rounds`` × 2 closed issues, alternating bug and enhancement, plus status labels."""
    for i in range(rounds):
        thing = THINGS[i % len(THINGS)]
        for k, (title, label) in enumerate(((BUG, "bug"), (WISH, "enhancement"))):
            flows.fake.add_issue(
                ORG,
                repo,
                title=title.format(thing),
                labels=[label],
                state="closed",
                created_at=START + timedelta(hours=2 * i + k),
            )
    # Status labels on a few items: never candidates, whatever the history says.
    for i, label in enumerate(("duplicate", "wontfix", "duplicate")):
        flows.fake.add_issue(
            ORG,
            repo,
            title=BUG.format(THINGS[i]),
            labels=[label],
            state="closed",
            created_at=START + timedelta(days=30, hours=i),
        )


def args(repo: str) -> BootstrapArgs:
    """The bootstrap task's arguments."""
    return BootstrapArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)


async def triage_new(flows: Flows, repo: str, title: str) -> tuple[int, dict[str, Any]]:
    """Open a new issue and run triage on it."""
    issue = flows.fake.add_issue(ORG, repo, title=title)
    triage = TriageArgs(
        installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=issue.number, kind="issue"
    )
    return issue.number, await flows.run(run_triage, triage)


def label_change(repo: str, number: int, *, added: bool) -> FeedbackArgs:
    """A maintainer adding or removing ``bug`` on an item, as the feedback route queues it."""
    return FeedbackArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=number,
        label="bug",
        added=added,
        actor="maintainer",
    )


def report(flows: Flows, repo: str) -> dict[str, Any]:
    """What ``steward status`` would print, as its JSON object."""
    full = f"{ORG}/{repo}"
    store = flows.store
    return status_report(
        full, gates=store.gates_for(full), profile=store.profile_for(full), model=None
    )


async def test_no_history_applies_nothing_and_says_so(flows: Flows) -> None:
    repo = flows.new_repo("dayone-empty", labels=LABELS)

    result = await flows.run(run_bootstrap, args(repo))

    assert result == {
        "repo": f"{ORG}/{repo}",
        "examples": 0,
        "live": [],
        "pull_requests": {"examples": 0, "live": []},
        "discussions": {"examples": 0, "live": []},
        "fine_tune": False,
    }
    status = report(flows, repo)
    assert status["live"] == [] and "no labelled history" in status["summary"]
    number, triaged = await triage_new(flows, repo, BUG.format("the settings page"))
    assert triaged == {"skipped": "no label of this repository has been measured yet"}
    assert flows.fake.labels_on(ORG, repo, number) == []


async def test_small_history_stays_in_shadow(flows: Flows) -> None:
    repo = flows.new_repo("dayone-small", labels=LABELS)
    add_history(flows, repo, rounds=6)

    result = await flows.run(run_bootstrap, args(repo))

    assert result["live"] == [] and result["examples"] == 12
    status = report(flows, repo)
    assert {r["label"] for r in status["labels"]} == {"bug", "enhancement"}
    assert status["status_labels"] == ["duplicate", "wontfix"]
    assert all(r["state"] == "shadow" and r["reason"] for r in status["labels"])
    number, triaged = await triage_new(flows, repo, BUG.format("the CSV export"))
    assert triaged["labels"] == [] and triaged["source"] == "nearest-neighbour"
    assert flows.fake.labels_on(ORG, repo, number) == []


async def test_enough_history_puts_a_label_live(flows: Flows) -> None:
    repo = flows.new_repo("dayone-live", labels=LABELS)
    add_history(flows, repo, rounds=75)

    result = await flows.run(run_bootstrap, args(repo))

    assert "bug" in result["live"]
    status = report(flows, repo)
    bug = next(r for r in status["labels"] if r["label"] == "bug")
    assert bug["state"] == "live" and bug["bound"] >= 0.95 and bug["support"] >= 59
    assert "bug" in render(status) and "never guessed (status labels): duplicate" in render(status)

    number, triaged = await triage_new(flows, repo, BUG.format("the sidebar"))
    assert triaged["labels"] == ["bug"] and triaged["source"] == "nearest-neighbour"
    assert flows.fake.labels_on(ORG, repo, number) == ["bug"]
    # status labels are never decided on, live or shadow
    decision = flows.actions(repo, number)[-1]["detail"]
    assert not {"duplicate", "wontfix"} & {*decision["applied"], *decision["shadow"]}


async def test_people_removing_a_live_label_demote_it(flows: Flows) -> None:
    """One label people removed is enough when the history barely cleared the bar: the
    bound over all the evidence falls below it."""
    repo = flows.new_repo("dayone-demote", labels=LABELS)
    add_history(flows, repo, rounds=75)
    assert "bug" in (await flows.run(run_bootstrap, args(repo)))["live"]
    number, triaged = await triage_new(flows, repo, BUG.format(THINGS[0]))
    assert triaged["labels"] == ["bug"]
    kept = await flows.run(run_feedback, label_change(repo, number, added=True))
    assert kept == {"feedback": None}  # a label added again is no correction

    outcome = await flows.run(run_feedback, label_change(repo, number, added=False))

    assert outcome == {"feedback": "label_removed", "gate": "shadow"}
    bug = next(r for r in report(flows, repo)["labels"] if r["label"] == "bug")
    assert bug["state"] == "shadow" and bug["reason"].startswith("demoted")
    assert bug["judged"] == 1 and bug["judged_correct"] == 0 and bug["bound"] < 0.95
    number, triaged = await triage_new(flows, repo, BUG.format("the calendar"))
    assert triaged["labels"] == [] and triaged["shadow"] == ["bug"]
    assert flows.fake.labels_on(ORG, repo, number) == []


async def test_installation_queues_the_bootstrap(flows: Flows) -> None:
    repo = flows.new_repo("dayone-unknown", labels=LABELS)
    _, first = await triage_new(flows, repo, "Something")
    _, second = await triage_new(flows, repo, "Something else")

    assert first == {"skipped": "not bootstrapped yet; its history is being read"}
    assert second == {"skipped": "not bootstrapped yet"}  # queued once, not per issue
    (queued,) = [m for m in flows.queued("steward.bootstrap") if m["repo"] == repo]
    assert queued["installation_id"] == INSTALLATION_ID


async def test_pull_requests_learn_from_pull_requests(flows: Flows) -> None:
    """Labelled pull requests, with their changed paths, are gated apart from issues."""
    repo = flows.new_repo("dayone-pulls", labels=(*LABELS, "documentation"))
    add_history(flows, repo, rounds=40)  # issues: bug and enhancement
    for i in range(40):  # pull requests: a fix in src/ is a bug, docs/ is documentation
        thing = THINGS[i % len(THINGS)]
        fix = i % 2 == 0
        flows.fake.add_pull(
            ORG,
            repo,
            title=f"Fix the crash in {thing}" if fix else f"Document {thing}",
            files=[f"src/{i}/core.py"] if fix else [f"docs/{i}/guide.md"],
            labels=["bug" if fix else "documentation"],
            merged=True,
            created_at=START + timedelta(days=40, hours=i),
        )

    result = await flows.run(run_bootstrap, args(repo))

    assert result["pull_requests"]["examples"] == 40 and result["examples"] == 80
    issue_gates = {r["label"] for r in flows.store.gates_for(f"{ORG}/{repo}", "issue")}
    pull_gates = flows.store.gates_for(f"{ORG}/{repo}", "pull_request")
    assert (
        {r["label"] for r in pull_gates} == issue_gates == {"bug", "enhancement", "documentation"}
    )
    pull = flows.fake.add_pull(
        ORG, repo, title="Document the sidebar", files=["docs/sidebar/guide.md"], user="dev"
    )
    triage = TriageArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=pull.number,
        kind="pull_request",
    )
    triaged = await flows.run(run_triage, triage)
    decision = flows.actions(repo, pull.number)[-1]["detail"]
    assert triaged["source"] == "nearest-neighbour"
    probs = decision["probs"]
    assert max(probs, key=probs.get) == "documentation"  # learnt from pull requests
    live = {r["label"] for r in pull_gates if r["live"]}
    expected = ["documentation"] if "documentation" in live else []
    assert triaged["labels"] == expected
    assert triaged["shadow"] == (["documentation"] if not expected else [])


async def test_discussions_are_gated_on_the_labelled_discussions(flows: Flows) -> None:
    """Labelled discussions in the history gate the discussions' labels: the issues'
    classifier (what labels a discussion) measured on them, their labellers inferred,
    and a label Steward's audit log says it applied left out of people's."""
    repo = flows.new_repo("dayone-talk", labels=LABELS)
    add_history(flows, repo, rounds=75)
    full = f"{ORG}/{repo}"
    for i in range(80):
        thing = THINGS[i % len(THINGS)]
        fix = i % 2 == 0
        flows.fake.add_discussion(
            ORG,
            repo,
            title=BUG.format(thing) if fix else WISH.format(thing),
            labels=["bug" if fix else "enhancement"],
            category="Q&A" if fix else "Ideas",
            created_at=START + timedelta(days=40, hours=i),
        )
    last = max(flows.fake.repo(ORG, repo).discussions)
    flows.store.record_action(
        ActionRecord(
            f"triage:{full}#{last}:label:enhancement",
            full,
            "triage",
            "label",
            number=last,
            detail={"label": "enhancement"},
            mode="live",
        )
    )

    result = await flows.run(run_bootstrap, args(repo))

    assert result["discussions"]["examples"] == 79  # the one Steward labelled is not people's
    records = flows.store.history_records(full, kind="discussion")
    assert len(records) == 80 and all(r["labelled_by"] == "inferred" for r in records)
    gates = {r["label"]: r for r in flows.store.gates_for(full, "discussion")}
    assert set(gates) == {"bug", "enhancement"}
    bug = gates["bug"]["gate"]
    assert bug["measured_on"] == 79 and "who labelled them is inferred" in bug["reason"]
    assert "no labelled discussions" not in bug["reason"]
    assert result["discussions"]["live"] == sorted(n for n, g in gates.items() if g["live"])


async def test_a_label_perfect_on_ten_items_waits_for_the_bound(flows: Flows) -> None:
    """Ten bugs in the history, every one of them recognised: a point estimate of 1.0,
    but a bound of 0.74, so the label stays in shadow; people confirming its shadow
    decisions add evidence at its threshold, and it goes live on the decision that takes
    the bound past 0.95, not before.
    """
    repo = flows.new_repo("dayone-earn", labels=LABELS)
    add_history(flows, repo, rounds=10)
    assert (await flows.run(run_bootstrap, args(repo)))["live"] == []
    bug = next(r for r in report(flows, repo)["labels"] if r["label"] == "bug")
    assert (bug["state"], bug["precision"]) == ("shadow", 1.0) and bug["support"] >= 9
    needed = 59 - bug["support"]  # n right in a row reach 0.95 at 95 % from n = 59
    assert bug["bound"] < 0.75 and bug["needed"] == needed
    assert f"needs {needed} more" in bug["reason"]

    confirmed = 0
    for i in range(60):
        number, triaged = await triage_new(flows, repo, BUG.format(f"{THINGS[i % 20]} ({i})"))
        if triaged["labels"]:
            break
        assert triaged["shadow"] == ["bug"]
        outcome = await flows.run(run_feedback, label_change(repo, number, added=True))
        confirmed += 1
        bug = next(r for r in report(flows, repo)["labels"] if r["label"] == "bug")
        assert bug["judged"] == confirmed  # status shows the evidence as it grows
        assert (outcome.get("gate") == "live") is (bug["bound"] >= 0.95)

    assert confirmed == needed and triaged["labels"] == ["bug"]
    assert flows.fake.labels_on(ORG, repo, number) == ["bug"]
    assert bug["state"] == "live" and bug["reason"].startswith("promoted from shadow")


async def test_a_label_without_a_threshold_earns_one_from_people(flows: Flows) -> None:
    """A history too small to set any threshold (fewer items than ``min_support``): the
    top label is still recorded in shadow, and once people have confirmed enough of those
    decisions it goes live at a threshold cross-fitted on them.
    """
    config = "triage:\n  precision: 0.8\n  min_support: 3\n"
    repo = flows.new_repo("dayone-nothreshold", labels=LABELS, config=config)
    add_history(flows, repo, rounds=1)
    await flows.run(run_bootstrap, args(repo))
    assert all(r["gate"]["threshold"] > 1 for r in flows.store.gates_for(f"{ORG}/{repo}"))

    outcomes = []
    for i in range(40):
        number, triaged = await triage_new(flows, repo, BUG.format(f"{THINGS[i % 20]} ({i})"))
        if triaged["labels"]:
            break
        assert triaged["shadow"] == ["bug"]
        confirmed = label_change(repo, number, added=True)
        outcomes.append(await flows.run(run_feedback, confirmed))

    assert outcomes[-1].get("gate") == "live"
    bug = next(r for r in report(flows, repo)["labels"] if r["label"] == "bug")
    assert bug["state"] == "live" and bug["reason"].startswith("promoted from shadow at")
    assert bug["threshold"] < 1 and bug["judged"] >= 14  # 14 right in a row: ≥ 0.8 at 95 %


async def test_report_issue_once_when_asked(flows: Flows) -> None:
    """``triage.report: issue`` opens one summary issue; off (the default) opens none."""
    quiet = flows.new_repo("dayone-quiet", labels=LABELS)
    loud = flows.new_repo("dayone-report", labels=LABELS, config="triage:\n  report: issue\n")
    for repo in (quiet, loud):
        add_history(flows, repo, rounds=6)
        await flows.run(run_bootstrap, args(repo))
    await flows.run(run_bootstrap, args(loud))  # bootstrapped again: still one issue

    opened = flows.requests("POST", rf"/repos/{ORG}/{loud}/issues$")
    (report,) = [r.json for r in opened]
    assert report["title"] == "Steward: triage on day one"
    assert "no label has reached the bar yet" in report["body"] and "bug" in report["body"]
    assert flows.requests("POST", rf"/repos/{ORG}/{quiet}/issues$") == []


async def test_the_orgs_last_bootstrap_queues_one_retrain_for_the_org(flows: Flows) -> None:
    """Repositories of one org are fine-tuned together (one shared encoder): the first
    bootstrapped waits for its org mate, the last queues one retrain naming both.
    """
    first = flows.new_repo("dayone-org-a", labels=LABELS)
    second = flows.new_repo("dayone-org-b", labels=LABELS)
    add_history(flows, first, rounds=55)  # 110 labelled issues: enough to fine-tune
    ids = [(flows.fake.repo(ORG, name).id, f"{ORG}/{name}") for name in (first, second)]
    flows.store.add_repositories(INSTALLATION_ID, ids)

    assert (await flows.run(run_bootstrap, args(first)))["fine_tune"] is False
    assert flows.queued("steward.retrain") == []
    assert (await flows.run(run_bootstrap, args(second)))["fine_tune"] is True

    [message] = flows.queued("steward.retrain")
    assert (message["owner"], message["repo"], message["together"]) == (ORG, second, [first])


@pytest.mark.slow
async def test_thousands_of_labelled_issues_within_the_request_target(
    flows: Flows, redis_url: str
) -> None:
    """2,500 labelled issues bootstrapped with GitHub's limits enforced: every request
    of the bootstrap (tokens, configuration, labels, the history) within 30 per 1,000
    items, and GitHub never refused one."""
    repo = flows.new_repo("dayone-big", labels=LABELS)
    for i in range(1250):
        thing = THINGS[i % len(THINGS)]
        for k, (title, label) in enumerate(((BUG, "bug"), (WISH, "enhancement"))):
            flows.fake.add_issue(
                ORG,
                repo,
                title=title.format(thing),
                labels=[label],
                state="closed",
                created_at=START + timedelta(minutes=2 * i + k),
            )
    try:
        with flows.fake.limits_enforced(Limits()) as limiter:
            result = await flows.run(run_bootstrap, args(repo))
    finally:
        client = redis.Redis.from_url(redis_url)
        client.delete(*client.scan_iter(f"{Budget.key(INSTALLATION_ID)}*"), "steward:none")

    made = flows.requests()
    assert len(made) * 1000 / 2500 <= 30, [f"{r.method} {r.path}" for r in made]
    assert limiter.refusals == []
    assert result["examples"] == 2000 and result["live"] == ["bug", "enhancement"]
    assert flows.store.history_count(f"{ORG}/{repo}") == 2500
