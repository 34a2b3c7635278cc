"""Semantic matching in the bot, pure parts: item keys, the texts embedded, who counts as
a returning contributor, which open issues may be suggested, and what the bot says.

The ranking itself lives in :mod:`models.reviewers.work`; this module turns GitHub's
objects into its inputs and its output into one comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.accounts import is_bot
from core.markdown import inert, mention, spans
from models.matching import embedding_text
from models.reviewers.requests import indexed_text
from workers.semantic import item_key

RECOMMEND_MARKER = "<!-- steward:recommend -->"
#: Open issues read at most when looking for work (newest first): a list people can act on.
MAX_OPEN_ISSUES = 500
#: Labels that say an issue is not open for anyone to pick up.
BLOCKED_LABELS = frozenset(
    {"blocked", "needs design", "needs-design", "on hold", "on-hold", "wontfix", "duplicate"}
)


def change_text(change: Mapping[str, Any]) -> str:
    """The text a stored merged change is embedded from (fixed issues' titles included)."""
    record = indexed_text(change)
    return embedding_text(
        str(record.get("title") or ""), str(record.get("body") or ""), record.get("files") or []
    )


def history_texts(changes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``pull:N → text`` for a repository's stored merged changes."""
    return {item_key("pull_request", int(c["id"])): change_text(c) for c in changes}


def is_returning(author: str, merged_numbers: Iterable[int], this: int) -> bool:
    """True when ``author`` had a pull request merged before this one (``this``)."""
    return bool(author) and any(number != this for number in merged_numbers)


def involved_changes(changes: Sequence[Mapping[str, Any]], login: str) -> list[Mapping[str, Any]]:
    """Stored changes ``login`` authored or reviewed (case-insensitive)."""
    name = login.lower()
    return [
        c
        for c in changes
        if str(c.get("author") or "").lower() == name
        or name in {str(r).lower() for r in c.get("reviewers") or []}
    ]


def is_open_work(issue: Mapping[str, Any], login: str) -> bool:
    """An open issue someone could pick up: not a pull request, not taken by another
    person, not locked or labelled as blocked."""
    if "pull_request" in issue or issue.get("state", "open") != "open" or issue.get("locked"):
        return False
    assignees = {str(a.get("login") or "").lower() for a in issue.get("assignees") or []}
    if assignees - {login.lower()}:
        return False
    labels = {str(label.get("name") or "").lower() for label in issue.get("labels") or []}
    return not labels & BLOCKED_LABELS


def recommend_comment(login: str, lines: Sequence[tuple[int, str, str]]) -> str:
    """The after-merge comment: ``(number, title, reason)`` per suggested issue (titles
    and reasons shown inert; only the contributor is mentioned)."""
    items = "\n".join(
        f"- #{int(number)} {inert(title, limit=200)} — {spans(reason, limit=200)}"
        for number, title, reason in lines
    )
    return (
        f"Thanks for another contribution, {mention(login)}! If you are looking for "
        "something next, "
        f"these open issues are close to what you worked on:\n\n{items}\n\n"
        "(Steward suggests these from the repository's history; nobody is assigned.)\n\n"
        f"{RECOMMEND_MARKER}"
    )


def can_receive(login: str, account_type: str, opted_out: Iterable[str]) -> bool:
    """Bots and people who opted out of suggestions get no recommendations."""
    return not is_bot(login, account_type) and login.lower() not in {o.lower() for o in opted_out}
