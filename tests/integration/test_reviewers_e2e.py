"""End to end: review history backfilled on installation, reviewers for new pull requests,
people for new issues, and good first issues in a newcomer's welcome."""

from __future__ import annotations

from typing import Any

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot
from tests.support import (
    ORG,
    example,
    newcomer_with_good_first_issues,
    opened,
    retarget,
    unique,
    wait_for,
    with_author,
)

pytestmark = pytest.mark.timeout(300)

WRITERS = {"alice": "write", "bob": "write", "erin": "write", "carol": "read"}


def store(bot: Bot) -> Any:
    return bot.store()


def repo_with_history(fake: FakeGitHub, bot: Bot, redis_url: str, config: str) -> str:
    """A repo whose merged history says: alice reviews http2, bob reviews docs."""
    name = unique("review")
    fake.add_repo(
        ORG, name, collaborators=WRITERS, files={".github/steward.yml": config} if config else {}
    )
    for i in range(6):
        pr = fake.add_pull(
            ORG,
            name,
            title=f"http2: fix {i}",
            user="erin",
            merged=True,
            files=["net/http2/transport.go", "net/http2/frame.go"],
        )
        fake.add_review(ORG, name, pr.number, user="alice")
    for i in range(4):
        pr = fake.add_pull(
            ORG, name, title=f"docs: {i}", user="erin", merged=True, files=["docs/index.md"]
        )
        fake.add_review(ORG, name, pr.number, user="bob")
    fake.add_pull(
        ORG, name, title="closed, not merged", user="erin", state="closed", files=["x.go"]
    )
    payload = example("installation_repositories.added")
    payload["installation"]["id"] = 777
    repo_id = fake.repo(ORG, name).id
    payload["repositories_added"] = [
        {
            "id": repo_id,
            "node_id": "R",
            "name": name,
            "full_name": f"{ORG}/{name}",
            "private": False,
        }
    ]
    assert bot.deliver("installation_repositories", payload)[0] == 202
    wait_for(lambda: len(store(bot).changes_for(f"{ORG}/{name}")) == 10, timeout=90)
    bot.drain(redis_url)
    return name


def pull_opened(fake: FakeGitHub, repo: str, author: str, files: list[str], **kw: Any) -> Any:
    pull = fake.add_pull(ORG, repo, title="http2: handle GOAWAY", user=author, files=files, **kw)
    payload = retarget(example("pull_request.opened"), owner=ORG, repo=repo)
    payload["pull_request"].update(number=pull.number, draft=bool(kw.get("draft")))
    return pull, with_author(payload, "pull_request", author, "CONTRIBUTOR")


