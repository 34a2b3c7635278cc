"""Work for returning contributors and the semantic index, in-process, with the real
base encoder (all-MiniLM-L6-v2, packaged) and the checked fake GitHub.

erin authored three merged http2 changes that alice reviewed; the backfill stores them.
The open issues are two about http2 streams, one about http2 taken by someone else, and
two about unrelated things. When erin's next http2 change is merged, the
``recommend`` flow comments once with the two open http2 issues and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from core.tasks import BackfillArgs, EmbedArgs, IndexArgs, PullArgs
from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG
from workers.matching.decide import RECOMMEND_MARKER
from workers.matching.flow import run_embed, run_index, run_recommend
from workers.reviewers.history import run_backfill

HTTP2 = ("net/http2/transport.go", "net/http2/flow.go")
PAST = (
    ("http2: send WINDOW_UPDATE after a stream is reset", "Flow control credit was lost."),
    ("http2: close idle streams when the server sends GOAWAY", "Streams leaked on GOAWAY."),
    ("http2: fix flow control accounting for padded DATA frames", "Padding was not counted."),
)
OPEN = {
    "window": ("http2: connection flow control window shrinks after RST_STREAM", ""),
    "goaway": ("http2: transport keeps using a connection after GOAWAY", "Streams hang."),
    "taken": ("http2: flow control window overflow on large DATA frames", ""),
    "docs": ("Typo in the README badge link", "The badge points to the old CI."),
    "ci": ("Publish release notes to the mailing list automatically", ""),
}
RECOMMEND_ON = "recommend:\n  after_merge: comment\n"


async def repo_with_work(flows: Flows, config: str) -> tuple[str, dict[str, int]]:
    """A repository with erin's backfilled history and the open issues above."""
    fake = flows.fake
    repo = flows.new_repo("work", config=config, collaborators={"alice": "write"})
    for title, body in PAST:
        pull = fake.add_pull(
            ORG, repo, title=title, body=body, user="erin", merged=True, files=HTTP2
        )
        fake.add_review(ORG, repo, pull.number, user="alice")
    backfill = BackfillArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)
    assert await flows.run(run_backfill, backfill) == {"backfilled": len(PAST)}
    numbers = {}
    for name, (title, body) in OPEN.items():
        numbers[name] = fake.add_issue(ORG, repo, title=title, body=body, user="zoe").number
    fake.user("zed")  # a known account, assigned to one of the issues
    fake.issue(ORG, repo, numbers["taken"]).assignees.append("zed")
    return repo, numbers


def merge(flows: Flows, repo: str, *, user: str, title: str) -> PullArgs:
    """A merged pull request and the recommend task's arguments for it."""
    pull = flows.fake.add_pull(ORG, repo, title=title, user=user, merged=True, files=HTTP2[:1])
    return PullArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=pull.number)


async def test_a_returning_contributor_gets_matching_open_issues_once(flows: Flows) -> None:
    repo, numbers = await repo_with_work(flows, RECOMMEND_ON)
    args = merge(flows, repo, user="erin", title="http2: reset flow control on stream errors")

    result = await flows.run(run_recommend, args)

    assert result["how"] == "comment"
    assert set(result["recommended"]) == {numbers["window"], numbers["goaway"]}
    (comment,) = [
        c for c in flows.fake.comment_bodies(ORG, repo, args.number) if RECOMMEND_MARKER in c
    ]
    assert "@erin" in comment and f"#{numbers['window']}" in comment
    assert f"#{numbers['taken']}" not in comment and f"#{numbers['docs']}" not in comment
    (row,) = flows.actions(repo, args.number)
    assert (row["feature"], row["action"]) == ("recommend", "comment")
    # A redelivery or a retry changes nothing.
    assert await flows.run(run_recommend, args) == {"skipped": "already done"}
    comments = flows.fake.comment_bodies(ORG, repo, args.number)
    assert sum(RECOMMEND_MARKER in c for c in comments) == 1


@dataclass(frozen=True)
class Skip:
    """A merge that gets no recommendation, and why."""

    name: str
    config: str
    user: str
    expected: str
    opted_out: bool = False


