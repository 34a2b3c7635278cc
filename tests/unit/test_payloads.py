"""Typed payload parsing over real @octokit/webhooks-examples deliveries."""

from __future__ import annotations

import pytest

from core.payloads import Comment, Envelope, InstallationChange, Item, PayloadError
from tests.support import example


@pytest.mark.parametrize(
    ("name", "parse", "kind"),
    [
        ("issues.opened", Item.issue, "issue"),
        ("issues.labeled", Item.issue, "issue"),
        ("issue_comment.created", Item.issue, "issue"),
        ("pull_request.opened", Item.pull_request, "pull_request"),
        ("pull_request.closed", Item.pull_request, "pull_request"),
        ("pull_request_review.submitted", Item.pull_request, "pull_request"),
        ("discussion.created", Item.discussion, "discussion"),
        ("discussion_comment.created", Item.discussion, "discussion"),
    ],
)
def test_items_parse(name: str, parse: object, kind: str) -> None:
    payload = example(name)
    item = parse(payload)  # type: ignore[operator]
    assert item.kind == kind and item.number > 0 and item.author.login
    assert item.repo.full_name == payload["repository"]["full_name"]


@pytest.mark.parametrize(
    "name",
    [
        "installation.created",
        "installation.deleted",
        "installation_repositories.added",
        "installation_repositories.removed",
    ],
)
def test_installation_changes_parse(name: str) -> None:
    change = InstallationChange.parse(example(name))
    assert change.installation_id > 0 and change.account.login
    if name.endswith("removed"):
        assert change.removed


def test_envelope_and_bot_sender() -> None:
    payload = example("issues.opened")
    payload["sender"] = {"login": "steward[bot]", "type": "Bot"}
    envelope = Envelope.parse("issues", "d", payload)
    assert envelope.sender and envelope.sender.is_bot and envelope.action == "opened"


@pytest.mark.parametrize("drop", ["repository", "issue"])
def test_missing_fields_raise_payload_error(drop: str) -> None:
    payload = example("issues.opened")
    del payload[drop]
    with pytest.raises(PayloadError, match=drop):
        Item.issue(payload)


@pytest.mark.parametrize(
    ("name", "on"),
    [
        ("issue_comment.created", "issue"),
        ("issue_comment.edited", "issue"),
        ("discussion_comment.created", "discussion"),
        ("discussion_comment.edited", "discussion"),
    ],
)
def test_comments_parse(name: str, on: str) -> None:
    payload = example(name)
    parse = Comment.discussion_comment if on == "discussion" else Comment.issue_comment
    comment = parse(payload)
    assert (comment.id, comment.body, comment.on) == (
        payload["comment"]["id"],
        payload["comment"]["body"],
        on,
    )
    assert comment.author.login == payload["comment"]["user"]["login"]
    payload["issue" if on == "issue" else "discussion"]["pull_request"] = {"url": "x"}
    assert parse(payload).on == ("pull_request" if on == "issue" else "discussion")
