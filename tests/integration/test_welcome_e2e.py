"""End to end: signed deliveries into ``steward serve``, real Celery workers, fake GitHub.

Each test uses its own repository so tests never see each other's effects.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot
from tests.support import (
    INSTALLATION_ID,
    ORG,
    example,
    opened,
    retarget,
    unique,
    wait_for,
    with_author,
)

pytestmark = pytest.mark.timeout(240)


def store(bot: Bot) -> Any:
    return bot.store()


def issue_payload(repo: str, number: int, login: str, association: str = "NONE") -> dict[str, Any]:
    return opened("issues.opened", repo, number, login, association)


def new_repo(fake: FakeGitHub, prefix: str, **files: str) -> str:
    name = unique(prefix)
    fake.add_repo(ORG, name, files={"CONTRIBUTING.md": "# How we work\n", **files})
    return name


def welcome_comments(fake: FakeGitHub, repo: str, number: int) -> list[str]:
    return [b for b in fake.comment_bodies(ORG, repo, number) if "steward:welcome" in b]


def test_first_issue_gets_exactly_one_welcome(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "first-issue")
    issue = fake.add_issue(ORG, repo, title="It crashes", user="newbie")
    payload = issue_payload(repo, issue.number, "newbie")
    delivery = str(uuid.uuid4())

    status, body = bot.deliver("issues", payload, delivery=delivery)
    assert status == 202, body
    wait_for(lambda: welcome_comments(fake, repo, issue.number), timeout=60)

    # A redelivery (same id) is acknowledged and not queued; a second delivery is a no-op.
    assert bot.deliver("issues", payload, delivery=delivery) == (200, {"duplicate": True})
    assert bot.deliver("issues", payload)[0] == 202
    bot.drain(redis_url)

    (comment,) = welcome_comments(fake, repo, issue.number)
    assert "@newbie" in comment and "CONTRIBUTING.md" in comment
    token_calls = fake.calls("POST", rf"/app/installations/{INSTALLATION_ID}/access_tokens")
    assert token_calls and all(c.status == 201 for c in token_calls)
    assert fake.calls("GET", rf"/repos/{ORG}/{repo}/contents/\.github/steward\.yml")
    assert store(bot).has_action(f"welcome:{ORG}/{repo}#{issue.number}:issue")


def test_regular_with_older_issue_on_a_later_page_is_not_welcomed(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = new_repo(fake, "regular")
    fake.add_issue(ORG, repo, title="my old issue", user="regular")
    for i in range(120):  # fills the first page of the author's items with pull requests
        fake.add_pull(ORG, repo, title=f"pr {i}", user="regular", files=["a.py"])
    issue = fake.add_issue(ORG, repo, title="another", user="regular")
    assert bot.deliver("issues", issue_payload(repo, issue.number, "regular"))[0] == 202
    bot.drain(redis_url)
    assert welcome_comments(fake, repo, issue.number) == []
    pages = fake.calls("GET", rf"/repos/{ORG}/{repo}/issues$")
    assert any(c.query.get("page") == "2" for c in pages), "only the first page was read"


@pytest.mark.parametrize(
    ("login", "association", "config"),
    [
        ("maintainer", "MEMBER", ""),
        ("owner-person", "OWNER", ""),
        ("newbie", "NONE", "welcome:\n  issue: false\n"),
        ("newbie", "NONE", "welcome:\n  enabled: false\n"),
    ],
)
def test_no_welcome(
    bot: Bot, fake: FakeGitHub, redis_url: str, login: str, association: str, config: str
) -> None:
    files = {".github/steward.yml": config} if config else {}
    repo = new_repo(fake, "skip", **files)
    issue = fake.add_issue(ORG, repo, title="t", user=login, author_association=association)
    assert bot.deliver("issues", issue_payload(repo, issue.number, login, association))[0] == 202
    bot.drain(redis_url)
    assert fake.comment_bodies(ORG, repo, issue.number) == []


def test_first_pull_request_and_first_merge(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "first-pr")
    pull = fake.add_pull(
        ORG,
        repo,
        title="Fix typo",
        user="newbie",
        files=["README.md"],
        author_association="FIRST_TIME_CONTRIBUTOR",
    )
    opened = retarget(example("pull_request.opened"), owner=ORG, repo=repo)
    opened["pull_request"]["number"] = pull.number
    with_author(opened, "pull_request", "newbie", "FIRST_TIME_CONTRIBUTOR")
    assert bot.deliver("pull_request", opened)[0] == 202
    wait_for(lambda: welcome_comments(fake, repo, pull.number), timeout=60)

    fake.repo(ORG, repo).issues[pull.number].pull.merged_at = fake.now()  # type: ignore[union-attr]
    closed = retarget(example("pull_request.closed"), owner=ORG, repo=repo)
    closed["pull_request"].update(number=pull.number, merged=True)
    with_author(closed, "pull_request", "newbie", "CONTRIBUTOR")
    closed["sender"] = {"login": "maintainer", "type": "User", "id": 9}
    assert bot.deliver("pull_request", closed)[0] == 202
    wait_for(lambda: len(welcome_comments(fake, repo, pull.number)) == 2, timeout=60)
    bot.drain(redis_url)
    kinds = sorted(
        c.split("steward:welcome:")[1].split(" ")[0]
        for c in welcome_comments(fake, repo, pull.number)
    )
    assert kinds == ["merged_pull_request", "pull_request"]


def test_first_discussion_through_graphql(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "discuss")
    discussion = fake.add_discussion(ORG, repo, title="How do I…?", author="curious")
    payload = retarget(example("discussion.created"), owner=ORG, repo=repo)
    payload["discussion"].update(number=discussion.number, node_id=discussion.node_id)
    with_author(payload, "discussion", "curious", "NONE")
    for _ in range(2):
        assert bot.deliver("discussion", payload)[0] == 202
    bot.drain(redis_url)
    comments = [c.body for c in fake.discussion_comments(ORG, repo, discussion.number)]
    assert len(comments) == 1 and "steward:welcome:discussion" in comments[0]


def test_org_config_with_extends_and_custom_template(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    if fake.find_repo(ORG, ".github") is None:
        fake.add_repo(ORG, ".github")
    fake.set_file(
        ORG,
        ".github",
        "shared/steward.yml",
        "welcome:\n  issue_message: 'Hello {{ author }}, from the shared file'\n",
    )
    repo = new_repo(
        fake,
        "extends",
        **{
            ".github/steward.yml": (
                "_extends: .github:shared/steward.yml\nwelcome:\n  pull_request: false\n"
            )
        },
    )
    issue = fake.add_issue(ORG, repo, title="t", user="friend")
    assert bot.deliver("issues", issue_payload(repo, issue.number, "friend"))[0] == 202
    wait_for(lambda: welcome_comments(fake, repo, issue.number), timeout=60)
    assert welcome_comments(fake, repo, issue.number)[0].startswith("Hello friend, from the shared")


def test_invalid_config_is_reported_once_and_defaults_apply(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = new_repo(fake, "broken", **{".github/steward.yml": "welcome: [unclosed\n"})
    first = fake.add_issue(ORG, repo, title="a", user="alice")
    second = fake.add_issue(ORG, repo, title="b", user="bob")
    for issue, login in ((first, "alice"), (second, "bob")):
        assert bot.deliver("issues", issue_payload(repo, issue.number, login))[0] == 202
    bot.drain(redis_url)
    reports = [i for i in fake.repo(ORG, repo).issues.values() if i.title.startswith("Steward:")]
    assert len(reports) == 1 and "not valid YAML" in (reports[0].body or "")
    assert welcome_comments(fake, repo, first.number) and welcome_comments(
        fake, repo, second.number
    )


def test_shadow_mode_writes_nothing_but_records(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "shadow", **{".github/steward.yml": "mode: shadow\n"})
    issue = fake.add_issue(ORG, repo, title="t", user="quiet")
    before = len([c for c in fake.requests if c.method in ("POST", "PATCH", "PUT", "DELETE")])
    assert bot.deliver("issues", issue_payload(repo, issue.number, "quiet"))[0] == 202
    bot.drain(redis_url)
    writes = [
        c
        for c in fake.requests
        if c.method in ("POST", "PATCH", "PUT", "DELETE")
        and "access_tokens" not in c.path
        and c.path != "/graphql"
    ]
    assert len(writes) == before or all(repo not in c.path for c in writes[before:])
    assert fake.comment_bodies(ORG, repo, issue.number) == []
    (action,) = store(bot).actions_for(f"{ORG}/{repo}", issue.number)
    assert action["mode"] == "shadow" and action["detail"]["posted"] is False


def test_github_5xx_and_rate_limits_are_retried_without_double_posting(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = new_repo(fake, "flaky")
    issue = fake.add_issue(ORG, repo, title="t", user="patient")
    fake.fail_next("POST", rf"/repos/{ORG}/{repo}/issues/\d+/comments$", status=502, times=2)
    fake.rate_limit_next("GET", rf"/repos/{ORG}/{repo}/issues$", reset_in=1)
    fake.secondary_rate_limit_next(
        "GET", rf"/repos/{ORG}/{repo}/issues/\d+/comments$", retry_after=1
    )
    assert bot.deliver("issues", issue_payload(repo, issue.number, "patient"))[0] == 202
    wait_for(lambda: welcome_comments(fake, repo, issue.number), timeout=90)
    bot.drain(redis_url)
    assert len(welcome_comments(fake, repo, issue.number)) == 1


def test_expired_token_is_refreshed(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "expiry")
    first = fake.add_issue(ORG, repo, title="a", user="early")
    assert bot.deliver("issues", issue_payload(repo, first.number, "early"))[0] == 202
    wait_for(lambda: welcome_comments(fake, repo, first.number), timeout=60)
    bot.drain(redis_url)  # every task of the first delivery has its tokens by now
    minted = len(fake.calls("POST", "/access_tokens"))
    fake.expire_tokens()  # the cached tokens are now refused with 401
    second = fake.add_issue(ORG, repo, title="b", user="late")
    assert bot.deliver("issues", issue_payload(repo, second.number, "late"))[0] == 202
    wait_for(lambda: welcome_comments(fake, repo, second.number), timeout=60)
    bot.drain(redis_url)
    # Each scope (the repository's token, the installation's read-only one for config)
    # is minted again once, whatever number of tasks and requests found it refused.
    scopes = [json.dumps(r.json, sort_keys=True) for r in fake.calls("POST", "/access_tokens")]
    again = scopes[minted:]
    assert again and len(again) == len(set(again))
    assert json.dumps({"repositories": [repo]}) in again


def test_bad_signatures_cause_no_github_call(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "unsigned")
    issue = fake.add_issue(ORG, repo, title="t", user="mallory")
    payload = issue_payload(repo, issue.number, "mallory")
    bot.drain(redis_url)  # earlier tests' tasks must not be counted
    before = len(fake.requests)
    assert bot.deliver("issues", payload, secret="wrong")[0] == 401
    assert bot.deliver("issues", payload, headers={"X-Hub-Signature-256": ""})[0] == 401
    # Signed but not JSON: accepted at the edge (202), refused by the route task.
    assert bot.deliver("issues", b"{broken")[0] == 202
    # Nothing is queued for a refused signature, and the route task of the broken body
    # queues nothing; the drained queue (nothing waiting, nothing in flight) shows that
    # no task was left to make a call.
    bot.drain(redis_url)
    assert len(fake.requests) == before


def test_worker_killed_mid_task_is_rerun_exactly_once(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = new_repo(fake, "killed")
    issue = fake.add_issue(ORG, repo, title="t", user="survivor")
    # The task blocks inside a rate-limit wait; the worker is killed there.
    fake.rate_limit_next("GET", rf"/repos/{ORG}/{repo}/issues$", reset_in=25)
    assert bot.deliver("issues", issue_payload(repo, issue.number, "survivor"))[0] == 202
    wait_for(lambda: fake.calls("GET", rf"/repos/{ORG}/{repo}/issues$"), timeout=30)
    bot.kill_workers()
    bot.start_worker()
    wait_for(lambda: welcome_comments(fake, repo, issue.number), timeout=90)
    bot.drain(redis_url)
    assert len(welcome_comments(fake, repo, issue.number)) == 1


def test_installation_events_are_recorded(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    payload = example("installation.created")
    payload["installation"]["id"] = 31337
    assert bot.deliver("installation", payload)[0] == 202
    bot.drain(redis_url)
    row = store(bot).installation(31337)
    assert row and row["account_login"] == payload["installation"]["account"]["login"]
    names = [r["full_name"] for r in payload["repositories"]]
    assert store(bot).active_repositories(31337) == sorted(names)


def test_data_dir_is_used(bot: Bot) -> None:
    assert (Path(bot.data_dir) / "steward.db").exists()


def test_human_removing_a_bot_label_is_recorded_as_feedback(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    from core.store import ActionRecord
    from workers.gates import label_effect_key

    repo = new_repo(fake, "feedback")
    full = f"{ORG}/{repo}"
    store(bot).record_action(
        ActionRecord(
            label_effect_key(full, 5, "bug"),
            full,
            "triage",
            "label",
            number=5,
            detail={"label": "bug"},
        )
    )
    removed = retarget(example("issues.unlabeled"), owner=ORG, repo=repo)
    removed["issue"]["number"] = 5
    removed["label"]["name"] = "bug"
    removed["sender"] = {"login": "maintainer", "type": "User", "id": 3}
    assert bot.deliver("issues", removed)[0] == 202
    bot.drain(redis_url)
    rows = store(bot).feedback_for(full)
    assert [(r["kind"], r["subject"], r["actor"]) for r in rows] == [
        ("label_removed", "bug", "maintainer")
    ]


def test_config_reads_are_conditional_requests(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = new_repo(fake, "etag", **{".github/steward.yml": "welcome:\n  discussion: false\n"})
    for login in ("one", "two"):
        issue = fake.add_issue(ORG, repo, title="t", user=login)
        assert bot.deliver("issues", issue_payload(repo, issue.number, login))[0] == 202
        bot.drain(redis_url)
    reads = fake.calls("GET", rf"/repos/{ORG}/{repo}/contents/\.github/steward\.yml")
    assert reads[0].status == 200
    assert any(r.status == 304 and "if-none-match" in r.headers for r in reads[1:])
