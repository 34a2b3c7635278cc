"""The welcome flow in-process: every branch of ``run_welcome`` as a row of a table.

Each row builds a repository in the shared fake (the author's earlier items, the new
item, the config file), runs the flow once and checks three things: what the flow
returned, the welcome comments the fake holds, and the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from core.tasks import WelcomeArgs
from fakegithub.fake import FakeGitHub
from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG, newcomer_with_good_first_issues
from workers.welcome.decide import WelcomeKind, marker
from workers.welcome.flow import run_welcome

CONTRIBUTING = {"CONTRIBUTING.md": "# How we work\n"}


@dataclass(frozen=True)
class Item:
    """A new item in the fake: its number and (for discussions) its node id."""

    number: int
    node_id: str = ""


def add_item(fake: FakeGitHub, repo: str, what: str, author: str, association: str) -> Item:
    """Create an item of ``what`` (a welcome kind, or ``closed_pull`` / ``merged``)."""
    if what == "issue":
        issue = fake.add_issue(
            ORG, repo, title="It crashes", user=author, author_association=association
        )
        return Item(issue.number)
    if what == "discussion":
        discussion = fake.add_discussion(ORG, repo, title="How do I…?", author=author)
        return Item(discussion.number, discussion.node_id)
    pull = fake.add_pull(
        ORG,
        repo,
        title="Fix a typo",
        user=author,
        files=["README.md"],
        author_association=association,
        state="closed" if what == "closed_pull" else "open",
        merged=what in ("merged", "merged_pull_request"),
    )
    return Item(pull.number)


def welcome_args(repo: str, kind: str, item: Item, **author: str) -> WelcomeArgs:
    """The task's arguments, as the welcome route builds them from a delivery."""
    return WelcomeArgs(
        installation_id=INSTALLATION_ID,
        owner=ORG,
        repo=repo,
        number=item.number,
        kind=kind,
        node_id=item.node_id,
        delivery_id="delivery-1",
        **author,
    )


def welcomes(fake: FakeGitHub, repo: str, kind: str, number: int) -> list[str]:
    """Welcome comments (any welcome kind) on an item, oldest first."""
    if kind == "discussion":
        bodies = [c.body for c in fake.discussion_comments(ORG, repo, number)]
    else:
        bodies = fake.comment_bodies(ORG, repo, number)
    return [b for b in bodies if "steward:welcome" in b]


@dataclass(frozen=True)
class Case:
    """One branch of the welcome flow."""

    name: str
    expected: dict[str, Any]
    kind: str = "issue"
    author: str = "newbie"
    author_type: str = "User"
    association: str = "NONE"
    config: str = ""
    #: The author's earlier items: ``issue``, ``pull_request``, ``closed_pull``, ``merged``,
    #: ``discussion``.
    prior: tuple[str, ...] = ()
    #: Text the posted welcome contains.
    says: tuple[str, ...] = field(default=())


def posted(kind: str, mode: str = "live") -> dict[str, Any]:
    """The flow's answer when it welcomed (``posted`` only in live mode)."""
    return {"welcomed": kind, "posted": mode == "live", "mode": mode}


