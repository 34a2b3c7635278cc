"""Typed views of the webhook payloads Steward acts on, parsed at the boundary.

Parsing is *total*: every field Steward carries on is checked for its type and shape
(ids are positive integers that fit PostgreSQL's BIGINT, never floats, strings or
booleans; names and logins use GitHub's characters; text has no NUL), and anything else
raises :class:`PayloadError` naming the field. A malformed delivery is answered 400 at
the door, so workers only ever see values they can act on. A signed body is not a
trusted body: a misconfigured proxy, another GitHub Enterprise version or a leaked
secret all send things GitHub.com does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.accounts import is_bot as bot_rule


class PayloadError(ValueError):
    """A webhook payload lacks a field Steward needs, or has one of the wrong shape."""


#: GitHub ids are positive and, on every GitHub, below 2**63 (PostgreSQL BIGINT).
MAX_ID = 2**63 - 1
#: Owner and repository names: GitHub's characters (Enterprise allows ``_`` in logins).
NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
#: Logins of people, and of apps with their ``[bot]`` suffix.
LOGIN = re.compile(r"[A-Za-z0-9_.-]{1,100}(\[bot\])?")
#: Short words GitHub uses as values: actions, account types, associations, node ids.
WORD = re.compile(r"[A-Za-z0-9_=+/-]{1,200}")
#: A label's name: printable text (GitHub allows emoji and spaces), at most 100 chars.
MAX_LABEL = 100


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise PayloadError(f"payload has no `{path}`")
        node = node[part]
    return node


def _opt(data: Mapping[str, Any], path: str, default: Any = None) -> Any:
    try:
        value = _get(data, path)
    except PayloadError:
        return default
    return default if value is None else value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"`{where}` must be an object")
    return value


def _id(value: Any, where: str) -> int:
    """A GitHub id or number: a positive integer (not a float, string or boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise PayloadError(f"`{where}` must be a positive integer, not {value!r:.40}")
    return value


def _matching(value: Any, pattern: re.Pattern[str], where: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise PayloadError(f"`{where}` is not a valid value: {value!r:.60}")
    return value


def _text(value: Any, where: str) -> str:
    """Free text (a title, a body): a string or null, without NUL characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"`{where}` must be text")
    if "\x00" in value:
        raise PayloadError(f"`{where}` contains a NUL character")
    return value


def _word(value: Any, where: str, default: str) -> str:
    return default if value is None else _matching(value, WORD, where)


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise PayloadError(f"`{where}` must be true or false")
    return value


def label_name(value: Any, where: str = "label.name") -> str:
    """A label's name: text of 1–100 characters without control characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_LABEL
        or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value)
    ):
        raise PayloadError(f"`{where}` is not a valid label name: {value!r:.60}")
    return value


