"""In-memory state of the fake GitHub: plain dataclasses, no I/O.

Objects keep GitHub's own identifiers (numeric ``id``, GraphQL ``node_id``) so the
REST and GraphQL views of one object agree, as they do on github.com.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

Permission = Literal["admin", "maintain", "write", "triage", "read"]

#: The time every object is created at unless a builder says otherwise.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def iso(moment: datetime | None) -> str | None:
    """Format a datetime the way GitHub does: ``2024-01-01T00:00:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_blob_sha(content: bytes) -> str:
    """The git blob SHA-1 of ``content``, as GitHub reports it for a file."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def make_node_id(prefix: str, number: int) -> str:
    """A GraphQL global id shaped like GitHub's new ones (``D_kwDO…``)."""
    encoded = base64.b64encode(number.to_bytes(8, "big")).decode().rstrip("=")
    return f"{prefix}_kwDO{encoded}"


@dataclass
class User:
    """A GitHub account (user, bot or organization)."""

    login: str
    id: int
    node_id: str
    type: Literal["User", "Bot", "Organization"] = "User"
    name: str | None = None
    #: GitHub's "busy" status (``status.indicatesLimitedAvailability``).
    busy: bool = False


@dataclass
class Label:
    """A repository label."""

    id: int
    node_id: str
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False
    created_at: datetime = EPOCH


@dataclass
class Reaction:
    """One person's reaction to a comment (``content`` is REST's: ``+1``, ``confused``, …)."""

    id: int
    node_id: str
    user: str
    content: str
    created_at: datetime


@dataclass
class Comment:
    """An issue or pull request comment."""

    id: int
    node_id: str
    user: str
    body: str
    created_at: datetime
    updated_at: datetime
    author_association: str = "NONE"
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class IssueEvent:
    """One entry of an issue's event timeline (labeled, unlabeled, closed, …)."""

    id: int
    node_id: str
    event: str
    actor: str
    created_at: datetime
    label: str | None = None
    label_color: str | None = None
    assignee: str | None = None
    requested_reviewer: str | None = None


@dataclass
class PullFile:
    """A file changed by a pull request."""

    filename: str
    status: str = "modified"
    additions: int = 1
    deletions: int = 0
    patch: str | None = None


@dataclass
class Review:
    """A submitted pull request review."""

    id: int
    node_id: str
    user: str
    state: str
    body: str
    submitted_at: datetime


@dataclass
class PullInfo:
    """The pull-request-only part of an issue."""

    head_ref: str
    base_ref: str
    head_sha: str
    draft: bool = False
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    files: list[PullFile] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)


@dataclass
class Issue:
    """An issue, or a pull request when ``pull`` is set (as in GitHub's data model)."""

    number: int
    id: int
    node_id: str
    title: str
    body: str | None
    user: str
    author_association: str
    created_at: datetime
    updated_at: datetime
    state: Literal["open", "closed"] = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    events: list[IssueEvent] = field(default_factory=list)
    pull: PullInfo | None = None
    pull_id: int = 0
    pull_node_id: str = ""


@dataclass
class DiscussionComment:
    """A top-level comment on a discussion."""

    id: int
    node_id: str
    author: str
    body: str
    created_at: datetime
    #: None until the comment is edited (then the time of the last edit).
    updated_at: datetime | None = None
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Discussion:
    """A repository discussion."""

    id: int
    node_id: str
    number: int
    title: str
    body: str
    author: str
    created_at: datetime
    labels: list[str] = field(default_factory=list)
    comments: list[DiscussionComment] = field(default_factory=list)
    #: The discussion's category, one of GitHub's defaults unless a repo made its own.
    category: str = "General"
    closed: bool = False
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    #: When its answer was chosen (None: unanswered).
    answer_chosen_at: datetime | None = None


#: The categories GitHub gives a repository when discussions are turned on.
DEFAULT_DISCUSSION_CATEGORIES = (
    "Announcements",
    "General",
    "Ideas",
    "Polls",
    "Q&A",
    "Show and tell",
)


@dataclass
class RepoFile:
    """A file on the default branch."""

    path: str
    content: bytes

    @property
    def sha(self) -> str:
        """The blob SHA, recomputed so editing ``content`` keeps it right."""
        return git_blob_sha(self.content)


@dataclass
class Repo:
    """A repository and everything the fake stores in it."""

    id: int
    node_id: str
    owner: str
    name: str
    default_branch: str = "main"
    private: bool = False
    description: str | None = None
    created_at: datetime = EPOCH
    files: dict[str, RepoFile] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    collaborators: dict[str, Permission] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    discussions: dict[int, Discussion] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    def label(self, name: str) -> Label | None:
        """Find a label by name, case-insensitively like GitHub."""
        return self.labels.get(name.lower())


@dataclass
class App:
    """A registered GitHub App."""

    app_id: int
    slug: str
    public_key_pem: str
    name: str
    owner: str
    node_id: str
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


@dataclass
class Installation:
    """An installation of an app on an account; ``repositories`` None means all."""

    id: int
    app_id: int
    account: str
    repositories: list[str] | None = None
    permissions: dict[str, str] = field(default_factory=dict)

    def covers(self, full_name: str) -> bool:
        """Whether a token of this installation may see ``owner/name``."""
        owner = full_name.split("/", 1)[0]
        if owner.lower() != self.account.lower():
            return False
        if self.repositories is None:
            return True
        return full_name.lower() in {r.lower() for r in self.repositories}


@dataclass
class AccessToken:
    """An installation access token (``ghs_…``)."""

    token: str
    installation_id: int
    expires_at: datetime
    #: Repositories (``owner/name``) the token was narrowed to; None: the installation's.
    repositories: list[str] | None = None
    #: Permissions the token was narrowed to; None: the installation's.
    permissions: dict[str, str] | None = None

    def scope(self, installation: Installation) -> Installation:
        """The installation as this token sees it: narrowed to its repositories and
        permissions, never wider than the installation itself."""
        if self.repositories is None and self.permissions is None:
            return installation
        repos = self.repositories
        if repos is not None:
            repos = [r for r in repos if installation.covers(r)]
        permissions = installation.permissions
        if self.permissions is not None:
            permissions = {k: v for k, v in self.permissions.items() if k in permissions}
        return replace(installation, repositories=repos, permissions=permissions)
