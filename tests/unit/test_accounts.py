"""Who is a bot: the one rule (``core.accounts``), as every part of Steward asks it."""

from __future__ import annotations

from typing import Any

import pytest

from core.accounts import is_bot, is_bot_user
from core.payloads import Actor
from models.reviewers.constraints import is_bot as reviewer_library_rule


def user(login: str, kind: str | None = None, key: str = "type") -> dict[str, Any]:
    """A user object as REST (``type``) or GraphQL (``__typename``) sends it."""
    return {"login": login, **({key: kind} if kind else {})}


@pytest.mark.parametrize(
    ("account", "also", "expected"),
    [
        (user("alice", "User"), (), False),
        (user("dependabot[bot]", "Bot"), (), True),
        (user("steward[bot]"), (), True),  # the suffix alone is enough
        (user("Renovate[BOT]"), (), True),  # logins ignore case
        (user("some-app", "Bot"), (), True),  # the type alone is enough
        (user("copilot", "Bot", key="__typename"), (), True),  # a GraphQL author
        (user("k8s-ci-robot"), ("K8s-CI-Robot",), True),  # named a bot by a maintainer
        (user("robot"), (), False),  # a person whose login says robot
        (None, (), False),  # a deleted account (ghost) counts as a person
    ],
)
def test_one_rule_for_bots(
    account: dict[str, Any] | None, also: tuple[str, ...], expected: bool
) -> None:
    assert is_bot_user(account, also=also) is expected
    if account is None:
        return
    login, kind = account["login"], account.get("type") or account.get("__typename") or ""
    assert is_bot(login, kind, also=also) is expected
    if kind != "Bot":  # the reviewer library and the receiver see logins and REST types
        assert reviewer_library_rule(login, also) is expected
        assert Actor(login=login, type=kind or "User").is_bot is (expected and not also)
