"""The weekly digest, in-process, against the checked fake.

Each test gives a fresh repository a ``digest`` config, registers it as active in the
store with a first response or two (so the numbers are not empty), runs the scheduled
``run_digest`` at a given moment and each ``steward.digest_repo`` it queued, and reads
what the fake holds: how many digest posts, their bodies and states, and which writes
were sent. Moments are near the real time, as the fake stamps what it creates with its
own clock (the issue list's ``since`` filter compares against it).
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.store import ItemFact
from core.tasks import DIGEST_REPO, DigestArgs
from fakegithub.state import Discussion, Issue
from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG
from workers.digest import decide
from workers.digest.flow import preview, run_digest, run_digest_repo

NOW = datetime.now(UTC)
NEXT_WEEK = NOW + timedelta(days=7)
BOT = "steward[bot]"
ISSUE = "digest:\n  issue: true\n"
DISCUSSION = "digest:\n  discussion: Announcements\n"
_ids = itertools.count(9_000_000)


def setup(flows: Flows, config: str) -> str:
    """A repository with ``config``, active in the store, with one item opened this week."""
    repo = flows.new_repo("digest", config=config)
    flows.store.add_repositories(INSTALLATION_ID, [(next(_ids), f"{ORG}/{repo}")])
    opened(flows, repo, 1)
    return repo


def opened(flows: Flows, repo: str, number: int) -> None:
    """Record an item opened an hour before ``NOW`` and answered half an hour later (the
    digest's numbers change; nothing waits, so they stay put between runs).
    """
    fact = ItemFact(
        repo=f"{ORG}/{repo}",
        number=number,
        kind="issue",
        installation_id=INSTALLATION_ID,
        author="dave",
        opened_at=NOW - timedelta(hours=1),
        responder="maintainer",
        responded_at=NOW - timedelta(minutes=30),
    )
    flows.store.note_item(fact)


async def run(flows: Flows, when: datetime = NOW) -> dict[str, Any]:
    """One digest run at ``when``: the scheduled task, then each repository's task it
    queued; ``{"digest": ...}`` of them all."""
    await flows.run(run_digest, DigestArgs(now=when.isoformat()))
    found: dict[str, Any] = {}
    for result in await flows.drain(DIGEST_REPO, run_digest_repo):
        found.update(result["digest"])
    return {"digest": found}


def digest_issues(flows: Flows, repo: str) -> list[Issue]:
    """The repository's issues that carry any digest marker."""
    issues = flows.fake.repo(ORG, repo).issues.values()
    return [i for i in issues if "<!-- steward:digest " in (i.body or "")]


def digest_discussions(flows: Flows, repo: str) -> list[Discussion]:
    """The repository's discussions that carry any digest marker."""
    found = flows.fake.repo(ORG, repo).discussions.values()
    return [d for d in found if "<!-- steward:digest " in (d.body or "")]


def records(flows: Flows, repo: str) -> dict[str, dict[str, Any]]:
    """The digest's audit-log rows of the repository, by key."""
    rows = flows.store.actions_for(f"{ORG}/{repo}")
    return {r["effect_key"]: r for r in rows if r["feature"] == "digest"}


def key(repo: str, where: str, when: datetime = NOW, *, live: bool = True) -> str:
    """The audit-log key of the week's post."""
    return decide.effect_key(f"{ORG}/{repo}", decide.week_of(when), where, live=live)


def issue_calls(flows: Flows, repo: str, method: str, *, since: int = 0) -> list[Any]:
    """REST calls of ``method`` (``*``: any) to the repository's issues after ``since``."""
    return flows.requests(method, rf"^/repos/{ORG}/{repo}/issues(/\d+)?$", since=since)


async def test_issue_mode_opens_one_issue_and_edits_it_in_place(flows: Flows) -> None:
    repo = setup(flows, ISSUE)
    first = await run(flows)

    (issue,) = digest_issues(flows, repo)
    assert first["digest"][f"{ORG}/{repo}"] == {"issue": f"opened #{issue.number}"}
    assert issue.user == BOT and issue.state == "open"
    assert issue.title == decide.title(f"{ORG}/{repo}", decide.week_of(NOW))
    assert issue.body == preview(flows.store, f"{ORG}/{repo}", now=NOW)
    assert "- Opened this week: 1" in issue.body
    assert records(flows, repo)[key(repo, "issue")]["detail"]["number"] == issue.number
    assert len(issue_calls(flows, repo, "POST")) == 1

    mark = flows.mark()
    unchanged = await run(flows, NOW + timedelta(minutes=5))
    assert unchanged["digest"][f"{ORG}/{repo}"] == {"issue": f"#{issue.number} unchanged"}
    assert issue_calls(flows, repo, "GET", since=mark) != []  # it did read the issue
    assert flows.writes(repo)[-1].method == "POST"  # no write since the first run
    assert issue_calls(flows, repo, "PATCH", since=mark) == []

    opened(flows, repo, 2)
    mark = flows.mark()
    edited = await run(flows, NOW + timedelta(minutes=10))
    assert edited["digest"][f"{ORG}/{repo}"] == {"issue": f"#{issue.number} edited"}
    (patch,) = issue_calls(flows, repo, "PATCH", since=mark)
    assert patch.path.endswith(f"/issues/{issue.number}")
    assert issue_calls(flows, repo, "POST", since=mark) == []
    (again,) = digest_issues(flows, repo)
    assert "- Opened this week: 2" in (again.body or "")


async def test_the_next_week_opens_a_new_issue_and_closes_the_last(flows: Flows) -> None:
    repo = setup(flows, ISSUE)
    await run(flows)
    (last,) = digest_issues(flows, repo)

    result = await run(flows, NEXT_WEEK)

    new = next(i for i in digest_issues(flows, repo) if i.number != last.number)
    assert result["digest"][f"{ORG}/{repo}"] == {"issue": f"opened #{new.number}"}
    assert len(digest_issues(flows, repo)) == 2
    assert flows.fake.issue(ORG, repo, last.number).state == "closed"
    assert new.state == "open"
    assert decide.marker(decide.week_of(NEXT_WEEK)) in (new.body or "")
    closed = records(flows, repo)[decide.close_key(f"{ORG}/{repo}", decide.week_of(NOW))]
    assert closed["detail"]["closed"] is True

    mark = flows.mark()
    await run(flows, NEXT_WEEK + timedelta(hours=6))  # closed once: not asked again
    assert flows.requests("*", rf"/issues/{last.number}$", since=mark) == []
    assert issue_calls(flows, repo, "PATCH", since=mark) == []


async def test_a_reopened_old_digest_is_left_open(flows: Flows) -> None:
    repo = setup(flows, ISSUE)
    await run(flows)
    (last,) = digest_issues(flows, repo)
    await run(flows, NEXT_WEEK)
    flows.fake.issue(ORG, repo, last.number).state = "open"  # a maintainer reopened it

    await run(flows, NEXT_WEEK + timedelta(hours=6))
    assert flows.fake.issue(ORG, repo, last.number).state == "open"


async def test_deleted_digests_are_left_deleted_and_the_run_goes_on(flows: Flows) -> None:
    """An admin deleted last week's issue (it is not closed, once, and the new week's
    issue is opened all the same) and this week's discussion (not started again)."""
    repo = setup(flows, "digest:\n  issue: true\n  discussion: Announcements\n")
    await run(flows)
    (last,) = digest_issues(flows, repo)
    (kept,) = digest_discussions(flows, repo)
    del flows.fake.repo(ORG, repo).issues[last.number]

    result = await run(flows, NEXT_WEEK)

    (new,) = digest_issues(flows, repo)
    started = next(d for d in digest_discussions(flows, repo) if d.number != kept.number)
    assert result["digest"][f"{ORG}/{repo}"] == {
        "issue": f"opened #{new.number}",
        "discussion": f"started #{started.number}",
    }
    closed = records(flows, repo)[decide.close_key(f"{ORG}/{repo}", decide.week_of(NOW))]
    assert closed["detail"]["closed"] is False and closed["detail"]["gone"] == "GitHub answered 404"
    del flows.fake.repo(ORG, repo).discussions[started.number]
    mark, made = flows.mark(), len(flows.mutations())

    again = await run(flows, NEXT_WEEK + timedelta(hours=6))

    gone = f"#{started.number} is gone (GitHub's GraphQL API answered NOT_FOUND)"
    assert again["digest"][f"{ORG}/{repo}"] == {
        "issue": f"#{new.number} unchanged",
        "discussion": f"{gone}: not posted again this week",
    }
    assert flows.mutations()[made:] == []  # nothing started again
    assert flows.requests("*", rf"/issues/{last.number}$", since=mark) == []  # asked once
    assert [d.number for d in digest_discussions(flows, repo)] == [kept.number]


async def test_an_old_digest_a_person_closed_is_not_closed_again(flows: Flows) -> None:
    repo = setup(flows, ISSUE)
    await run(flows)
    (last,) = digest_issues(flows, repo)
    flows.fake.issue(ORG, repo, last.number).state = "closed"
    mark = flows.mark()

    await run(flows, NEXT_WEEK)

    patches = issue_calls(flows, repo, "PATCH", since=mark)
    assert [p.path for p in patches if p.path.endswith(f"/issues/{last.number}")] == []
    closed = records(flows, repo)[decide.close_key(f"{ORG}/{repo}", decide.week_of(NOW))]
    assert closed["detail"]["closed"] is False


@pytest.mark.parametrize("author", [BOT, "mallory"])
async def test_a_post_a_killed_run_made_is_adopted_not_repeated(flows: Flows, author: str) -> None:
    repo = setup(flows, ISSUE)
    week = decide.week_of(NOW)
    # The run that died had posted (older numbers) but never recorded it.
    orphan = flows.fake.add_issue(
        ORG,
        repo,
        title=decide.title(f"{ORG}/{repo}", week),
        body=f"older numbers\n\n{decide.marker(week)}\n",
        user=author,
    )

    result = await run(flows)

    recorded = records(flows, repo)[key(repo, "issue")]["detail"]
    if author == BOT:
        assert result["digest"][f"{ORG}/{repo}"] == {"issue": f"adopted #{orphan.number} edited"}
        assert recorded["number"] == orphan.number and recorded["adopted"] is True
        assert issue_calls(flows, repo, "POST") == []
        assert flows.fake.issue(ORG, repo, orphan.number).body == preview(
            flows.store, f"{ORG}/{repo}", now=NOW
        )
    else:  # a person's issue that quotes the marker is never the bot's post
        assert recorded["number"] != orphan.number
        assert len(issue_calls(flows, repo, "POST")) == 1
        assert (flows.fake.issue(ORG, repo, orphan.number).body or "").startswith("older")


async def test_discussion_mode_starts_one_discussion_and_edits_it(flows: Flows) -> None:
    repo = setup(flows, DISCUSSION)
    first = await run(flows)

    (discussion,) = digest_discussions(flows, repo)
    assert first["digest"][f"{ORG}/{repo}"] == {"discussion": f"started #{discussion.number}"}
    assert discussion.category == "Announcements" and discussion.author == BOT
    assert discussion.title == decide.title(f"{ORG}/{repo}", decide.week_of(NOW))
    assert "- Opened this week: 1" in discussion.body
    assert len([m for m in flows.mutations() if "createDiscussion" in str(m.json)]) == 1
    assert flows.writes(repo) == [] and digest_issues(flows, repo) == []
    assert records(flows, repo)[key(repo, "discussion")]["detail"]["id"] == discussion.node_id

    mark = len(flows.mutations())
    await run(flows, NOW + timedelta(minutes=5))
    assert flows.mutations()[mark:] == []  # unchanged: no write

    opened(flows, repo, 2)
    result = await run(flows, NOW + timedelta(minutes=10))
    assert result["digest"][f"{ORG}/{repo}"] == {"discussion": f"#{discussion.number} edited"}
    (update,) = flows.mutations()[mark:]
    assert "updateDiscussion" in str(update.json)
    (again,) = digest_discussions(flows, repo)
    assert "- Opened this week: 2" in again.body


async def test_a_discussion_a_killed_run_made_is_adopted(flows: Flows) -> None:
    repo = setup(flows, DISCUSSION)
    week = decide.week_of(NOW)
    orphan = flows.fake.add_discussion(
        ORG,
        repo,
        title=decide.title(f"{ORG}/{repo}", week),
        body=f"older numbers\n\n{decide.marker(week)}\n",
        author=BOT,
        category="Announcements",
    )

    result = await run(flows)

    assert result["digest"][f"{ORG}/{repo}"] == {"discussion": f"adopted #{orphan.number} edited"}
    assert len(digest_discussions(flows, repo)) == 1
    assert not [m for m in flows.mutations() if "createDiscussion" in str(m.json)]
    assert "- Opened this week: 1" in orphan.body


async def test_an_unknown_category_posts_nothing_and_says_why(flows: Flows) -> None:
    repo = setup(flows, "digest:\n  discussion: Newsletter\n")
    result = await run(flows)

    assert result["digest"][f"{ORG}/{repo}"] == {"discussion": "category 'Newsletter' not found"}
    assert digest_discussions(flows, repo) == [] and flows.mutations() == []
    (row,) = records(flows, repo).values()
    assert row["action"] == "category_missing"
    assert row["detail"]["category"] == "Newsletter"
    assert "Announcements" in row["detail"]["known"]


async def test_both_places_at_once(flows: Flows) -> None:
    repo = setup(flows, "digest:\n  issue: true\n  discussion: announcements\n")
    result = await run(flows)

    (issue,) = digest_issues(flows, repo)
    (discussion,) = digest_discussions(flows, repo)
    assert result["digest"][f"{ORG}/{repo}"] == {
        "issue": f"opened #{issue.number}",
        "discussion": f"started #{discussion.number}",
    }
    assert issue.body == discussion.body


async def test_shadow_mode_records_and_writes_nothing(flows: Flows) -> None:
    repo = setup(flows, "mode: shadow\ndigest:\n  issue: true\n  discussion: Announcements\n")
    for when in (NOW, NOW + timedelta(hours=6)):
        result = await run(flows, when)
        shadow = {"issue": "recorded (shadow)", "discussion": "recorded (shadow)"}
        assert result["digest"][f"{ORG}/{repo}"] == shadow

    assert flows.writes(repo) == [] and flows.mutations() == []
    assert digest_issues(flows, repo) == [] and digest_discussions(flows, repo) == []
    found = records(flows, repo)
    assert set(found) == {key(repo, w, live=False) for w in ("issue", "discussion")}
    assert {r["mode"] for r in found.values()} == {"shadow"}


@pytest.mark.parametrize(
    "config", ["", "digest:\n  issue: false\n", "digest:\n  discussion: ''\n", "welcome: {}\n"]
)
async def test_off_fetches_nothing_beyond_the_config(flows: Flows, config: str) -> None:
    repo = setup(flows, config)
    result = await run(flows)

    assert result == {"digest": {}}
    paths = {r.path for r in flows.requests()}
    assert paths and all(re.search(r"/contents/|/access_tokens$", p) for p in paths), paths
    assert records(flows, repo) == {}


async def test_preview_prints_what_the_bot_would_post(
    flows: Flows,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli import main

    repo = setup(flows, ISSUE)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)  # the flows' store
    mark = flows.mark()

    assert main(["digest", "preview", "--repo", f"{ORG}/{repo}".upper()]) == 0
    out = capsys.readouterr().out
    assert out == preview(flows.store, f"{ORG}/{repo}", now=datetime.now(UTC))
    assert "- Opened this week: 1" in out
    assert flows.requests(since=mark) == []  # the store only
    assert main(["digest", "preview", "--repo", "no-slash"]) == 2
    assert main(["digest", "preview", "--repo", f"{ORG}/{repo}", "--now", "soon"]) == 2