def test_backfill_then_request_the_expert_never_the_author(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = repo_with_history(
        fake, bot, redis_url, "reviewers:\n  mode: request\n  count: 1\n  teams: [net-team]\n"
    )
    history = store(bot).changes_for(f"{ORG}/{repo}")
    assert {tuple(c["reviewers"]) for c in history} == {("alice",), ("bob",)}

    pull, payload = pull_opened(fake, repo, "dave", ["net/http2/transport.go"])
    assert bot.deliver("pull_request", payload)[0] == 202
    wait_for(lambda: fake.requested_reviewers(ORG, repo, pull.number), timeout=90)
    assert bot.deliver("pull_request", payload)[0] == 202  # again: nothing more
    bot.drain(redis_url)
    assert fake.requested_reviewers(ORG, repo, pull.number) == ["alice"]
    (request,) = fake.calls("POST", rf"/pulls/{pull.number}/requested_reviewers")
    assert request.json == {"reviewers": ["alice"], "team_reviewers": ["net-team"]}

    own, payload = pull_opened(fake, repo, "alice", ["net/http2/transport.go"])
    assert bot.deliver("pull_request", payload)[0] == 202
    wait_for(lambda: fake.requested_reviewers(ORG, repo, own.number), timeout=90)
    assert "alice" not in fake.requested_reviewers(ORG, repo, own.number)


def test_suggest_mode_comments_with_reasons(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = repo_with_history(fake, bot, redis_url, "reviewers:\n  mode: suggest\n  count: 2\n")
    pull, payload = pull_opened(fake, repo, "dave", ["docs/index.md"])
    assert bot.deliver("pull_request", payload)[0] == 202
    wait_for(lambda: fake.comment_bodies(ORG, repo, pull.number), timeout=90)
    bot.drain(redis_url)
    (comment,) = [c for c in fake.comment_bodies(ORG, repo, pull.number) if "reviewers" in c]
    assert comment.index("@bob") < comment.index("@alice")
    assert "docs/index.md" in comment or "docs" in comment
    assert fake.requested_reviewers(ORG, repo, pull.number) == []


def test_author_requested_reviewers_and_drafts_are_left_alone(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = repo_with_history(fake, bot, redis_url, "reviewers:\n  mode: request\n")
    chosen, payload = pull_opened(
        fake, repo, "dave", ["net/http2/transport.go"], requested_reviewers=["bob"]
    )
    assert bot.deliver("pull_request", payload)[0] == 202
    draft, draft_payload = pull_opened(fake, repo, "dave", ["net/http2/transport.go"], draft=True)
    assert bot.deliver("pull_request", draft_payload)[0] == 202  # welcome/triage, no reviewers
    bot.drain(redis_url)
    assert fake.requested_reviewers(ORG, repo, chosen.number) == ["bob"]
    assert fake.requested_reviewers(ORG, repo, draft.number) == []

    fake.repo(ORG, repo).issues[draft.number].pull.draft = False  # type: ignore[union-attr]
    ready = retarget(example("pull_request.ready_for_review"), owner=ORG, repo=repo)
    ready["pull_request"].update(number=draft.number, draft=False)
    with_author(ready, "pull_request", "dave", "CONTRIBUTOR")
    assert bot.deliver("pull_request", ready)[0] == 202
    wait_for(lambda: fake.requested_reviewers(ORG, repo, draft.number), timeout=90)
    assert fake.requested_reviewers(ORG, repo, draft.number)[0] == "alice"


def test_merged_pull_request_joins_the_history(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = repo_with_history(fake, bot, redis_url, "reviewers:\n  mode: 'off'\n")
    bug = fake.add_issue(ORG, repo, title="QUIC handshake times out", user="dave")
    pull = fake.add_pull(
        ORG,
        repo,
        title="quic",
        user="erin",
        merged=True,
        files=["quic/a.go"],
        body=f"Fixes #{bug.number}. Also see #999.",
    )
    fake.add_review(ORG, repo, pull.number, user="bob")
    closed = retarget(example("pull_request.closed"), owner=ORG, repo=repo)
    closed["pull_request"].update(number=pull.number, merged=True)
    closed["sender"] = {"login": "erin", "type": "User", "id": 1}
    assert bot.deliver("pull_request", closed)[0] == 202
    wait_for(lambda: len(store(bot).changes_for(f"{ORG}/{repo}")) == 11, timeout=90)
    newest = [c for c in store(bot).changes_for(f"{ORG}/{repo}") if c["id"] == str(pull.number)]
    assert newest[0]["reviewers"] == ["bob"] and newest[0]["files"] == ["quic/a.go"]
    assert newest[0]["fixes"] == [{"number": bug.number, "title": "QUIC handshake times out"}]


def test_people_for_a_new_issue_are_mentioned(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = repo_with_history(
        fake,
        bot,
        redis_url,
        "reviewers:\n  issues: mention\n  count: 1\nwelcome:\n  enabled: false\n",
    )
    issue = fake.add_issue(
        ORG,
        repo,
        title="http2 transport hangs",
        body="net/http2/transport.go never returns",
        user="dave",
    )
    assert bot.deliver("issues", opened("issues.opened", repo, issue.number, "dave"))[0] == 202
    wait_for(lambda: fake.comment_bodies(ORG, repo, issue.number), timeout=90)
    (comment,) = fake.comment_bodies(ORG, repo, issue.number)
    assert "@alice" in comment and "steward:people" in comment


def test_newcomer_welcome_lists_matching_good_first_issues(
    bot: Bot, fake: FakeGitHub, redis_url: str
) -> None:
    repo = unique("gfi")
    fake.add_repo(ORG, repo, files={".github/steward.yml": "welcome:\n  good_first_issues: 1\n"})
    mine = newcomer_with_good_first_issues(fake, repo)
    assert bot.deliver("issues", opened("issues.opened", repo, mine.number, "newbie"))[0] == 202
    wait_for(lambda: fake.comment_bodies(ORG, repo, mine.number), timeout=90)
    (welcome,) = fake.comment_bodies(ORG, repo, mine.number)
    assert "Fix typo in the HTTP/2 docs" in welcome
    assert "dark mode" not in welcome and "scheduler" not in welcome


def test_busy_and_opted_out_people_give_way(bot: Bot, fake: FakeGitHub, redis_url: str) -> None:
    repo = repo_with_history(fake, bot, redis_url, "reviewers:\n  mode: request\n  count: 1\n")
    for i in range(5):  # bob knows http2 too, a little less than alice
        pr = fake.add_pull(
            ORG,
            repo,
            title=f"http2: more {i}",
            user="erin",
            merged=True,
            files=["net/http2/transport.go"],
        )
        fake.add_review(ORG, repo, pr.number, user="bob")
        closed = retarget(example("pull_request.closed"), owner=ORG, repo=repo)
        closed["pull_request"].update(number=pr.number, merged=True)
        closed["sender"] = {"login": "erin", "type": "User", "id": 1}
        assert bot.deliver("pull_request", closed)[0] == 202
    wait_for(lambda: len(store(bot).changes_for(f"{ORG}/{repo}")) == 15, timeout=90)

    control, payload = pull_opened(fake, repo, "dave", ["net/http2/frame.go"])
    assert bot.deliver("pull_request", payload)[0] == 202
    wait_for(lambda: fake.requested_reviewers(ORG, repo, control.number), timeout=90)
    assert fake.requested_reviewers(ORG, repo, control.number) == ["alice"]

    fake.user("alice").busy = True
    busy_pull, payload = pull_opened(fake, repo, "dave", ["net/http2/frame.go"])
    assert bot.deliver("pull_request", payload)[0] == 202
    wait_for(lambda: fake.requested_reviewers(ORG, repo, busy_pull.number), timeout=90)
    fake.user("alice").busy = False
    assert fake.requested_reviewers(ORG, repo, busy_pull.number) == ["bob"]

    store(bot).set_opt_out("alice", True)
    try:
        pull, payload = pull_opened(fake, repo, "dave", ["net/http2/frame.go"])
        assert bot.deliver("pull_request", payload)[0] == 202
        wait_for(lambda: fake.requested_reviewers(ORG, repo, pull.number), timeout=90)
        assert fake.requested_reviewers(ORG, repo, pull.number) == ["bob"]
    finally:
        store(bot).set_opt_out("alice", False)
