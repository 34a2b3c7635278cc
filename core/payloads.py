"""Typed views of the webhook payloads Steward acts on, parsed at the boundary.

Parsing raises :class:`PayloadError` with the missing field's path, so a malformed
delivery is answered 400 instead of failing deep inside a handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class PayloadError(ValueError):
    """A webhook payload lacks a field Steward needs."""


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


@dataclass(frozen=True)
class Actor:
    """A GitHub account (user, bot or organisation)."""

    login: str
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        """Bots by account type or by the ``[bot]`` suffix GitHub gives app accounts."""
        return self.type == "Bot" or self.login.endswith("[bot]")

    @classmethod
    def parse(cls, data: Any) -> Actor:
        """An actor from a ``user``/``sender``/``author`` object."""
        if not isinstance(data, Mapping) or "login" not in data:
            raise PayloadError("account object without `login`")
        return cls(login=str(data["login"]), type=str(data.get("type") or "User"))


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
        repo = _get(data, "repository")
        return cls(
            id=int(_get(repo, "id")), owner=str(_get(repo, "owner.login")), name=str(repo["name"])
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
        sender = data.get("sender")
        return cls(
            delivery_id=delivery_id,
            event=event,
            action=data.get("action"),
            installation_id=int(installation) if installation is not None else None,
            sender=Actor.parse(sender) if isinstance(sender, Mapping) else None,
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
    def _parse(cls, kind: str, obj: Mapping[str, Any], data: Mapping[str, Any]) -> Item:
        labels = tuple(str(label["name"]) for label in obj.get("labels") or [] if "name" in label)
        return cls(
            kind=kind,
            repo=Repo.parse(data),
            number=int(_get(obj, "number")),
            title=str(obj.get("title") or ""),
            body=str(obj.get("body") or ""),
            author=Actor.parse(_get(obj, "user")),
            author_association=str(obj.get("author_association") or "NONE"),
            labels=labels,
            node_id=str(obj.get("node_id") or ""),
            draft=bool(obj.get("draft", False)),
            merged=bool(obj.get("merged", False)),
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
        installation = _get(data, "installation")

        def repos(key: str) -> tuple[tuple[int, str], ...]:
            return tuple(
                (int(r["id"]), str(r["full_name"])) for r in data.get(key) or [] if "id" in r
            )

        return cls(
            installation_id=int(_get(installation, "id")),
            account=Actor.parse(_get(installation, "account")),
            added=repos("repositories") + repos("repositories_added"),
            removed=repos("repositories_removed"),
        )
