"""End to end: new issues, PRs and discussions get labels from the repository's own set.

The worker loads a real saved triage model (the packaged MiniLM encoder plus a head)
from its model folder; the head's thresholds make its decision predictable, and the
model's label gate (as retraining records it for a promoted model) puts ``bug`` live,
so these tests check the bot's plumbing and rules. Model quality is tested in
tests/models. ``test_day_one`` runs the whole day-one path: install, bootstrap, shadow,
promotion and demotion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot
from tests.support import BUG, ORG, THINGS, WISH, example, retarget, unique, wait_for
from tests.support import opened as support_opened

pytestmark = pytest.mark.timeout(300)

LABELS = ["bug", "enhancement", "question"]


def save_model(folder: Path, repo: str, thresholds: dict[str, float]) -> None:
    """A real model folder whose thresholds decide which labels it applies."""
    import torch

    from models.defaults import packaged_model_path
    from models.encoder import Encoder
    from models.triage.model import TriageMeta, TriageModel

    encoder = Encoder.from_pretrained(packaged_model_path(), device="cpu", max_length=64)
    torch.manual_seed(0)
    head = torch.nn.Linear(encoder.model.config.hidden_size, len(LABELS))
    meta = TriageMeta(
        labels=LABELS,
        multi_label=True,
        thresholds=thresholds,
        base_model="packaged",
        max_length=64,
        repo=repo,
    )
    TriageModel(encoder, head, meta).save(folder)


def new_repo(fake: FakeGitHub, bot: Bot, *, config: str = "", model: bool = True) -> str:
    """A repository with the usual labels and (by default) a model that applies `bug`."""
    name = unique("triage")
    files = {".github/steward.yml": config} if config else {}
    fake.add_repo(ORG, name, labels=[*LABELS, "documentation"], files=files)
    if model:
        folder = bot.data_dir / "models" / f"{ORG}__{name}"
        save_model(folder, f"{ORG}/{name}", {"bug": 0.0, "enhancement": 2.0, "question": 2.0})
        # measured on issues and pull requests; on discussions, people's labels put it live
        for kind in ("issue", "pull_request", "discussion"):
            bot.store().replace_gates(f"{ORG}/{name}", source="model", kind=kind, gates=bug_live())
    return name


def bug_live() -> list[dict[str, Any]]:
    """The model's gates: ``bug`` measured right 200 times of 200 on held-out issues."""
    from models.triage.gate import LabelGate

    return [
        LabelGate("bug", 0.0, 200, 200, 200, 400, True, "200/200 right").to_json(),
        LabelGate("enhancement", 1.01, 0, 0, 0, 40, False, "no threshold").to_json(),
    ]


def opened(name: str, key: str, repo: str, number: int, login: str = "reporter") -> dict[str, Any]:
    return support_opened(name, repo, number, login)


def decisions(bot: Bot, repo: str, number: int) -> list[dict[str, Any]]:
    return [
        a for a in bot.store().actions_for(f"{ORG}/{repo}", number) if a["action"] == "decision"
    ]


def test_new_issue_gets_the_models_label_once(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, bot)
    issue = fake.add_issue(ORG, repo, title="Crash on save", body="Traceback ...")
    payload = opened("issues.opened", "issue", repo, issue.number)
    assert bot.deliver("issues", payload)[0] == 202
    wait_for(lambda: fake.labels_on(ORG, repo, issue.number), timeout=90)
    assert bot.deliver("issues", payload)[0] == 202  # a second delivery changes nothing
    bot.drain(redis_url)
    assert fake.labels_on(ORG, repo, issue.number) == ["bug"]
    assert len(fake.calls("POST", rf"/repos/{ORG}/{repo}/issues/\d+/labels")) == 1
    (decision,) = decisions(bot, repo, issue.number)
    assert decision["detail"]["applied"] == ["bug"] and decision["detail"]["source"] == "model"
    assert fake.comment_bodies(ORG, repo, issue.number) == [] or all(
        "steward:triage" not in c for c in fake.comment_bodies(ORG, repo, issue.number)
    )


@pytest.mark.parametrize(
    "config",
    [
        "triage:\n  enabled: false\n",
        "triage:\n  issues: false\n",
        "triage:\n  allow: [question]\n",
        "triage:\n  deny: [bug]\n",
        "triage:\n  min_confidence: {bug: 1.5}\n",
    ],
)
def test_config_can_say_no(bot: Bot, fake: FakeGitHub, redis_url: str, config: str) -> None:
    repo = new_repo(fake, bot, config=config)
    issue = fake.add_issue(ORG, repo, title="Crash on save")
    assert bot.deliver("issues", opened("issues.opened", "issue", repo, issue.number))[0] == 202
    bot.drain(redis_url)
    assert fake.labels_on(ORG, repo, issue.number) == []