SKIPS = [
    Skip("off by default", "", "erin", "recommend.after_merge is off"),
    Skip("a first contribution", RECOMMEND_ON, "newbie", "a first contribution"),
    Skip("a bot", RECOMMEND_ON, "dependabot[bot]", "a bot or opted out"),
    Skip("opted out", RECOMMEND_ON, "erin", "a bot or opted out", opted_out=True),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in SKIPS])
async def test_merges_that_get_no_recommendation(flows: Flows, case: Skip) -> None:
    repo, _ = await repo_with_work(flows, case.config)
    flows.store.set_opt_out("erin", case.opted_out)
    args = merge(flows, repo, user=case.user, title="http2: fix flow control")

    result = await flows.run(run_recommend, args)

    assert result["skipped"].startswith(case.expected)
    assert flows.writes(repo) == []
    assert flows.actions(repo, args.number) == []


async def test_record_mode_writes_only_the_audit_log(flows: Flows) -> None:
    repo, numbers = await repo_with_work(flows, "recommend:\n  after_merge: record\n")
    args = merge(flows, repo, user="erin", title="http2: reset flow control on stream errors")

    result = await flows.run(run_recommend, args)

    assert result["how"] == "record" and numbers["window"] in result["recommended"]
    assert flows.writes(repo) == []


async def test_the_index_follows_items_and_the_encoder(flows: Flows) -> None:
    repo, numbers = await repo_with_work(flows, "")
    (queued,) = flows.queued("steward.index")
    args = IndexArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)
    assert queued["repo"] == repo

    result = await flows.run(run_index, args)

    assert result["indexed"] == len(PAST) + len(OPEN)
    tag = result["encoder"]
    stored = flows.store.vectors_for(f"{ORG}/{repo}", tag)
    assert len(stored) == len(PAST) + len(OPEN)
    vector = np.frombuffer(stored[f"issue:{numbers['docs']}"][1], dtype=np.float32)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4

    # An edit re-embeds that item only; an unchanged item keeps its row.
    flows.fake.issue(ORG, repo, numbers["docs"]).body = "The badge links to Travis, not Actions."
    embed = EmbedArgs(
        installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=numbers["docs"], kind="issue"
    )
    assert (await flows.run(run_embed, embed))["embedded"] == f"issue:{numbers['docs']}"
    after = flows.store.vectors_for(f"{ORG}/{repo}", tag)
    assert after[f"issue:{numbers['docs']}"][0] != stored[f"issue:{numbers['docs']}"][0]
    assert after[f"issue:{numbers['ci']}"] == stored[f"issue:{numbers['ci']}"]

    # Rows of another encoder are dropped by the next index run.
    flows.store.upsert_vectors(f"{ORG}/{repo}", "base:old-encoder", [("issue:1", "x", b"\0" * 8)])
    assert (await flows.run(run_index, args))["dropped"] == 1


async def test_people_suggest_prints_the_same_issues(
    flows: Flows, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``steward people suggest`` ranks with the flow's rule, acting as the App."""
    import asyncio
    import json

    from app.cli import main

    repo, numbers = await repo_with_work(flows, "")
    for name in ("GITHUB_TOKEN", "GHE_HOST", "PRIVATE_KEY_PATH", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEWARD_ENV_FILE", "/nonexistent.env")
    monkeypatch.setenv("GITHUB_API_URL", flows.settings.github_api_url)
    monkeypatch.setenv("APP_ID", str(flows.settings.app_id))
    monkeypatch.setenv("PRIVATE_KEY", str(flows.settings.private_key))
    monkeypatch.setenv("DATABASE_URL", str(flows.store.engine.url))
    argv = ["people", "suggest", "--login", "erin", "--repo", f"{ORG}/{repo}", "--json"]

    code = await asyncio.to_thread(main, argv)

    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {row["number"] for row in out["issues"]} == {numbers["window"], numbers["goaway"]}
    assert all(row["reason"] for row in out["issues"])


def test_people_suggest_without_credentials_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from app.cli import main

    for name in ("GITHUB_TOKEN", "APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEWARD_ENV_FILE", "/nonexistent.env")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/s.db")

    assert main(["people", "suggest", "--login", "erin", "--repo", "o/n"]) == 2
    assert "set GITHUB_TOKEN" in capsys.readouterr().err
    assert main(["people", "suggest", "--login", "erin"]) == 2
    assert "--repo owner/name" in capsys.readouterr().err