def _labels(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError(f"`{where}` must be a list")
    return tuple(label_name(_get(_object(v, where), "name"), f"{where}[].name") for v in value)


@dataclass(frozen=True)
class Actor:
    """A GitHub account (user, bot or organisation)."""

    login: str
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        """Bots by account type or by the ``[bot]`` suffix (:func:`core.accounts.is_bot`)."""
        return bot_rule(self.login, self.type)

    @classmethod
    def parse(cls, data: Any, where: str = "sender") -> Actor:
        """An actor from a ``user``/``sender``/``author`` object."""
        if not isinstance(data, Mapping) or "login" not in data:
            raise PayloadError(f"`{where}` is not an account object with a `login`")
        return cls(
            login=_matching(data["login"], LOGIN, f"{where}.login"),
            type=_word(data.get("type"), f"{where}.type", "User"),
        )


@dataclass(frozen=True)
class Repo:
    """The repository an event happened in."""

    id: int
    owner: str
    name: str

    @property
    def full_name(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Repo:
        """From a payload's ``repository`` object."""
        repo = _object(_get(data, "repository"), "repository")
        return cls(
            id=_id(_get(repo, "id"), "repository.id"),
            owner=_matching(_get(repo, "owner.login"), NAME, "repository.owner.login"),
            name=_matching(_get(repo, "name"), NAME, "repository.name"),
        )


@dataclass(frozen=True)
class Envelope:
    """What every event carries: delivery, event name, action, installation, sender."""

    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    sender: Actor | None

    @classmethod
    def parse(cls, event: str, delivery_id: str, data: Mapping[str, Any]) -> Envelope:
        """From the headers' event name and delivery id and the payload."""
        installation = _opt(data, "installation.id")
        action = data.get("action")
        sender = data.get("sender")
        return cls(
            delivery_id=delivery_id,
            event=event,
            action=None if action is None else _matching(action, WORD, "action"),
            installation_id=None if installation is None else _id(installation, "installation.id"),
            sender=None if sender is None else Actor.parse(sender),
        )


@dataclass(frozen=True)
class Item:
    """An issue, pull request or discussion as it was when the event fired."""

    kind: str  # "issue" | "pull_request" | "discussion"
    repo: Repo
    number: int
    title: str
    body: str
    author: Actor
    author_association: str
    labels: tuple[str, ...]
    node_id: str = ""
    draft: bool = False
    merged: bool = False

    @classmethod
    def issue(cls, data: Mapping[str, Any]) -> Item:
        """From an ``issues`` or ``issue_comment`` payload."""
        return cls._parse("issue", _get(data, "issue"), data)

    @classmethod
    def pull_request(cls, data: Mapping[str, Any]) -> Item:
        """From a ``pull_request`` or ``pull_request_review`` payload."""
        return cls._parse("pull_request", _get(data, "pull_request"), data)

    @classmethod
    def discussion(cls, data: Mapping[str, Any]) -> Item:
        """From a ``discussion`` or ``discussion_comment`` payload."""
        return cls._parse("discussion", _get(data, "discussion"), data)

    @classmethod
    def _parse(cls, kind: str, value: Any, data: Mapping[str, Any]) -> Item:
        obj = _object(value, kind)
        # GraphQL's discussion author is ``user`` in webhooks, like issues'.
        return cls(
            kind=kind,
            repo=Repo.parse(data),
            number=_id(_get(obj, "number"), f"{kind}.number"),
            title=_text(obj.get("title"), f"{kind}.title"),
            body=_text(obj.get("body"), f"{kind}.body"),
            author=Actor.parse(_get(obj, "user"), f"{kind}.user"),
            author_association=_word(
                obj.get("author_association"), f"{kind}.author_association", "NONE"
            ),
            labels=_labels(obj.get("labels"), f"{kind}.labels"),
            node_id=_word(obj.get("node_id"), f"{kind}.node_id", ""),
            draft=_flag(obj.get("draft"), f"{kind}.draft"),
            merged=_flag(obj.get("merged"), f"{kind}.merged") or _merged_at(obj, kind),
        )


@dataclass(frozen=True)
class Comment:
    """A comment on an issue, pull request or discussion, as the event carried it."""

    id: int
    node_id: str
    body: str
    author: Actor
    #: What it comments on: ``issue``, ``pull_request`` or ``discussion``.
    on: str

    @classmethod
    def issue_comment(cls, data: Mapping[str, Any]) -> Comment:
        """From an ``issue_comment`` payload (a pull request's ``issue`` has a
        ``pull_request`` object)."""
        issue = _object(_get(data, "issue"), "issue")
        on = "pull_request" if isinstance(issue.get("pull_request"), Mapping) else "issue"
        return cls._parse(data, on)

    @classmethod
    def discussion_comment(cls, data: Mapping[str, Any]) -> Comment:
        """From a ``discussion_comment`` payload."""
        return cls._parse(data, "discussion")

    @classmethod
    def _parse(cls, data: Mapping[str, Any], on: str) -> Comment:
        obj = _object(_get(data, "comment"), "comment")
        return cls(
            id=_id(_get(obj, "id"), "comment.id"),
            node_id=_word(obj.get("node_id"), "comment.node_id", ""),
            body=_text(obj.get("body"), "comment.body"),
            author=Actor.parse(_get(obj, "user"), "comment.user"),
            on=on,
        )


@dataclass(frozen=True)
class InstallationChange:
    """An ``installation`` or ``installation_repositories`` event."""

    installation_id: int
    account: Actor
    added: tuple[tuple[int, str], ...]
    removed: tuple[tuple[int, str], ...]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> InstallationChange:
        """From the payload; ``repositories`` count as added for ``installation.created``."""
        installation = _object(_get(data, "installation"), "installation")
        return cls(
            installation_id=_id(_get(installation, "id"), "installation.id"),
            account=Actor.parse(_get(installation, "account"), "installation.account"),
            added=_repositories(data, "repositories") + _repositories(data, "repositories_added"),
            removed=_repositories(data, "repositories_removed"),
        )


def _merged_at(obj: Mapping[str, Any], kind: str) -> bool:
    """Whether a pull request has a ``merged_at`` time (a string; null when not merged)."""
    value = obj.get("merged_at")
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"`{kind}.merged_at` must be a time or null")
    return bool(value)


def _full_name(value: Any, where: str) -> str:
    owner, slash, name = value.partition("/") if isinstance(value, str) else ("", "", "")
    if not slash or not NAME.fullmatch(owner) or not NAME.fullmatch(name):
        raise PayloadError(f"`{where}` is not an owner/name: {value!r:.60}")
    return str(value)


def _repositories(data: Mapping[str, Any], key: str) -> tuple[tuple[int, str], ...]:
    """``(id, full name)`` of an installation event's repository list."""
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError(f"`{key}` must be a list")
    repos = []
    for entry in value:
        repo = _object(entry, f"{key}[]")
        repos.append(
            (
                _id(_get(repo, "id"), f"{key}[].id"),
                _full_name(_get(repo, "full_name"), f"{key}[].full_name"),
            )
        )
    return tuple(repos)
