"""``steward dataset collect``: the collector over real HTTP against the fake GitHub
(pagination, bot labels, PR files, resume, rate limits), then the command line once.
The pure record rules are in tests/unit/test_records.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.cli import main
from fakegithub.fake import FakeGitHub
from fakegithub.state import iso
from models.triage.data import load_dataset
from tests.support import APP_ID, INSTALLATION_ID, ORG, key_pair, unique
from tests.unit.test_records import TRICKY_BODY
from workers.collect import collect
from workers.github import GitHubClient, GitHubUnavailable
from workers.records import CollectQuery, ResumeMismatch, parse_since, state_path

pytestmark = pytest.mark.timeout(120)

BASE = datetime(2024, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------- against the fake


@pytest.fixture
def fake(fake_github: tuple[FakeGitHub, str]) -> Iterator[FakeGitHub]:
    github, _ = fake_github
    yield github
    assert github.violations == [], "the collector made calls GitHub's OpenAPI rejects"


class Sleeps:
    """An injectable sleep that records how long it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def gh(fake_github: tuple[FakeGitHub, str]) -> AsyncIterator[GitHubClient]:
    github, url = fake_github
    async with aiohttp.ClientSession() as session:
        yield GitHubClient(
            session,
            base_url=url,
            oauth_token=github.mint_token(INSTALLATION_ID),
            retries=1,
            sleep=Sleeps(),
        )


