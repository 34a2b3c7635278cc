"""The history backfill through GraphQL (``workers/history.py``) against the fake GitHub:
the records the REST collector writes, a hundred items per query; resuming a stopped
walk without duplicates or gaps; later runs reading only what changed; and a repository
of thousands of labelled issues within 30 requests per 1,000 items with GitHub's limits
enforced and never reached; discussions a hundred per query, their labels people's
unless Steward's audit log says it applied them. The store's side runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from core.settings import load_settings
from core.store import Store, open_store
from core.stores.audit import ActionRecord
from fakegithub.fake import FakeGitHub
from fakegithub.limits import Limiter, Limits
from tests.integration.test_collect import BASE, populate, read_jsonl
from tests.support import INSTALLATION_ID, ORG, unique
from workers.budget import Budget, lane
from workers.collect import collect
from workers.github import GitHubClient
from workers.history import HistoryResult, Walk, labellers_inferred, refresh_history
from workers.records import CollectQuery

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def fake(fake_github: tuple[FakeGitHub, str]) -> Iterator[FakeGitHub]:
    github, _ = fake_github
    yield github
    assert github.violations == [], "the backfill made calls GitHub's OpenAPI rejects"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'steward.db'}")
    yield opened
    opened.engine.dispose()


@pytest.fixture
async def gh(fake_github: tuple[FakeGitHub, str]) -> AsyncIterator[GitHubClient]:
    github, url = fake_github
    async with aiohttp.ClientSession() as session:
        yield GitHubClient(
            session, base_url=url, oauth_token=github.mint_token(INSTALLATION_ID), retries=1
        )


def endpoint(fake: FakeGitHub) -> str:
    return f"{fake.urls.api}/graphql"


def graphql_since(fake: FakeGitHub, start: int) -> list[Any]:
    return [r for r in fake.requests[start:] if r.path == "/graphql"]


async def test_the_records_are_the_rest_collectors_at_a_hundred_items_a_query(
    fake: FakeGitHub, gh: GitHubClient, store: Store, tmp_path: Path
) -> None:
    name, expected = populate(fake)  # 130 items, bots' labels, a PR of 120 files
    out = tmp_path / "rest.jsonl"
    await collect(gh, CollectQuery(f"{ORG}/{name}"), out, progress=False)
    rest_requests = len(fake.calls("GET", rf"/repos/{ORG}/{name}/"))
    start = len(fake.requests)

    result = await refresh_history(gh, store, f"{ORG}/{name}", endpoint=endpoint(fake))

    records = store.history_records(f"{ORG}/{name}")
    assert records == read_jsonl(out)  # the same records, in the same order
    assert {r["number"]: r["labels"] for r in records} == expected
    # Issues: 104 in two pages; pull requests: 26 in one, and one more for the PR whose
    # 120 files do not fit in the first hundred; discussions: none, in one. The REST
    # collector made 77 requests.
    assert (result.written, result.new, result.queries) == (130, 130, 5)
    assert len(graphql_since(fake, start)) == 5 and len(fake.requests) == start + 5
    assert rest_requests == 77
    assert result.points == 2 + 2 + 3 + 1 + 1
    issues = store.history_records(f"{ORG}/{name}", kind="issue")
    assert len(issues) == 104 and all(r["kind"] == "issue" for r in issues)


class FailingAfter(GitHubClient):
    """A client whose GraphQL queries fail once ``budget`` of them were made."""

    budget = 10**9

    async def graphql(self, query: str, **kwargs: Any) -> Any:
        if self.budget <= 0:
            raise ConnectionResetError("the worker was killed")
        self.budget -= 1
        return await super().graphql(query, **kwargs)


async def test_a_stopped_walk_resumes_where_it_stood(fake: FakeGitHub, store: Store) -> None:
    name, expected = populate(fake, count=45)
    full = f"{ORG}/{name}"
    async with aiohttp.ClientSession() as session:
        gh = FailingAfter(
            session, base_url=fake.urls.api, oauth_token=fake.mint_token(INSTALLATION_ID)
        )
        gh.budget = 2  # two pages of issues, then the worker dies
        with pytest.raises(ConnectionResetError):  # ten items a page: more pages to stop in
            await refresh_history(gh, store, full, endpoint=endpoint(fake), page=10)
        assert len(store.history_records(full)) == 20
        walk = Walk.from_json(store.history_state(full, "issue"))
        assert walk.running and walk.cursor is not None
        messages: list[str] = []
        gh.budget = 10**9
        start = len(fake.requests)
        again = await refresh_history(
            gh, store, full, endpoint=endpoint(fake), say=messages.append, page=10
        )

    # 36 issues: the two stored pages are not read again (two more pages), then the 9
    # pull requests in one page and the rest of #5's 120 files in one more, then an
    # empty page of discussions.
    assert (again.new, again.written, again.queries) == (25, 45, 5)
    assert len(graphql_since(fake, start)) == 5
    records = store.history_records(full)
    assert [r["number"] for r in records] == list(range(1, 46))  # each once, none missing
    assert {r["number"]: r["labels"] for r in records} == expected
    assert any("resuming" in m for m in messages)


async def test_a_later_run_reads_only_what_changed(
    fake: FakeGitHub, gh: GitHubClient, store: Store
) -> None:
    name = unique("changed")
    full = f"{ORG}/{name}"
    fake.add_repo(ORG, name)
    for i in range(40):
        when = BASE + timedelta(hours=i)
        fake.add_issue(ORG, name, title=f"Issue {i}", labels=["bug"], created_at=when)
    for _ in range(5):
        fake.add_pull(ORG, name, title="PR", files=["a.py"], created_at=BASE)
    await refresh_history(gh, store, full, endpoint=endpoint(fake))
    await asyncio.sleep(1.1)  # GitHub's times have one-second resolution
    repo = fake.repo(ORG, name)
    fake.set_labels(repo, fake.issue(ORG, name, 1), ["question"], "maintainer")  # corrected
    fake.set_labels(repo, fake.issue(ORG, name, 4), ["bug", "stale"], "stale[bot]")
    fake.add_issue(ORG, name, title="New", labels=["bug"])
    fake.add_pull(ORG, name, title="New PR", files=["x.py"])
    start = len(fake.requests)

    again = await refresh_history(gh, store, full, endpoint=endpoint(fake))

    # One query for the issues updated since, one for the pull requests newest first,
    # one for the discussions (none).
    assert (again.new, again.written, again.queries) == (2, 47, 3)
    assert len(fake.requests) == start + 3
    records = {r["number"]: r for r in store.history_records(full)}
    assert records[1]["labels"] == ["question"]
    assert records[4]["labels"] == ["bug"]  # the bot's label is not a person's
    assert records[46]["labels"] == ["bug"] and records[47]["files"] == ["x.py"]
    assert (await refresh_history(gh, store, full, endpoint=endpoint(fake))).new == 0


def test_the_store_keeps_one_row_per_item_and_the_walks_state(database_url: str) -> None:
    store = open_store(database_url)
    try:
        repo = "o/r"
        page = [
            {"repo": repo, "number": n, "kind": "issue", "labels": [], "created_at": f"2024-0{n}"}
            for n in (2, 1)
        ]
        assert store.save_history_page(repo, "issue", page, state={"cursor": "a"}) == 2
        changed = [
            {**page[0], "labels": ["bug"]},
            {**page[0], "number": 3, "created_at": "2024-03"},
        ]
        state = {"cursor": None, "mark": "2024-05-01T00:00:00Z"}
        assert store.save_history_page(repo, "issue", changed, state=state) == 1
        records = store.history_records(repo)
        assert [(r["number"], r["labels"]) for r in records] == [(1, []), (2, ["bug"]), (3, [])]
        assert store.history_state(repo, "issue") == state
        assert store.history_state(repo, "pull_request") is None
        assert store.history_records(repo, kind="pull_request") == []
        assert (store.history_count(repo), store.forget_history(repo)) == (3, 3)
        assert store.history_records(repo) == [] and store.history_state(repo, "issue") is None
    finally:
        store.engine.dispose()


# ------------------------------------------------------------- thousands of items


def big_repository(fake: FakeGitHub, account: str, *, issues: int, pulls: int) -> str:
    """``account/<name>``: ``issues`` labelled issues (a person re-labelled every tenth,
    a bot every 25th) and ``pulls`` labelled pull requests."""
    name = unique("big")
    fake.add_repo(account, name)
    repo = fake.repo(account, name)
    names = ("bug", "enhancement", "question", "documentation")
    for i in range(issues):
        made = fake.add_issue(
            account,
            name,
            title=f"Issue {i}",
            body="text " * 40,
            labels=[names[i % 4]],
            created_at=BASE + timedelta(minutes=i),
            state="closed",
        )
        if i % 10 == 0:
            fake.set_labels(repo, made, [names[(i + 1) % 4]], "maintainer")
        if i % 25 == 0:
            fake.set_labels(repo, made, [names[(i + 1) % 4], "stale"], "stale[bot]")
    for i in range(pulls):
        fake.add_pull(
            account,
            name,
            title=f"PR {i}",
            labels=[names[i % 2]],
            files=[f"src/m{i}.py"],
            created_at=BASE + timedelta(minutes=issues + i),
        )
    return f"{account}/{name}"


@pytest.fixture
def own_installation(fake: FakeGitHub, redis_url: str) -> Iterator[tuple[int, str]]:
    """An installation of its own on an account of its own (so its budget in Redis and
    its limits are nobody else's); removed afterwards."""
    installation = 900_000 + uuid.uuid4().int % 99_999
    account = unique("bulk-org")
    fake.add_installation(installation, account)
    yield installation, account
    fake.installations.pop(installation, None)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{Budget.key(installation)}*"))
    if keys:
        client.delete(*keys)


async def refresh_under_limits(
    fake: FakeGitHub, store: Store, full: str, redis_url: str, installation: int
) -> tuple[HistoryResult, Limiter]:
    """``refresh_history`` as a background task of ``installation`` does it: GitHub's
    limits enforced by the fake, the installation's budget in Redis; the result and the
    fake's limiter (its refusals)."""
    settings = load_settings(
        {"REDIS_URL": redis_url}, env_file=Path("/nonexistent"), receiver=False
    )
    client = redis.Redis.from_url(redis_url)
    with fake.limits_enforced(Limits()) as limiter, lane(client, settings, background=True):
        async with aiohttp.ClientSession() as session:
            gh = GitHubClient(
                session,
                base_url=fake.urls.api,
                oauth_token=fake.mint_token(installation),
                installation_id=installation,
            )
            return await refresh_history(gh, store, full, endpoint=endpoint(fake)), limiter


async def test_thousands_of_labelled_issues_within_30_requests_per_1000(
    fake: FakeGitHub, own_installation: tuple[int, str], store: Store, redis_url: str
) -> None:
    installation, account = own_installation
    full = big_repository(fake, account, issues=3000, pulls=150)
    client = redis.Redis.from_url(redis_url)
    start = len(fake.requests)
    result, limiter = await refresh_under_limits(fake, store, full, redis_url, installation)

    made = len(fake.requests) - start
    assert result.written == 3150 and made == result.queries
    assert made * 1000 / 3150 <= 30  # the target; here 10.5 per 1,000 items
    assert limiter.refusals == []
    records = {r["number"]: r for r in store.history_records(full)}
    assert records[1]["labels"] == ["enhancement"]  # i=0: a person's; the bot's "stale" dropped
    assert records[11]["labels"] == ["documentation"]  # i=10: a person relabelled it
    assert records[2]["labels"] == ["enhancement"]  # set at creation: kept
    # What GitHub said of the installation's GraphQL points is in the shared budget.
    state = client.hgetall(f"{Budget.key(installation)}:primary:graphql")
    assert int(state[b"remaining"]) == 5000 - result.points


# ------------------------------------------------------------------ discussions


def discussions_repository(fake: FakeGitHub, account: str, *, count: int) -> str:
    """``account/<name>`` with ``count`` discussions and no issues: every other one
    labelled ``question`` (a third of those also ``bug``), every fifth answered."""
    name = unique("talk")
    fake.add_repo(account, name)
    for i in range(count):
        labels = ["question", "bug"] if i % 6 == 0 else ["question"] if i % 2 == 0 else []
        made = fake.add_discussion(
            account,
            name,
            title=f"Discussion {i}",
            body="text " * 20,
            labels=labels,
            category="Q&A" if i % 2 == 0 else "Ideas",
            created_at=BASE + timedelta(minutes=i),
        )
        if i % 5 == 0:
            made.answer_chosen_at = BASE + timedelta(minutes=i, seconds=30)
    return f"{account}/{name}"


def discussion_queries(fake: FakeGitHub, start: int) -> list[Any]:
    return [r for r in graphql_since(fake, start) if "discussions(" in r.json["query"]]


async def test_250_discussions_in_three_queries_their_cost_in_the_budget(
    fake: FakeGitHub, own_installation: tuple[int, str], store: Store, redis_url: str
) -> None:
    installation, account = own_installation
    full = discussions_repository(fake, account, count=250)
    client = redis.Redis.from_url(redis_url)
    start = len(fake.requests)
    result, limiter = await refresh_under_limits(fake, store, full, redis_url, installation)

    assert len(discussion_queries(fake, start)) == 3  # 100 + 100 + 50
    # One (empty) page of issues and one of pull requests besides.
    assert result.queries == len(fake.requests) - start == 5
    assert (result.written, result.new) == (250, 250) and limiter.refusals == []
    # Each query's cost as its rateLimit said (GitHub's rule: the connections' requests
    # over 100): issues 2 (1 + 100 labels + 100 timelines), pull requests 3 (and 100
    # files), each page of discussions 1 (1 + 100 labels); and GitHub's count of what
    # is left in the installation's shared budget.
    assert result.points == 2 + 3 + 3 * 1
    state = client.hgetall(f"{Budget.key(installation)}:primary:graphql")
    assert int(state[b"remaining"]) == 5000 - result.points
    records = {r["number"]: r for r in store.history_records(full, kind="discussion")}
    assert len(records) == 250 and all(labellers_inferred(r) for r in records.values())
    assert records[1]["labels"] == ["question", "bug"] and records[2]["labels"] == []
    assert (records[1]["category"], records[2]["category"]) == ("Q&A", "Ideas")
    assert records[1]["answered"] and records[1]["answer_chosen_at"] == "2024-01-01T00:00:30Z"
    assert not records[2]["answered"] and records[2]["answer_chosen_at"] is None
    assert records[1]["author"] == "octocat" and records[1]["created_at"] == "2024-01-01T00:00:00Z"


async def test_a_stopped_discussion_walk_resumes_where_it_stood(
    fake: FakeGitHub, store: Store
) -> None:
    full = discussions_repository(fake, ORG, count=250)
    async with aiohttp.ClientSession() as session:
        gh = FailingAfter(
            session, base_url=fake.urls.api, oauth_token=fake.mint_token(INSTALLATION_ID)
        )
        gh.budget = 3  # issues, pull requests, one page of discussions; then it dies
        with pytest.raises(ConnectionResetError):
            await refresh_history(gh, store, full, endpoint=endpoint(fake))
        assert len(store.history_records(full)) == 100
        walk = Walk.from_json(store.history_state(full, "discussion"))
        assert walk.running and walk.cursor is not None
        gh.budget = 10**9
        start = len(fake.requests)
        again = await refresh_history(gh, store, full, endpoint=endpoint(fake))

    # The issues' and pull requests' finished walks read what changed since (nothing):
    # one query each; the discussions go on from the stored cursor: two pages.
    assert len(discussion_queries(fake, start)) == 2
    assert (again.new, again.written, again.queries) == (150, 250, 4)
    numbers = [r["number"] for r in store.history_records(full)]
    assert numbers == list(range(1, 251))  # each once, none missing


async def test_a_later_run_reads_only_the_discussions_that_changed(
    fake: FakeGitHub, gh: GitHubClient, store: Store
) -> None:
    full = discussions_repository(fake, ORG, count=150)
    owner, name = full.split("/")
    await refresh_history(gh, store, full, endpoint=endpoint(fake))
    await asyncio.sleep(1.1)  # GitHub's times have one-second resolution
    changed = fake.discussion(owner, name, 2)
    changed.labels, changed.updated_at = ["enhancement"], fake.now()
    fake.add_label(owner, name, "enhancement")
    fake.add_discussion(owner, name, title="New", labels=["question"])
    start = len(fake.requests)

    again = await refresh_history(gh, store, full, endpoint=endpoint(fake))

    # Newest update first, until one older than the last run's newest: one page.
    assert len(discussion_queries(fake, start)) == 1
    assert (again.new, again.written) == (1, 151)
    records = {r["number"]: r for r in store.history_records(full)}
    assert records[2]["labels"] == ["enhancement"] and records[151]["labels"] == ["question"]
    assert (await refresh_history(gh, store, full, endpoint=endpoint(fake))).new == 0


async def test_a_label_steward_applied_is_not_peoples(
    fake: FakeGitHub, gh: GitHubClient, store: Store
) -> None:
    full = discussions_repository(fake, ORG, count=3)
    owner, name = full.split("/")
    fake.discussion(owner, name, 3).labels = ["question", "bug"]

    def audit(key: str, label: str, mode: str, *, number: int = 3, feature: str = "triage") -> None:
        detail = {"label": label, "prob": 0.9}
        store.record_action(
            ActionRecord(key, full, feature, "label", number=number, detail=detail, mode=mode)
        )

    audit(f"triage:{full}#3:label:bug", "bug", "live")  # Steward applied bug on #3
    audit(f"triage:{full}#3:label:question", "question", "shadow")  # decided, not applied
    audit(f"triage:{full}#1:label:bug", "bug", "live", number=1)  # bug on #1 was Steward's
    audit(f"commands:{full}#3:label", "question", "live", feature="commands")  # a /label

    await refresh_history(gh, store, full, endpoint=endpoint(fake))

    records = {r["number"]: r for r in store.history_records(full)}
    assert records[3]["labels"] == ["question"] and records[3]["steward_labels"] == ["bug"]
    assert records[1]["labels"] == ["question"] and records[1]["steward_labels"] == ["bug"]
    assert records[2]["labels"] == [] and records[2]["steward_labels"] == []
    assert all(r["labelled_by"] == "inferred" for r in records.values())
