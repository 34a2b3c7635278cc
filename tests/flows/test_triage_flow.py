"""The triage flow in-process: every branch of ``run_triage`` as a row of a table.

The classifier is a real saved model (the packaged MiniLM encoder plus a seeded head,
made once per session by the ``triage_model`` fixture) whose thresholds always pick
``bug`` and nothing else, so the rows check the flow's rules and plumbing: config
switches, human labels, removed labels, shadow mode, exactly-once effects. Model
quality is tested in tests/models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.store import ActionRecord
from core.tasks import TriageArgs
from fakegithub.fake import FakeGitHub
from tests.flows.conftest import TRIAGE_LABELS, Flows
from tests.support import INSTALLATION_ID, ORG
from workers.gates import label_effect_key
from workers.triage.decide import MARKER
from workers.triage.flow import run_triage

REPO_LABELS = (*TRIAGE_LABELS, "documentation", "good first issue")
TYPO = "The README.md says 'recieve' in the install section; it should say 'receive'."


@dataclass(frozen=True)
class Item:
    """A new item in the fake."""

    number: int
    node_id: str = ""


def add_item(
    fake: FakeGitHub, repo: str, kind: str, *, title: str, body: str, labels: tuple[str, ...]
) -> Item:
    """Create an issue, pull request or discussion to triage."""
    if kind == "discussion":
        made = fake.add_discussion(ORG, repo, title=title, body=body, labels=labels)
        return Item(made.number, made.node_id)
    if kind == "pull_request":
        pull = fake.add_pull(
            ORG, repo, title=title, body=body, labels=labels, files=["src/save.py"], user="dev"
        )
        return Item(pull.number)
    return Item(fake.add_issue(ORG, repo, title=title, body=body, labels=labels).number)


def triage_args(repo: str, kind: str, item: Item) -> TriageArgs:
    """The task's arguments, as the triage route builds them."""
    return TriageArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=item.number,
        kind=kind,
        node_id=item.node_id,
        delivery_id="delivery-1",
    )


def remove_label(flows: Flows, repo: str, number: int, how: str) -> None:
    """``bug`` was on the item and went away: removed by a person, a bot, or as feedback."""
    fake = flows.fake
    if how == "feedback":  # the feedback flow recorded it (e.g. on a discussion)
        full = f"{ORG}/{repo}"
        flows.store.record_feedback(
            repo=full, number=number, kind="label_removed", subject="bug", actor="maintainer"
        )
        return
    actor = {"person": "maintainer", "bot": "other-bot[bot]"}[how]
    issue = fake.issue(ORG, repo, number)
    fake.set_labels(fake.repo(ORG, repo), issue, ["bug"], actor=actor)
    fake.set_labels(fake.repo(ORG, repo), issue, [], actor=actor)


def labelled(
    labels: list[str], mode: str = "live", source: str = "model", shadow: list[str] | None = None
) -> dict[str, Any]:
    """The flow's answer when it decided (``shadow``: labels the gate held back)."""
    return {"labels": labels, "shadow": shadow or [], "source": source, "mode": mode}


OFF = {"skipped": "triage is off for this kind"}
NO_CLASSIFIER = {"skipped": "no trained model and zero-shot is off"}
NOT_BOOTSTRAPPED = {"skipped": "not bootstrapped yet; its history is being read"}
HUMAN = {"skipped": "a human already labelled it"}


@dataclass(frozen=True)
class Case:
    """One branch of the triage flow."""

    name: str
    expected: dict[str, Any]
    kind: str = "issue"
    config: str = ""
    model: bool = True
    repo_labels: tuple[str, ...] = REPO_LABELS
    labels_before: tuple[str, ...] = ()
    #: ``bug`` was removed before triage: by a ``person``, a ``bot``, or as ``feedback``.
    removed: str | None = None
    title: str = "Crash on save"
    body: str = "Traceback (most recent call last): ..."
    #: Labels on the item afterwards (default: the ones it had plus those applied live).
    after: tuple[str, ...] | None = None
    #: Labels recorded as the bot's own (``label`` rows); default: the applied ones.
    recorded: tuple[str, ...] | None = None
    #: The discussions' gates: ``confirmed`` by people's labels, or ``new`` (in shadow).
    discussions: str = "confirmed"


