"""The core of :class:`fakegithub.fake.FakeGitHub`: the state it holds, its clock and ids,
and the look-ups every other part of it builds on (accounts, repositories, issues,
discussions, comments).

The attributes are declared here and set by ``FakeGitHub.__init__``; the mixins of
``fakegithub.fake_*`` subclass :class:`FakeCore` so that they may use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fakegithub import serialize as ser
from fakegithub.contract import Contract, Violation
from fakegithub.http import Fault, RecordedRequest
from fakegithub.limits import Limiter
from fakegithub.oauth import OAuthState
from fakegithub.state import (
    AccessToken,
    App,
    Comment,
    Discussion,
    DiscussionComment,
    Installation,
    Issue,
    Repo,
    User,
    make_node_id,
)

if TYPE_CHECKING:
    from fakegithub.hookshot import Hookshot


class FakeCore:
    """The fake's state, clock, ids and look-ups (see ``FakeGitHub.__init__``)."""

    token_lifetime: timedelta
    clock: Callable[[], datetime]
    check_responses: bool
    urls: ser.Urls
    contract: Contract
    apps: dict[int, App]
    installations: dict[int, Installation]
    repos: dict[str, Repo]
    users: dict[str, User]
    tokens: dict[str, AccessToken]
    requests: list[RecordedRequest]
    violations: list[Violation]
    faults: list[Fault]
    limiter: Limiter
    latency: float
    used_manifest_codes: set[str]
    _ids: Iterator[int]
    hooks: Hookshot
    oauth: OAuthState

    # ------------------------------------------------------------------ basics

    def now(self) -> datetime:
        """The fake's current time (injectable through ``clock``)."""
        return self.clock()

    def wall_epoch(self, moment: datetime) -> float:
        """Wall-clock epoch seconds of one of the fake's moments (they differ only with
        a :class:`fakegithub.limits.FastClock`)."""
        wall = getattr(self.clock, "wall", None)
        return float(wall(moment)) if callable(wall) else moment.timestamp()

    def next_id(self) -> int:
        """A fresh numeric id, unique across every kind of object."""
        return next(self._ids)

    def user(self, login: str, *, type: str | None = None) -> User:
        """The account ``login``, created on first use (``[bot]`` logins are bots)."""
        found = self.find_user(login)
        if found is not None:
            return found
        kind = type or ("Bot" if login.endswith("[bot]") else "User")
        number = self.next_id()
        prefix = {"Bot": "BOT", "Organization": "O"}.get(kind, "U")
        made = User(login, number, make_node_id(prefix, number), kind)  # type: ignore[arg-type]
        self.users[login] = made
        return made

    def find_user(self, login: str) -> User | None:
        """The account ``login`` if it exists (case-insensitive like GitHub)."""
        if login in self.users:
            return self.users[login]
        lowered = login.lower()
        return next((u for u in self.users.values() if u.login.lower() == lowered), None)

    def find_repo(self, owner: str, name: str) -> Repo | None:
        """A repository by owner and name (case-insensitive)."""
        return self.repos.get(f"{owner}/{name}".lower())

    def repo(self, owner: str, name: str) -> Repo:
        """A repository that must exist (``KeyError`` otherwise)."""
        found = self.find_repo(owner, name)
        if found is None:
            raise KeyError(f"no repository {owner}/{name} in the fake")
        return found

    def issue(self, owner: str, repo: str, number: int) -> Issue:
        """An issue or pull request that must exist."""
        return self.repo(owner, repo).issues[number]

    def discussion(self, owner: str, repo: str, number: int) -> Discussion:
        """A discussion that must exist."""
        return self.repo(owner, repo).discussions[number]

    def find_comment(self, owner: str, repo: str, comment_id: int) -> tuple[Issue, Comment]:
        """The issue or pull request holding comment ``comment_id``, and the comment."""
        for item in self.repo(owner, repo).issues.values():
            for found in item.comments:
                if found.id == comment_id:
                    return item, found
        raise KeyError(f"no comment {comment_id} in {owner}/{repo}")

    def find_discussion_comment(
        self, owner: str, repo: str, comment_id: int
    ) -> tuple[Discussion, DiscussionComment]:
        """The discussion holding comment ``comment_id``, and the comment."""
        for item in self.repo(owner, repo).discussions.values():
            for found in item.comments:
                if found.id == comment_id:
                    return item, found
        raise KeyError(f"no discussion comment {comment_id} in {owner}/{repo}")
