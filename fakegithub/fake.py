"""``FakeGitHub``: state builders, query helpers and the server lifecycle.

A test builds state with ``add_repo``/``add_issue``/…, starts the server with
``async with fake.serve() as base_url`` and points the code under test at
``base_url`` (``GITHUB_API_URL``). Afterwards it inspects ``fake.requests``,
``fake.violations`` and helpers such as ``fake.labels_on(...)``. ``fake.hooks``
sends webhooks to a receiver and keeps the App's delivery log, as GitHub does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from fakegithub import auth, deliveries
from fakegithub import serialize as ser
from fakegithub.contract import Contract, Violation
from fakegithub.hookshot import Hookshot
from fakegithub.http import Fault, HTTPError, RecordedRequest
from fakegithub.limits import Limiter, Limits
from fakegithub.oauth import OAuthState
from fakegithub.state import (
    AccessToken,
    App,
    Comment,
    Discussion,
    DiscussionComment,
    Installation,
    Issue,
    IssueEvent,
    Label,
    Permission,
    PullFile,
    PullInfo,
    Reaction,
    Repo,
    RepoFile,
    Review,
    User,
    make_node_id,
)

#: Permissions given to installations unless a test says otherwise.
DEFAULT_PERMISSIONS: dict[str, str] = {
    "issues": "write",
    "pull_requests": "write",
    "discussions": "write",
    "contents": "read",
    "metadata": "read",
    "members": "read",
}

#: The rate-limit resources the fake counts (``core`` and ``graphql`` per hour, ``search``
#: per minute; see :mod:`fakegithub.limits`).
RATE_RESOURCES = ("core", "search", "graphql")

_SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID."
)


class FakeGitHub:
    """A fake of GitHub's REST and GraphQL APIs over real HTTP, checked against the
    published OpenAPI description.
    """

    def __init__(
        self,
        *,
        token_lifetime: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] | None = None,
        check_responses: bool = True,
        web_url: str = "https://github.com",
        limits: Limits | None = None,
    ) -> None:
        """``limits`` turns on GitHub's rate limits (:mod:`fakegithub.limits`); without
        them requests are counted for the ``x-ratelimit-*`` headers and never refused.
        """
        self.token_lifetime = token_lifetime
        self.clock = clock or (lambda: datetime.now(UTC))
        self.check_responses = check_responses
        self.urls = ser.Urls(api="http://127.0.0.1", web=web_url)
        self.contract = Contract.load()
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, User] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self.faults: list[Fault] = []
        self.limiter = self._limiter(limits)
        #: Wall-clock seconds each answer takes (GitHub's are not instant; requests then
        #: overlap, which the limit on requests in flight counts).
        self.latency = 0.0
        self.used_manifest_codes: set[str] = set()
        self._ids = itertools.count(1001)
        #: The App's webhook: sends deliveries and keeps GitHub's delivery log.
        self.hooks = Hookshot(self)
        #: "Sign in with GitHub": who the authorize page approves, codes, user tokens.
        self.oauth = OAuthState()

    # ------------------------------------------------------------------ basics

    def now(self) -> datetime:
        """The fake's current time (injectable through ``clock``)."""
        return self.clock()

    def wall_epoch(self, moment: datetime) -> float:
        """Wall-clock epoch seconds of one of the fake's moments (they differ only with
        a :class:`fakegithub.limits.FastClock`)."""
        wall = getattr(self.clock, "wall", None)
        return float(wall(moment)) if callable(wall) else moment.timestamp()

    def _limiter(self, limits: Limits | None) -> Limiter:
        return Limiter(
            limits or Limits(), enforce=limits is not None, now=self.now, wall=self.wall_epoch
        )

    @contextlib.contextmanager
    def limits_enforced(self, limits: Limits | None = None) -> Iterator[Limiter]:
        """Enforce GitHub's rate limits (``limits``, GitHub's by default) from a fresh
        count until the block ends, then go back to the fake's earlier limiter (for a
        test on the session's shared fake)."""
        before = self.limiter
        self.limiter = self._limiter(limits or Limits())
        try:
            yield self.limiter
        finally:
            self.limiter = before

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

    # ---------------------------------------------------------------- builders

    def register_app(
        self,
        app_id: int,
        public_key_pem: str | bytes,
        slug: str = "steward",
        *,
        name: str | None = None,
        owner: str = "steward-dev",
        permissions: Mapping[str, str] | None = None,
        events: Iterable[str] = ("issues", "pull_request", "discussion"),
    ) -> App:
        """Register an app whose JWTs are verified with ``public_key_pem``."""
        pem = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        self.user(owner, type="Organization")
        self.user(f"{slug}[bot]", type="Bot")
        app = App(
            app_id=app_id,
            slug=slug,
            public_key_pem=pem,
            name=name or slug.capitalize(),
            owner=owner,
            node_id=make_node_id("A", app_id),
            permissions=dict(permissions or DEFAULT_PERMISSIONS),
            events=list(events),
        )
        self.apps[app_id] = app
        return app

    def add_installation(
        self,
        installation_id: int,
        account: str,
        *,
        app_id: int | None = None,
        repositories: Iterable[str] | None = None,
        permissions: Mapping[str, str] | None = None,
    ) -> Installation:
        """Install an app (the only registered one by default) on ``account``.

        ``repositories`` are ``owner/name`` strings; None means all of the account's.
        """
        if app_id is None:
            if len(self.apps) != 1:
                raise ValueError("pass app_id= when zero or several apps are registered")
            app_id = next(iter(self.apps))
        self.user(account, type="Organization")
        inst = Installation(
            id=installation_id,
            app_id=app_id,
            account=account,
            repositories=list(repositories) if repositories is not None else None,
            permissions=dict(permissions or self.apps[app_id].permissions),
        )
        self.installations[installation_id] = inst
        return inst

    def add_repo(
        self,
        owner: str,
        name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        description: str | None = None,
        files: Mapping[str, str | bytes] | None = None,
        labels: Iterable[str] = (),
        collaborators: Mapping[str, Permission] | None = None,
    ) -> Repo:
        """Create a repository, optionally with files, labels and collaborators."""
        self.user(owner, type="Organization")
        number = self.next_id()
        repo = Repo(
            number, make_node_id("R", number), owner, name, default_branch, private, description
        )
        self.repos[repo.full_name.lower()] = repo
        for path, content in (files or {}).items():
            self.set_file(owner, name, path, content)
        for label_name in labels:
            self.add_label(owner, name, label_name)
        for login, permission in (collaborators or {}).items():
            self.add_collaborator(owner, name, login, permission)
        return repo

    def set_file(self, owner: str, repo: str, path: str, content: str | bytes) -> RepoFile:
        """Create or replace a file on the default branch."""
        data = content.encode() if isinstance(content, str) else content
        made = RepoFile(path.strip("/"), data)
        self.repo(owner, repo).files[made.path] = made
        return made

    def delete_file(self, owner: str, repo: str, path: str) -> None:
        """Remove a file from the default branch."""
        self.repo(owner, repo).files.pop(path.strip("/"), None)

    def add_label(
        self,
        owner: str,
        repo: str,
        name: str,
        *,
        color: str = "ededed",
        description: str | None = None,
    ) -> Label:
        """Create a repository label (or return the existing one of that name)."""
        target = self.repo(owner, repo)
        existing = target.label(name)
        if existing is not None:
            return existing
        number = self.next_id()
        made = Label(
            number, make_node_id("LA", number), name, color, description, created_at=self.now()
        )
        target.labels[name.lower()] = made
        return made

    def add_collaborator(
        self, owner: str, repo: str, login: str, permission: Permission = "write"
    ) -> None:
        """Give ``login`` a permission on a repository."""
        self.user(login)
        self.repo(owner, repo).collaborators[login] = permission

    def _new_issue(
        self,
        repo: Repo,
        title: str,
        body: str | None,
        user: str,
        author_association: str,
        created_at: datetime | None,
    ) -> Issue:
        self.user(user)
        number, ident = repo.next_number, self.next_id()
        repo.next_number += 1
        moment = created_at or self.now()
        item = Issue(
            number,
            ident,
            make_node_id("I", ident),
            title,
            body,
            user,
            author_association,
            moment,
            moment,
        )
        repo.issues[number] = item
        return item

    def add_issue(
        self,
        owner: str,
        repo: str,
        *,
        title: str,
        body: str | None = "",
        user: str = "octocat",
        labels: Iterable[str] = (),
        author_association: str = "NONE",
        state: str = "open",
        created_at: datetime | None = None,
        comments: Iterable[tuple[str, str]] = (),
    ) -> Issue:
        """Create an issue; ``comments`` are ``(user, body)`` pairs."""
        target = self.repo(owner, repo)
        item = self._new_issue(target, title, body, user, author_association, created_at)
        self._prefill(target, item, labels, state, comments)
        return item

    def _prefill(
        self,
        repo: Repo,
        item: Issue,
        labels: Iterable[str],
        state: str,
        comments: Iterable[tuple[str, str]],
    ) -> None:
        for label_name in labels:
            item.labels.append(self.add_label(repo.owner, repo.name, label_name).name)
        if state == "closed":
            item.state, item.closed_at, item.state_reason = "closed", item.created_at, "completed"
        for login, text in comments:
            self.add_comment(repo.owner, repo.name, item.number, body=text, user=login)

    def add_pull(
        self,
        owner: str,
        repo: str,
        *,
        title: str,
        body: str | None = "",
        user: str = "octocat",
        files: Iterable[str | PullFile] = (),
        labels: Iterable[str] = (),
        author_association: str = "CONTRIBUTOR",
        state: str = "open",
        merged: bool = False,
        merged_at: datetime | None = None,
        draft: bool = False,
        requested_reviewers: Iterable[str] = (),
        created_at: datetime | None = None,
        head_ref: str | None = None,
        comments: Iterable[tuple[str, str]] = (),
    ) -> Issue:
        """Create a pull request; ``merged=True`` also closes it."""
        target = self.repo(owner, repo)
        item = self._new_issue(target, title, body, user, author_association, created_at)
        item.pull_id = self.next_id()
        item.pull_node_id = make_node_id("PR", item.pull_id)
        item.pull = PullInfo(
            head_ref=head_ref or f"{user}/change-{item.number}",
            base_ref=target.default_branch,
            head_sha=f"{item.pull_id:040x}",
            draft=draft,
            files=[f if isinstance(f, PullFile) else PullFile(f) for f in files],
        )
        for login in requested_reviewers:
            self.user(login)
            item.pull.requested_reviewers.append(login)
        self._prefill(target, item, labels, "closed" if merged else state, comments)
        if merged:
            item.pull.merged = True
            item.pull.merged_at = merged_at or item.created_at
            item.pull.merged_by = target.owner
            item.closed_at = item.pull.merged_at
            item.state_reason = None
        return item

    def add_comment(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        body: str,
        user: str = "octocat",
        author_association: str = "NONE",
    ) -> Comment:
        """Comment on an issue or pull request."""
        item = self.issue(owner, repo, number)
        self.user(user)
        ident, moment = self.next_id(), self.now()
        made = Comment(
            ident, make_node_id("IC", ident), user, body, moment, moment, author_association
        )
        item.comments.append(made)
        item.updated_at = moment
        return made

    def add_review(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        user: str,
        state: str = "APPROVED",
        body: str = "",
    ) -> Review:
        """Add a submitted review to a pull request."""
        item = self.issue(owner, repo, number)
        if item.pull is None:
            raise ValueError(f"#{number} is not a pull request")
        self.user(user)
        ident = self.next_id()
        made = Review(ident, make_node_id("PRR", ident), user, state, body, self.now())
        item.pull.reviews.append(made)
        return made

    def add_discussion(
        self,
        owner: str,
        repo: str,
        *,
        title: str,
        body: str = "",
        author: str = "octocat",
        labels: Iterable[str] = (),
        created_at: datetime | None = None,
        category: str = "General",
    ) -> Discussion:
        """Create a discussion (numbered in the same sequence as issues, like GitHub)."""
        target = self.repo(owner, repo)
        self.user(author)
        number, ident = target.next_number, self.next_id()
        target.next_number += 1
        made = Discussion(
            ident, make_node_id("D", ident), number, title, body, author, created_at or self.now()
        )
        made.labels = [self.add_label(owner, repo, n).name for n in labels]
        made.category = category
        target.discussions[number] = made
        return made

    def add_discussion_comment(
        self, owner: str, repo: str, number: int, *, body: str, author: str = "octocat"
    ) -> DiscussionComment:
        """Comment on a discussion."""
        self.user(author)
        ident = self.next_id()
        made = DiscussionComment(ident, make_node_id("DC", ident), author, body, self.now())
        self.discussion(owner, repo, number).comments.append(made)
        return made

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

    def edit_comment(self, owner: str, repo: str, comment_id: int, *, body: str) -> Comment:
        """Change a comment's body as its author would (``updated_at`` moves on)."""
        item, found = self.find_comment(owner, repo, comment_id)
        found.body, found.updated_at = body, self.now()
        item.updated_at = found.updated_at
        return found

    def edit_discussion_comment(
        self, owner: str, repo: str, comment_id: int, *, body: str
    ) -> DiscussionComment:
        """Change a discussion comment's body as its author would."""
        _, found = self.find_discussion_comment(owner, repo, comment_id)
        found.body, found.updated_at = body, self.now()
        return found

    def react(self, reactions: list[Reaction], *, user: str, content: str) -> tuple[Reaction, bool]:
        """Add ``user``'s ``content`` reaction unless they gave it already; (it, new?)."""
        for given in reactions:
            if given.user == user and given.content == content:
                return given, False
        self.user(user)
        ident = self.next_id()
        made = Reaction(ident, make_node_id("REA", ident), user, content, self.now())
        reactions.append(made)
        return made, True

    def reactions_on(self, owner: str, repo: str, comment_id: int) -> list[tuple[str, str]]:
        """``(login, content)`` of every reaction to an issue, pull request or discussion
        comment, oldest first.
        """
        try:
            _, found = self.find_comment(owner, repo, comment_id)
            return [(r.user, r.content) for r in found.reactions]
        except KeyError:
            _, other = self.find_discussion_comment(owner, repo, comment_id)
            return [(r.user, r.content) for r in other.reactions]

    def comment_payload(
        self,
        owner: str,
        repo: str,
        comment_id: int,
        *,
        action: str = "created",
        previous: str = "",
    ) -> dict[str, Any]:
        """A real ``issue_comment`` or ``discussion_comment`` example (``created`` or
        ``edited``, whose ``changes.body.from`` is ``previous``) describing one of this
        fake's comments as it is now.
        """
        target = self.repo(owner, repo)
        installed = [i.id for i in self.installations.values() if i.covers(target.full_name)]
        installation = installed[0] if installed else 0
        try:
            item, found = self.find_comment(owner, repo, comment_id)
        except KeyError:
            parent, other = self.find_discussion_comment(owner, repo, comment_id)
            made = deliveries.discussion_comment_payload(
                action, target, parent, other, self.user(other.author), installation
            )
        else:
            made = deliveries.issue_comment_payload(
                action, target, item, found, self.user(found.user), installation
            )
        if action == "edited":
            made["changes"] = {"body": {"from": previous}}
        return made

    # ------------------------------------------------------- state transitions

    def log_event(self, item: Issue, event: str, actor: str, **fields: Any) -> IssueEvent:
        """Append an event to an issue's timeline."""
        self.user(actor)
        ident = self.next_id()
        made = IssueEvent(ident, make_node_id("LE", ident), event, actor, self.now(), **fields)
        item.events.append(made)
        return made

    def set_labels(self, repo: Repo, item: Issue, names: Iterable[str], actor: str) -> None:
        """Replace an issue's labels, creating unknown ones and logging (un)labeled."""
        wanted: list[str] = []
        for name in names:
            canonical = self.add_label(repo.owner, repo.name, name).name
            if canonical not in wanted:
                wanted.append(canonical)
        for name in item.labels:
            if name not in wanted:
                self.log_event(item, "unlabeled", actor, label=name, label_color=_color(repo, name))
        for name in wanted:
            if name not in item.labels:
                self.log_event(item, "labeled", actor, label=name, label_color=_color(repo, name))
        if wanted != item.labels:
            item.updated_at = self.now()  # as GitHub does on any label change
        item.labels = wanted

    def set_state(
        self, repo: Repo, item: Issue, state: str, reason: str | None, actor: str
    ) -> None:
        """Open or close an issue, logging the event."""
        if state == item.state:
            return
        if state == "closed":
            item.state, item.closed_at = "closed", self.now()
            item.state_reason = reason or "completed"
            self.log_event(item, "closed", actor)
        else:
            item.state, item.closed_at, item.state_reason = "open", None, "reopened"
            self.log_event(item, "reopened", actor)

    # ------------------------------------------------------------------- auth

    def mint_token(self, installation_id: int) -> str:
        """Issue an installation token directly (tests that skip the JWT dance)."""
        if installation_id not in self.installations:
            raise KeyError(f"no installation {installation_id}")
        made = auth.mint_token(installation_id, self.now(), self.token_lifetime)
        self.tokens[made.token] = made
        return made.token

    def expire_tokens(self) -> None:
        """Make every issued installation token expired (tests of token refresh)."""
        for token in self.tokens.values():
            token.expires_at = self.now() - timedelta(seconds=1)

    def bot_login(self, installation: Installation | None) -> str:
        """The ``slug[bot]`` login that acts for an installation."""
        if installation is None:
            return "ghost"
        return f"{self.apps[installation.app_id].slug}[bot]"

    def convert_manifest(self, code: str) -> dict[str, Any]:
        """Complete the manifest flow: a new app with a fresh key (codes are one-time)."""
        if code in self.used_manifest_codes:
            raise HTTPError(404, "Not Found")
        self.used_manifest_codes.add(code)
        private_pem, public_pem = new_key_pair()
        app_id = max([*self.apps, 100]) + 1
        slug = f"steward-{app_id}"
        app = self.register_app(app_id, public_pem, slug)
        data = ser.app(self.urls, app, self.user(app.owner))
        data.update(
            pem=private_pem,
            webhook_secret=secrets.token_hex(20),
            client_id=f"Iv1.{secrets.token_hex(8)}",
            client_secret=secrets.token_hex(20),
        )
        return data

    # -------------------------------------------------------------- rendering

    def installation_json(self, inst: Installation) -> dict[str, Any]:
        """Render an installation."""
        slug = self.apps[inst.app_id].slug
        return ser.installation(self.urls, inst, self.user(inst.account), slug)

    def collaborator_json(self, repo: Repo, login: str) -> dict[str, Any]:
        """Render a ``collaborator`` (a user with ``permissions`` and ``role_name``)."""
        role = repo.collaborators.get(login, "read")
        rank = {"read": 0, "triage": 1, "write": 2, "maintain": 3, "admin": 4}[role]
        flags = {
            "pull": rank >= 0,
            "triage": rank >= 1,
            "push": rank >= 2,
            "maintain": rank >= 3,
            "admin": rank >= 4,
        }
        return {**ser.user(self.urls, self.user(login)), "permissions": flags, "role_name": role}

    def rate_limit_json(self, installation: Installation | None) -> dict[str, Any]:
        """Render ``GET /rate_limit`` from the fake's counters."""
        resources = {name: self.rate_status(installation, name) for name in RATE_RESOURCES}
        return {"resources": resources, "rate": resources["core"]}

    def rate_status(self, installation: Installation | None, resource: str) -> dict[str, Any]:
        """``limit/remaining/reset/used`` of one rate-limit bucket."""
        return self.limiter.status(_bucket(installation), resource)

    # -------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 500,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` requests whose path matches ``path_pattern`` (a
        regex searched in the path; method ``*`` = any) with a canned response.
        """
        fault = Fault(
            method,
            re.compile(path_pattern),
            status,
            dict(headers or {}),
            body if body is not None else ser.error("Server Error", status),
            times,
        )
        self.faults.append(fault)
        return fault

    def rate_limit_next(
        self, method: str, path_pattern: str, *, reset_in: int = 60, times: int = 1
    ) -> Fault:
        """Simulate GitHub's primary rate limit (403, ``x-ratelimit-remaining: 0``)."""
        reset = int(self.now().timestamp()) + reset_in
        headers = {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-limit": "5000",
            "x-ratelimit-used": "5000",
        }
        body = ser.error("API rate limit exceeded for installation.", 403)
        return self.fail_next(
            method, path_pattern, status=403, headers=headers, body=body, times=times
        )

    def secondary_rate_limit_next(
        self,
        method: str,
        path_pattern: str,
        *,
        retry_after: int = 1,
        status: int = 403,
        times: int = 1,
    ) -> Fault:
        """Simulate a secondary rate limit (403 or 429 with ``retry-after``)."""
        return self.fail_next(
            method,
            path_pattern,
            status=status,
            headers={"retry-after": str(retry_after)},
            body=ser.error(_SECONDARY_MESSAGE, status),
            times=times,
        )

    def drop_connection_next(self, method: str, path_pattern: str, *, times: int = 1) -> Fault:
        """Close the connection without answering the next matching requests."""
        fault = Fault(method, re.compile(path_pattern), times=times, drop_connection=True)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, consuming one use of it."""
        for fault in self.faults:
            if fault.times > 0 and fault.matches(method, path):
                fault.times -= 1
                return fault
        return None

    # ---------------------------------------------------------- query helpers

    def comments_on(self, owner: str, repo: str, number: int) -> list[Comment]:
        """Comments of an issue or pull request, oldest first."""
        return list(self.issue(owner, repo, number).comments)

    def comment_bodies(self, owner: str, repo: str, number: int) -> list[str]:
        """Comment bodies of an issue or pull request, oldest first."""
        return [c.body for c in self.comments_on(owner, repo, number)]

    def labels_on(self, owner: str, repo: str, number: int) -> list[str]:
        """Label names on an issue, pull request or (if no issue has it) discussion."""
        target = self.repo(owner, repo)
        if number in target.issues:
            return list(target.issues[number].labels)
        return list(target.discussions[number].labels)

    def requested_reviewers(self, owner: str, repo: str, number: int) -> list[str]:
        """Logins whose review is requested on a pull request."""
        pull = self.issue(owner, repo, number).pull
        return list(pull.requested_reviewers) if pull else []

    def discussion_comments(self, owner: str, repo: str, number: int) -> list[DiscussionComment]:
        """Comments of a discussion, oldest first."""
        return list(self.discussion(owner, repo, number).comments)

    def calls(self, method: str, path_regex: str = "") -> list[RecordedRequest]:
        """Recorded requests with this method (``*`` = any) whose path matches."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if (method == "*" or r.method == method.upper()) and pattern.search(r.path)
        ]

    def clear_log(self) -> None:
        """Forget recorded requests and violations (state is kept)."""
        self.requests.clear()
        self.violations.clear()

    # ------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """The aiohttp application serving this fake."""
        from fakegithub.server import build_app

        return build_app(self)

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run the fake on ``host`` (a free port by default); yields the base URL."""
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        self.urls = ser.Urls(api=f"http://{host}:{bound}", web=self.urls.web)
        try:
            yield self.urls.api
        finally:
            await runner.cleanup()

    @contextlib.contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Run the fake on its own event loop in a thread (for sync code and Celery
        workers); yields the base URL.
        """
        ready = threading.Event()
        stop: dict[str, Any] = {}

        async def main() -> None:
            async with self.serve(host, port):
                stop["event"] = asyncio.Event()
                stop["loop"] = asyncio.get_running_loop()
                ready.set()
                await stop["event"].wait()

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake GitHub did not start within 10 s")
        try:
            yield self.urls.api
        finally:
            stop["loop"].call_soon_threadsafe(stop["event"].set)
            thread.join(10)


def _bucket(installation: Installation | None) -> str:
    return f"installation:{installation.id}" if installation else "anonymous"


def _color(repo: Repo, name: str) -> str | None:
    found = repo.label(name)
    return found.color if found else None


def new_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