CASES = [
    Case("model labels a new issue", labelled(["bug"])),
    Case("pull request is labelled", labelled(["bug"]), kind="pull_request"),
    Case(
        "discussion is labelled through GraphQL once people confirmed the label",
        labelled(["bug"]),
        kind="discussion",
    ),
    Case(
        "discussion waits in shadow while no discussion measured the label",
        labelled([], shadow=["bug"]),
        kind="discussion",
        discussions="new",
    ),
    Case("human-labelled issue is skipped", HUMAN, labels_before=("question",)),
    Case(
        "human-labelled discussion is skipped",
        HUMAN,
        kind="discussion",
        labels_before=("enhancement",),
    ),
    Case("triage disabled", OFF, config="triage:\n  enabled: false\n"),
    Case("issues switched off", OFF, config="triage:\n  issues: false\n"),
    Case(
        "pull requests switched off",
        OFF,
        kind="pull_request",
        config="triage:\n  pull_requests: false\n",
    ),
    Case(
        "discussions switched off",
        OFF,
        kind="discussion",
        config="triage:\n  discussions: false\n",
    ),
    Case(
        "issues off leaves pull requests on",
        labelled(["bug"]),
        kind="pull_request",
        config="triage:\n  issues: false\n",
    ),
    Case("allow-list without the label", labelled([]), config="triage:\n  allow: [question]\n"),
    Case("deny-list names the label", labelled([]), config="triage:\n  deny: [Bug]\n"),
    Case(
        "minimum confidence above the model",
        labelled([]),
        config="triage:\n  min_confidence: {bug: 1.5}\n",
    ),
    Case("at most zero labels", labelled([]), config="triage:\n  max_labels: 0\n"),
    Case(
        "alias to the repository's label",
        labelled(["documentation"]),
        config="triage:\n  aliases: {bug: documentation}\n",
    ),
    Case(
        "alias to a label the repository lacks",
        labelled([]),
        config="triage:\n  aliases: {bug: wontfix}\n",
    ),
    Case("label the repository lacks", labelled([]), repo_labels=("enhancement", "question")),
    Case("repository spelling of the label", labelled(["Bug"]), repo_labels=("Bug", "question")),
    Case(
        "shadow mode records without applying",
        labelled(["bug"], mode="shadow"),
        config="mode: shadow\n",
        after=(),
    ),
    Case(
        "shadow discussion records without applying",
        labelled(["bug"], mode="shadow"),
        kind="discussion",
        config="mode: shadow\n",
        after=(),
    ),
    Case("label a person removed is not re-applied", labelled([]), removed="person"),
    Case("label removed as recorded feedback", labelled([]), removed="feedback"),
    Case("label another bot removed is applied", labelled(["bug"]), removed="bot"),
    Case(
        "good first issue labelled when asked",
        labelled(["bug", "good first issue"]),
        config="triage:\n  good_first_issue: label\n",
        title="Typo in README",
        body=TYPO,
        # the newcomer label is recorded as the bot's own, so removing it is feedback
        recorded=("bug", "good first issue"),
    ),
    Case(
        "good first issue only suggested by default",
        labelled(["bug"]),
        title="Typo in README",
        body=TYPO,
    ),
    Case(
        "zero-shot off and no model",
        NO_CLASSIFIER,
        model=False,
        config="triage:\n  zero_shot: false\n",
    ),
    Case("no model, never bootstrapped", NOT_BOOTSTRAPPED, model=False, repo_labels=()),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
async def test_triage(flows: Flows, install_model: Callable[[str], Path], case: Case) -> None:
    fake = flows.fake
    repo = flows.new_repo("triage", config=case.config, labels=case.repo_labels)
    if case.model:
        install_model(repo, discussions=case.discussions)
    item = add_item(
        fake, repo, case.kind, title=case.title, body=case.body, labels=case.labels_before
    )
    if case.removed:
        remove_label(flows, repo, item.number, case.removed)

    result = await flows.run(run_triage, triage_args(repo, case.kind, item))

    assert result == case.expected
    applied = result.get("labels", []) if result.get("mode") == "live" else []
    after = case.after if case.after is not None else (*case.labels_before, *applied)
    assert fake.labels_on(ORG, repo, item.number) == list(after)
    rest_adds = flows.requests("POST", rf"/repos/{ORG}/{repo}/issues/\d+/labels$")
    graphql_adds = [m for m in flows.mutations() if "addLabelsToLabelable" in m.json["query"]]
    if case.kind == "discussion":
        assert len(graphql_adds) == (1 if applied else 0) and rest_adds == []
    else:
        assert [r.json for r in rest_adds] == ([{"labels": applied}] if applied else [])
        assert graphql_adds == []
    if not applied:
        assert flows.writes(repo) == [] and flows.mutations() == []
    if case.kind == "pull_request" and "labels" in result:
        assert flows.requests("GET", rf"/repos/{ORG}/{repo}/pulls/{item.number}/files")

    rows = flows.actions(repo, item.number)
    if "labels" not in result:
        assert rows == []
        return
    *label_rows, decision = rows
    assert (decision["action"], decision["mode"]) == ("decision", result["mode"])
    assert decision["effect_key"] == f"triage:{ORG}/{repo}#{item.number}:decision"
    assert decision["detail"]["applied"] == result["labels"]
    assert decision["detail"]["kind"] == case.kind
    assert sorted(decision["detail"]["probs"]) == sorted(TRIAGE_LABELS)
    recorded = case.recorded if case.recorded is not None else tuple(result["labels"])
    held = [(r["detail"]["label"], r["mode"]) for r in label_rows if r["mode"] == "shadow"]
    if result["mode"] == "live":  # held-back labels are recorded in shadow beside them
        assert held == [(name, "shadow") for name in result["shadow"]]
        label_rows = [r for r in label_rows if r["mode"] != "shadow"]
    assert [r["detail"]["label"] for r in label_rows] == list(recorded)
    assert {(r["action"], r["mode"]) for r in label_rows} <= {("label", result["mode"])}
    assert [r["effect_key"] for r in label_rows] == [
        label_effect_key(f"{ORG}/{repo}", item.number, name) for name in recorded
    ]


@pytest.mark.parametrize("kind", ["issue", "discussion"])
async def test_labels_are_applied_and_recorded_once(
    flows: Flows, install_model: Callable[[str], Path], kind: str
) -> None:
    """A second run (a redelivery, a retried task) is answered from the audit log."""
    repo = flows.new_repo("once", labels=REPO_LABELS)
    install_model(repo)
    item = add_item(flows.fake, repo, kind, title="Crash on save", body="", labels=())
    args = triage_args(repo, kind, item)
    assert await flows.run(run_triage, args) == labelled(["bug"])
    before = flows.mark()

    assert await flows.run(run_triage, args) == {"skipped": "already triaged"}

    assert flows.requests(since=before) == []
    assert flows.fake.labels_on(ORG, repo, item.number) == ["bug"]
    assert [r["action"] for r in flows.actions(repo, item.number)] == ["label", "decision"]


async def test_a_decision_recorded_meanwhile_wins(
    flows: Flows, install_model: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker records the decision after the cheap first check: nothing is applied."""
    repo = flows.new_repo("race", labels=REPO_LABELS)
    install_model(repo)
    item = add_item(flows.fake, repo, "issue", title="Crash", body="", labels=())
    full = f"{ORG}/{repo}"
    has_action = flows.store.has_action
    checks: list[str] = []

    def other_worker_wins(key: str) -> bool:
        checks.append(key)
        if len(checks) == 1:  # ctx.done(): the other worker has not recorded it yet …
            flows.store.record_action(
                ActionRecord(key, full, "triage", "decision", number=item.number)
            )
            return False
        return has_action(key)  # … but has by the time the lock is held

    monkeypatch.setattr(flows.store, "has_action", other_worker_wins)
    result = await flows.run(run_triage, triage_args(repo, "issue", item))

    assert result == {"skipped": "already triaged"}
    assert checks == [f"triage:{full}#{item.number}:decision"] * 2
    assert flows.fake.labels_on(ORG, repo, item.number) == []
    assert flows.writes(repo) == []


@pytest.mark.parametrize("kind", ["issue", "discussion"])
async def test_explain_comment_when_asked(
    flows: Flows, install_model: Callable[[str], Path], kind: str
) -> None:
    """Issues get one explaining comment; discussions are labelled without one."""
    repo = flows.new_repo("explain", config="triage:\n  explain: true\n", labels=REPO_LABELS)
    install_model(repo)
    item = add_item(flows.fake, repo, kind, title="Crash", body="", labels=())

    assert await flows.run(run_triage, triage_args(repo, kind, item)) == labelled(["bug"])

    if kind == "discussion":
        assert flows.fake.discussion_comments(ORG, repo, item.number) == []
        assert [m for m in flows.mutations() if "addDiscussionComment" in m.json["query"]] == []
        return
    (comment,) = [c for c in flows.fake.comment_bodies(ORG, repo, item.number) if MARKER in c]
    assert "`bug`" in comment and "trained model" in comment


async def test_the_classifier_reads_a_discussions_category(
    flows: Flows, install_model: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discussions go through the issue gate with their category as a feature."""
    from workers.triage import flow as triage_flow

    repo = flows.new_repo("triage-category", labels=REPO_LABELS)
    install_model(repo)
    made = flows.fake.add_discussion(ORG, repo, title="How do I export?", category="Q&A")
    seen: list[Any] = []
    real = triage_flow.predict_with_model

    def spy(*args: Any) -> Any:
        seen.append(args[1])
        return real(*args)

    monkeypatch.setattr(triage_flow, "predict_with_model", spy)
    await flows.run(run_triage, triage_args(repo, "discussion", Item(made.number, made.node_id)))
    assert [text.title for text in seen] == ["Q&A: How do I export?"]