CASES = [
    Case(
        "first issue is welcomed",
        posted("issue"),
        says=("@newbie", "first issue", "CONTRIBUTING.md", marker("issue")),
    ),
    Case("second issue is not", {"skipped": "not a first-timer"}, prior=("issue",)),
    Case("an earlier pull request does not count", posted("issue"), prior=("pull_request",)),
    Case("member is skipped", {"skipped": "author is member"}, association="MEMBER"),
    Case("owner is skipped", {"skipped": "author is owner"}, association="OWNER"),
    Case(
        "collaborator is skipped", {"skipped": "author is collaborator"}, association="COLLABORATOR"
    ),
    Case(
        "member welcomed when members are included",
        posted("issue"),
        association="MEMBER",
        config="welcome:\n  include_members: true\n",
    ),
    Case(
        "bot account is skipped",
        {"skipped": "author is a bot"},
        author="dependabot[bot]",
        author_type="Bot",
    ),
    Case("bot by its login is skipped", {"skipped": "author is a bot"}, author="renovate[bot]"),
    Case(
        "bot welcomed when bots are included",
        posted("issue"),
        author="renovate[bot]",
        author_type="Bot",
        config="welcome:\n  include_bots: true\n",
    ),
    Case(
        "welcome.issue false",
        {"skipped": "welcome.issue is off"},
        config="welcome:\n  issue: false\n",
    ),
    Case(
        "welcome disabled",
        {"skipped": "welcome.enabled is off"},
        config="welcome:\n  enabled: false\n",
    ),
    Case(
        "other kinds off leave issues on",
        posted("issue"),
        config="welcome:\n  pull_request: false\n  discussion: false\n",
    ),
    Case("shadow mode records, posts nothing", posted("issue", "shadow"), config="mode: shadow\n"),
    Case(
        "first pull request is welcomed",
        posted("pull_request"),
        kind="pull_request",
        association="FIRST_TIME_CONTRIBUTOR",
        prior=("issue",),
        says=("first pull request", marker("pull_request")),
    ),
    Case(
        "second pull request is not",
        {"skipped": "not a first-timer"},
        kind="pull_request",
        prior=("closed_pull",),
    ),
    Case(
        "first merge is congratulated",
        posted("merged_pull_request"),
        kind="merged_pull_request",
        association="CONTRIBUTOR",
        prior=("closed_pull",),
        says=("first merged pull request", marker("merged_pull_request")),
    ),
    Case(
        "second merge is not",
        {"skipped": "not a first-timer"},
        kind="merged_pull_request",
        prior=("merged",),
    ),
    Case(
        "welcome.merged_pull_request false",
        {"skipped": "welcome.merged_pull_request is off"},
        kind="merged_pull_request",
        config="welcome:\n  merged_pull_request: false\n",
    ),
    Case(
        "first discussion is welcomed through GraphQL",
        posted("discussion"),
        kind="discussion",
        says=("discussions", "@newbie", marker("discussion")),
    ),
    Case(
        "second discussion is not",
        {"skipped": "not a first-timer"},
        kind="discussion",
        prior=("discussion",),
    ),
    Case(
        "an earlier issue does not count for a discussion",
        posted("discussion"),
        kind="discussion",
        prior=("issue",),
    ),
    Case(
        "welcome.discussion false",
        {"skipped": "welcome.discussion is off"},
        kind="discussion",
        config="welcome:\n  discussion: false\n",
    ),
    Case(
        "shadow discussion records, posts nothing",
        posted("discussion", "shadow"),
        kind="discussion",
        config="mode: shadow\n",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
async def test_welcome(flows: Flows, case: Case) -> None:
    fake = flows.fake
    repo = flows.new_repo("welcome", config=case.config, files=CONTRIBUTING)
    for what in case.prior:
        add_item(fake, repo, what, case.author, case.association)
    item = add_item(fake, repo, case.kind, case.author, case.association)
    args = welcome_args(
        repo,
        case.kind,
        item,
        author=case.author,
        author_type=case.author_type,
        association=case.association,
    )

    assert await flows.run(run_welcome, args) == case.expected

    comments = welcomes(fake, repo, case.kind, item.number)
    assert len(comments) == (1 if case.expected.get("posted") else 0)
    for text in case.says:
        assert text in comments[0]
    if case.kind == "discussion":  # discussions have no REST comments: GraphQL only
        adds = [m for m in flows.mutations() if "addDiscussionComment" in m.json["query"]]
        assert len(adds) == len(comments)
    rows = flows.actions(repo, item.number)
    if "welcomed" in case.expected:
        (row,) = rows
        assert (row["feature"], row["action"], row["mode"]) == (
            "welcome",
            "comment",
            case.expected["mode"],
        )
        assert row["effect_key"] == f"welcome:{ORG}/{repo}#{item.number}:{case.kind}"
        assert row["delivery_id"] == "delivery-1"
        assert row["installation_id"] == INSTALLATION_ID
        assert row["detail"] == {
            "kind": case.kind,
            "author": case.author,
            "template_error": None,
            "posted": case.expected["posted"],
        }
    else:
        assert rows == []
    if not case.expected.get("posted"):
        assert flows.writes(repo) == [] and flows.mutations() == []


@pytest.mark.parametrize("kind", ["issue", "pull_request", "discussion"])
async def test_a_second_run_changes_nothing(flows: Flows, kind: str) -> None:
    """A redelivered or re-run task is answered from the audit log, without GitHub."""
    repo = flows.new_repo("again", files=CONTRIBUTING)
    item = add_item(flows.fake, repo, kind, "newbie", "NONE")
    args = welcome_args(repo, kind, item, author="newbie")
    assert (await flows.run(run_welcome, args))["posted"] is True
    before = flows.mark()

    assert await flows.run(run_welcome, args) == {"skipped": "already welcomed"}

    assert flows.requests(since=before) == []
    assert len(welcomes(flows.fake, repo, kind, item.number)) == 1
    assert len(flows.actions(repo, item.number)) == 1


@pytest.mark.parametrize("kind", ["issue", "discussion"])
async def test_welcome_posted_before_a_crash_is_not_posted_twice(
    flows: Flows, kind: WelcomeKind
) -> None:
    """A run killed after posting but before recording: the marker stops a second post."""
    fake = flows.fake
    repo = flows.new_repo("crashed", files=CONTRIBUTING)
    item = add_item(fake, repo, kind, "newbie", "NONE")
    earlier = f"Welcome!\n\n{marker(kind)}"
    if kind == "discussion":
        fake.add_discussion_comment(ORG, repo, item.number, body=earlier, author="steward[bot]")
    else:
        fake.add_comment(ORG, repo, item.number, body=earlier, user="steward[bot]")

    result = await flows.run(run_welcome, welcome_args(repo, kind, item, author="newbie"))

    assert result == {"welcomed": kind, "posted": False, "mode": "live"}
    assert welcomes(fake, repo, kind, item.number) == [earlier]
    assert flows.writes(repo) == [] and flows.mutations() == []
    (row,) = flows.actions(repo, item.number)
    assert row["detail"]["posted"] is False


@pytest.mark.parametrize(
    ("template", "starts", "error"),
    [
        pytest.param(
            "Hello {{ author }} of {{ repo }}, see {{ contributing_url }}",
            "Hello newbie of octo-org/",
            None,
            id="custom template",
        ),
        pytest.param(
            "Hello {{ author",
            "Thanks for opening your first issue",
            "welcome.issue_message:",
            id="broken template falls back to the default",
        ),
    ],
)
async def test_custom_templates(
    flows: Flows, template: str, starts: str, error: str | None
) -> None:
    config = f"welcome:\n  issue_message: {template!r}\n  contributing_path: docs/HACKING.md\n"
    repo = flows.new_repo("template", config=config, files={"docs/HACKING.md": "# Hack\n"})
    item = add_item(flows.fake, repo, "issue", "newbie", "NONE")

    assert (await flows.run(run_welcome, welcome_args(repo, "issue", item, author="newbie")))[
        "posted"
    ]

    (comment,) = welcomes(flows.fake, repo, "issue", item.number)
    assert comment.startswith(starts)
    assert "docs/HACKING.md" in comment
    (row,) = flows.actions(repo, item.number)
    recorded = row["detail"]["template_error"]
    assert recorded is None if error is None else recorded.startswith(error)


async def test_invalid_config_is_reported_once_and_defaults_apply(flows: Flows) -> None:
    repo = flows.new_repo("broken", config="welcome: [unclosed\n", files=CONTRIBUTING)
    for author in ("alice", "bob"):
        item = add_item(flows.fake, repo, "issue", author, "NONE")
        args = welcome_args(repo, "issue", item, author=author)
        assert (await flows.run(run_welcome, args))["posted"] is True

    reports = [i for i in flows.fake.repo(ORG, repo).issues.values() if i.title.startswith("Stew")]
    assert len(reports) == 1 and "not valid YAML" in (reports[0].body or "")


async def test_newcomer_welcome_lists_matching_good_first_issues(flows: Flows) -> None:
    fake = flows.fake
    repo = flows.new_repo("gfi", config="welcome:\n  good_first_issues: 1\n")
    mine = newcomer_with_good_first_issues(fake, repo)

    args = welcome_args(repo, "issue", Item(mine.number), author="newbie")
    assert (await flows.run(run_welcome, args))["posted"] is True

    (comment,) = welcomes(fake, repo, "issue", mine.number)
    assert "Fix typo in the HTTP/2 docs" in comment
    assert "dark mode" not in comment and "scheduler" not in comment
    assert "CONTRIBUTING" not in comment  # the repository has no guide to link


async def test_an_unrelated_list_of_good_first_issues_is_never_shown(flows: Flows) -> None:
    fake = flows.fake
    repo = flows.new_repo("gfi-none", config="welcome:\n  good_first_issues: 3\n")
    newcomer_with_good_first_issues(fake, repo)
    mine = fake.add_issue(
        ORG,
        repo,
        title="Segfault when the PostgreSQL connection pool is exhausted",
        body="The worker crashes under load with 200 open connections.",
        user="newbie2",
    )

    args = welcome_args(repo, "issue", Item(mine.number), author="newbie2")
    assert (await flows.run(run_welcome, args))["posted"] is True

    (comment,) = welcomes(fake, repo, "issue", mine.number)
    assert "Looking for something to work on" not in comment
    assert "dark mode" not in comment and "HTTP/2" not in comment


async def test_unknown_kind_is_refused(flows: Flows) -> None:
    repo = flows.new_repo("kind")
    args = welcome_args(repo, "wiki_page", Item(1), author="newbie")
    with pytest.raises(ValueError, match="unknown welcome kind"):
        await flows.run(run_welcome, args)
    assert flows.requests() == []