def populate(fake: FakeGitHub, count: int = 130) -> tuple[str, dict[int, list[str]]]:
    """A repository of ``count`` items (every fifth a PR) and the labels to expect.

    Items are oldest first an hour apart; #2, #5, #11 and #12 get labels from people
    and bots through the API, so their events say who applied what.
    """
    assert count >= 12
    name = unique("collect")
    fake.add_repo(ORG, name)
    repo = fake.repo(ORG, name)
    expected: dict[int, list[str]] = {}
    for i in range(count):
        when = BASE + timedelta(hours=i)
        labels = ["bug"] if i % 3 == 0 else []
        state = "closed" if i % 2 else "open"
        common: dict[str, Any] = {"labels": labels, "created_at": when, "state": state}
        if i % 5 == 4:
            files = [f"src/mod{i}.py", "README.md"] if i != 4 else [f"f{n}.py" for n in range(120)]
            made = fake.add_pull(
                ORG, name, title=f"PR {i}", body=f"body {i}", files=files, **common
            )
        else:
            made = fake.add_issue(ORG, name, title=f"Issue {i}", body=f"body {i}", **common)
        expected[made.number] = labels
    item = fake.issue(ORG, name, 2)  # a person's label plus one dependabot added later
    fake.set_labels(repo, item, ["enhancement"], "maintainer")
    fake.set_labels(repo, item, ["enhancement", "dependencies"], "dependabot[bot]")
    expected[2] = ["enhancement"]
    fake.set_labels(repo, fake.issue(ORG, name, 5), ["dependencies"], "renovate[bot]")  # a PR
    expected[5] = []
    fake.set_labels(repo, fake.issue(ORG, name, 11), ["triage-bug"], "steward[bot]")
    expected[11] = []
    docs = fake.issue(ORG, name, 12)  # the bot labelled it, a person re-applied it
    fake.set_labels(repo, docs, ["docs"], "steward[bot]")
    fake.set_labels(repo, docs, [], "alice")
    fake.set_labels(repo, docs, ["docs"], "alice")
    expected[12] = ["docs"]
    fake.issue(ORG, name, 2).body = TRICKY_BODY
    fake.issue(ORG, name, 3).body = None
    return name, expected


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_collects_issues_and_pulls_with_human_labels(
    fake: FakeGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    name, expected = populate(fake)
    out = tmp_path / "data.jsonl"

    result = await collect(gh, CollectQuery(f"{ORG}/{name}"), out, progress=False)

    records = read_jsonl(out)
    assert result.written == len(records) == 130 and result.complete
    assert [r["number"] for r in records] == list(range(1, 131))  # oldest first, no dupes
    assert {r["number"]: r["labels"] for r in records} == expected
    issue, pull = records[0], records[4]
    assert issue == {
        "repo": f"{ORG}/{name}",
        "number": 1,
        "kind": "issue",
        "title": "Issue 0",
        "body": "body 0",
        "labels": ["bug"],
        "created_at": "2024-01-01T00:00:00Z",
        "closed_at": None,
        "labelled_at": {},  # set when the issue was created: no labeled event
    }
    # #2 is closed; its kept label was applied through the API, so its time is known.
    enhancement = [e for e in fake.issue(ORG, name, 2).events if e.label == "enhancement"]
    assert records[1]["closed_at"] == "2024-01-01T01:00:00Z"
    assert records[1]["labelled_at"] == {"enhancement": iso(enhancement[-1].created_at)}
    reapplied = fake.issue(ORG, name, 12).events[-1]  # alice's, after the bot's
    assert records[11]["labelled_at"] == {"docs": iso(reapplied.created_at)}
    assert pull["kind"] == "pull_request" and pull["files"] == [f"f{n}.py" for n in range(120)]
    assert records[9]["files"] == ["src/mod9.py", "README.md"]
    assert records[1]["body"] == TRICKY_BODY and records[2]["body"] == ""
    assert all("files" not in r for r in records if r["kind"] == "issue")
    # Only labelled items cost an events call, only PRs a files call.
    events = {r.path for r in fake.calls("GET", rf"/{name}/issues/\d+/events$")}
    labelled = {n for n, item in fake.repo(ORG, name).issues.items() if item.labels}
    assert events == {f"/repos/{ORG}/{name}/issues/{n}/events" for n in labelled}
    files = {r.path for r in fake.calls("GET", rf"/{name}/pulls/\d+/files$")}
    assert len(files) == 26
    # The file loads as training data.
    assert len(load_dataset(out).items) == 130


async def test_csv_keeps_items_with_exactly_one_label(
    fake: FakeGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    name, expected = populate(fake, count=15)
    out = tmp_path / "data.csv"

    result = await collect(gh, CollectQuery(f"{ORG}/{name}", format="csv"), out, progress=False)

    items = load_dataset(out).items
    one_label = {n: labels for n, labels in expected.items() if len(labels) == 1}
    assert result.written == len(items) == len(one_label)
    assert [it.labels[0] for it in items] == [one_label[n][0] for n in sorted(one_label)]
    assert items[1].body == TRICKY_BODY  # #2: quotes, commas, CRLF survive the CSV


async def test_resume_after_a_page_limit_gives_the_same_file(
    fake: FakeGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    name, _ = populate(fake)
    query = CollectQuery(f"{ORG}/{name}")
    reference = tmp_path / "reference.jsonl"
    await collect(gh, query, reference, progress=False)
    out = tmp_path / "data.jsonl"

    first = await collect(gh, query, out, max_pages=1, progress=False)
    assert (first.written, first.complete) == (100, False)
    assert json.loads(state_path(out).read_text())["page"] == 1
    second = await collect(gh, query, out, progress=False, echo=lambda _: None)

    assert (second.new, second.written, second.complete) == (30, 130, True)
    assert out.read_bytes() == reference.read_bytes()


async def test_resume_after_github_fails_mid_page_and_a_torn_write(
    fake: FakeGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    name, _ = populate(fake)
    query = CollectQuery(f"{ORG}/{name}")
    reference = tmp_path / "reference.jsonl"
    await collect(gh, query, reference, progress=False)
    out = tmp_path / "data.jsonl"
    # #118 (page 2) is labelled: its events call fails past the client's retries.
    fake.fail_next("GET", rf"/{name}/issues/118/events$", status=502, times=2)

    with pytest.raises(GitHubUnavailable):
        await collect(gh, query, out, progress=False)
    assert len(read_jsonl(out)) == 117
    with out.open("a") as torn:  # as if killed between writing a line and its state
        torn.write('{"repo": "half a li')
    messages: list[str] = []
    result = await collect(gh, query, out, progress=False, echo=messages.append)

    assert result.complete and result.new == 13
    assert out.read_bytes() == reference.read_bytes()
    assert "resuming" in messages[0] and "page 2" in messages[0]


async def test_a_rerun_adds_only_new_items_and_respects_the_limit(
    fake: FakeGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    name, _ = populate(fake, count=12)
    query = CollectQuery(f"{ORG}/{name}")
    out = tmp_path / "data.jsonl"

    limited = await collect(gh, query, out, limit=5, progress=False)
    assert (limited.written, limited.complete) == (5, False)
    assert (await collect(gh, query, out, progress=False, echo=print)).written == 12
    fake.add_issue(ORG, name, title="Later", created_at=BASE + timedelta(days=30))
    again = await collect(gh, query, out, progress=False, echo=print)

    assert (again.new, again.written) == (1, 13)
    assert [r["number"] for r in read_jsonl(out)] == list(range(1, 14))
    with pytest.raises(ResumeMismatch):  # the same file for another query is refused
        await collect(gh, CollectQuery(f"{ORG}/{name}", state="open"), out, progress=False)


async def test_since_keeps_items_created_from_then(
    fake: FakeGitHub, gh: GitHubClient, tmp_path: Path
) -> None:
    name, _ = populate(fake, count=12)
    since = parse_since((BASE + timedelta(hours=6)).isoformat())
    out = tmp_path / "data.jsonl"

    await collect(gh, CollectQuery(f"{ORG}/{name}", since=since), out, progress=False)

    assert [r["number"] for r in read_jsonl(out)] == [7, 8, 9, 10, 11, 12]


async def test_survives_rate_limits(fake: FakeGitHub, gh: GitHubClient, tmp_path: Path) -> None:
    name, _ = populate(fake, count=12)
    # A primary limit longer than the client waits (→ RateLimited), then a short
    # secondary one on an events call that the client waits out itself.
    fake.rate_limit_next("GET", rf"/{name}/issues$", reset_in=600)
    fake.secondary_rate_limit_next("GET", rf"/{name}/issues/1/events$", retry_after=1)
    sleeps, messages = Sleeps(), []

    result = await collect(
        gh,
        CollectQuery(f"{ORG}/{name}"),
        tmp_path / "data.jsonl",
        progress=False,
        sleep=sleeps,
        echo=messages.append,
    )

    assert result.complete and result.written == 12
    assert len(sleeps.waits) == 1 and 590 <= sleeps.waits[0] <= 610
    assert "rate limit" in messages[0] and "re-run the same command" in messages[0]


async def test_unknown_repository_is_reported(gh: GitHubClient, tmp_path: Path) -> None:
    from workers.collect import RepoNotFound

    with pytest.raises(RepoNotFound, match="not found or is not accessible"):
        await collect(gh, CollectQuery(f"{ORG}/no-such-repo"), tmp_path / "x.jsonl")


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_github: Any) -> FakeGitHub:
    """A clean environment pointing at the fake (no .env, no App credentials)."""
    fake, url = fake_github
    for name in ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "GHE_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("STEWARD_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("GITHUB_API_URL", url)
    return fake


def test_cli_collects_with_a_token(
    cli_env: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name, expected = populate(cli_env, count=12)
    monkeypatch.setenv("GITHUB_TOKEN", cli_env.mint_token(INSTALLATION_ID))
    out = tmp_path / "data.jsonl"

    code = main(["dataset", "collect", "--repo", f"{ORG}/{name}", "--out", str(out)])

    assert code == 0
    assert {r["number"]: r["labels"] for r in read_jsonl(out)} == expected
    assert cli_env.violations == []


def test_cli_acts_as_the_app_installation(
    cli_env: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name, _ = populate(cli_env, count=12)
    monkeypatch.setenv("APP_ID", str(APP_ID))
    monkeypatch.setenv("PRIVATE_KEY", key_pair()[0])
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret")
    out = tmp_path / "data.csv"

    code = main(["dataset", "collect", "--repo", f"{ORG}/{name}", "--out", str(out)])

    assert code == 0 and out.read_text().startswith("repo,created_at,label,title,body")
    assert cli_env.calls("GET", rf"/repos/{ORG}/{name}/installation$")
    assert cli_env.violations == []


@pytest.mark.parametrize(
    ("token", "repo", "code", "message"),
    [
        (False, "octo-org/whatever", 2, "set GITHUB_TOKEN"),
        (True, "octo-org/no-such-repo", 1, "not found or is not accessible"),
        (True, "not-a-repo", 2, "owner/name"),
    ],
)
def test_cli_errors_say_what_to_do(
    cli_env: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    token: bool,
    repo: str,
    code: int,
    message: str,
) -> None:
    if token:
        monkeypatch.setenv("GITHUB_TOKEN", cli_env.mint_token(INSTALLATION_ID))

    result = main(["dataset", "collect", "--repo", repo, "--out", str(tmp_path / "x.jsonl")])

    assert result == code
    assert message in capsys.readouterr().err