def test_aliases_and_labels_that_do_not_exist(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, bot, config="triage:\n  aliases: {bug: documentation}\n")
    issue = fake.add_issue(ORG, repo, title="Typo in the docs")
    assert bot.deliver("issues", opened("issues.opened", "issue", repo, issue.number))[0] == 202
    wait_for(lambda: fake.labels_on(ORG, repo, issue.number), timeout=90)
    assert fake.labels_on(ORG, repo, issue.number) == ["documentation"]


def test_human_labels_win(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, bot)
    labelled = fake.add_issue(ORG, repo, title="Crash", labels=["question"])
    assert bot.deliver("issues", opened("issues.opened", "issue", repo, labelled.number))[0] == 202
    removed = fake.add_issue(ORG, repo, title="Crash again")
    fake.set_labels(fake.repo(ORG, repo), removed, ["bug"], actor="maintainer")
    fake.set_labels(fake.repo(ORG, repo), removed, [], actor="maintainer")
    assert bot.deliver("issues", opened("issues.opened", "issue", repo, removed.number))[0] == 202
    bot.drain(redis_url)
    assert fake.labels_on(ORG, repo, labelled.number) == ["question"]
    assert fake.labels_on(ORG, repo, removed.number) == []


def test_pull_request_is_labelled_with_its_paths_read(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = new_repo(fake, bot)
    pull = fake.add_pull(ORG, repo, title="Fix crash", files=["src/save.py"], user="dev")
    payload = opened("pull_request.opened", "pull_request", repo, pull.number, login="dev")
    assert bot.deliver("pull_request", payload)[0] == 202
    wait_for(lambda: fake.labels_on(ORG, repo, pull.number), timeout=90)
    assert fake.labels_on(ORG, repo, pull.number) == ["bug"]
    assert fake.calls("GET", rf"/repos/{ORG}/{repo}/pulls/{pull.number}/files")


def test_discussion_is_labelled_through_graphql(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, bot)
    discussion = fake.add_discussion(ORG, repo, title="It crashes", author="asker")
    payload = opened("discussion.created", "discussion", repo, discussion.number, login="asker")
    payload["discussion"]["node_id"] = discussion.node_id
    assert bot.deliver("discussion", payload)[0] == 202
    wait_for(lambda: fake.discussion(ORG, repo, discussion.number).labels, timeout=90)
    assert fake.discussion(ORG, repo, discussion.number).labels == ["bug"]


def test_shadow_mode_records_what_it_would_do(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, bot, config="mode: shadow\n")
    issue = fake.add_issue(ORG, repo, title="Crash")
    assert bot.deliver("issues", opened("issues.opened", "issue", repo, issue.number))[0] == 202
    bot.drain(redis_url)
    assert fake.labels_on(ORG, repo, issue.number) == []
    (decision,) = decisions(bot, repo, issue.number)
    assert decision["mode"] == "shadow" and decision["detail"]["applied"] == ["bug"]

    # A maintainer labels it by hand: shadow precision can now be judged.
    labeled = retarget(example("issues.labeled"), owner=ORG, repo=repo)
    labeled["issue"]["number"] = issue.number
    labeled["label"]["name"] = "bug"
    labeled["sender"] = {"login": "maintainer", "type": "User", "id": 3}
    assert bot.deliver("issues", labeled)[0] == 202
    bot.drain(redis_url)
    from workers.triage.live_eval import live_precision

    store = bot.store()
    result = live_precision(decisions(bot, repo, issue.number), store.feedback_for(f"{ORG}/{repo}"))
    assert result["shadow_precision"] == 1.0 and result["shadow_judged"] == 1


def test_explain_comment_when_asked(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, bot, config="triage:\n  explain: true\nwelcome:\n  enabled: false\n")
    issue = fake.add_issue(ORG, repo, title="Crash")
    assert bot.deliver("issues", opened("issues.opened", "issue", repo, issue.number))[0] == 202
    wait_for(lambda: fake.comment_bodies(ORG, repo, issue.number), timeout=90)
    (comment,) = fake.comment_bodies(ORG, repo, issue.number)
    assert "`bug`" in comment and "steward:triage" in comment


def labeled(repo: str, number: int, label: str, *, added: bool) -> dict[str, Any]:
    """A maintainer's ``issues.labeled`` / ``issues.unlabeled`` delivery."""
    payload = retarget(
        example("issues.labeled" if added else "issues.unlabeled"), owner=ORG, repo=repo
    )
    payload["issue"]["number"] = number
    payload["label"]["name"] = label
    payload["sender"] = {"login": "maintainer", "type": "User", "id": 3}
    return payload


def gate(bot: Bot, repo: str, label: str) -> dict[str, Any] | None:
    """The label's gate row for issues in the bot's database."""
    rows = [r for r in bot.store().gates_for(f"{ORG}/{repo}", "issue") if r["label"] == label]
    return rows[0] if rows else None


def feedback_done(bot: Bot) -> int:
    """Feedback tasks the worker has finished (each re-judges the label's gate); the bot
    is shared by the module's tests, so a test counts from what it found at its start."""
    log = (bot.data_dir / "worker.log").read_text(errors="replace")
    return sum(
        "Task steward.feedback[" in line and "succeeded" in line for line in log.splitlines()
    )


@pytest.mark.slow
def test_day_one(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    """Install → bootstrap (backfill, taxonomy, gate) → shadow → promoted once people
    confirm it → applied live → demoted when people remove it.
    """
    from datetime import UTC, datetime, timedelta

    repo = unique("dayone")
    config = "triage:\n  precision: 0.8\n  min_support: 5\nwelcome:\n  enabled: false\n"
    fake.add_repo(
        ORG, repo, labels=["bug", "enhancement", "duplicate"], files={".github/steward.yml": config}
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(6):
        for k, (title, label) in enumerate(((BUG, "bug"), (WISH, "enhancement"))):
            fake.add_issue(
                ORG,
                repo,
                title=title.format(THINGS[i]),
                labels=[label],
                state="closed",
                created_at=start + timedelta(hours=2 * i + k),
            )
    fake.add_issue(ORG, repo, title=BUG.format("tags"), labels=["duplicate"], state="closed")
    added = example("installation_repositories.added")
    added["installation"]["id"] = 777
    added["installation"]["account"]["login"] = ORG
    added["repositories_added"] = [{"id": 4242, "full_name": f"{ORG}/{repo}", "name": repo}]
    assert bot.deliver("installation_repositories", added)[0] == 202

    wait_for(lambda: bot.store().profile_for(f"{ORG}/{repo}"), timeout=180)
    assert gate(bot, repo, "duplicate") is None  # a status label: never a candidate
    assert not gate(bot, repo, "bug")["live"]  # measured on too few of the newest items

    def triage(title: str) -> int:
        issue = fake.add_issue(ORG, repo, title=title)
        assert bot.deliver("issues", opened("issues.opened", "issue", repo, issue.number))[0] == 202
        wait_for(lambda: decisions(bot, repo, issue.number), timeout=120)
        return issue.number

    # earlier tests' feedback on this bot finished while the bootstrap ran
    earlier = feedback_done(bot)
    # shadow: decided, recorded, not applied; people agree, one decision at a time, until
    # the evidence's lower bound (the history's six and people's) reaches 0.8
    for confirmed, thing in enumerate(THINGS[6:18], start=1):
        number = triage(BUG.format(thing))
        assert fake.labels_on(ORG, repo, number) == []
        assert decisions(bot, repo, number)[0]["detail"]["shadow"] == ["bug"]
        fake.set_labels(
            fake.repo(ORG, repo), fake.issue(ORG, repo, number), ["bug"], actor="maintainer"
        )
        assert bot.deliver("issues", labeled(repo, number, "bug", added=True))[0] == 202
        wait_for(lambda n=confirmed: feedback_done(bot) == earlier + n)  # re-judged with it
        if gate(bot, repo, "bug")["live"]:
            break
    assert gate(bot, repo, "bug")["gate"]["reason"].startswith("promoted")
    assert confirmed >= 5  # more than the old point estimate needed

    live = [triage(BUG.format(f"page {i}")) for i in range(5)]
    assert all(fake.labels_on(ORG, repo, n) == ["bug"] for n in live)
    fake.set_labels(fake.repo(ORG, repo), fake.issue(ORG, repo, live[0]), [], actor="maintainer")
    assert bot.deliver("issues", labeled(repo, live[0], "bug", added=False))[0] == 202
    wait_for(lambda: not gate(bot, repo, "bug")["live"], timeout=60)
    assert gate(bot, repo, "bug")["gate"]["reason"].startswith("demoted")
    after = triage(BUG.format("the printer"))
    assert fake.labels_on(ORG, repo, after) == []


@pytest.mark.parametrize(("setting", "labelled"), [("label", True), ("suggest", False)])
def test_good_first_issue_detector(
    bot: Bot, fake: FakeGitHub, redis_url: str, setting: str, labelled: bool
) -> None:
    repo = new_repo(fake, bot, config=f"triage:\n  good_first_issue: {setting}\n")
    fake.add_label(ORG, repo, "good first issue")
    issue = fake.add_issue(
        ORG,
        repo,
        title="Typo in README",
        body="The README.md says 'recieve' in the install section; it should say 'receive'.",
    )
    assert bot.deliver("issues", opened("issues.opened", "issue", repo, issue.number))[0] == 202
    wait_for(lambda: decisions(bot, repo, issue.number), timeout=90)
    bot.drain(redis_url)
    (decision,) = decisions(bot, repo, issue.number)
    assert decision["detail"]["good_first_issue"] == "good first issue"
    assert ("good first issue" in fake.labels_on(ORG, repo, issue.number)) is labelled
