"""GitHub's objects as the reviewer library reads them (pure): a merged pull request as a
review-history record, who reviewed it, which issues it closed, everyone's open review
requests for the load rule, and which collaborators may review.

The bot (reviewer suggestions, people for issues, commands, follow-up and work
recommendations) builds its rankers' inputs with these; ranking itself is
:mod:`models.reviewers.index`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.accounts import is_bot_user
from models.reviewers.constraints import Request

REVIEW_STATES = frozenset({"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"})


def reviewers_from(reviews: Iterable[Mapping[str, Any]], author: str) -> list[str]:
    """People who reviewed a pull request (not its author, not bots), first review first."""
    seen: dict[str, None] = {}
    for review in reviews:
        user = review.get("user") or {}
        login = str(user.get("login") or "")
        if not login or login == author or is_bot_user(user):
            continue
        if str(review.get("state", "")).upper() in REVIEW_STATES:
            seen.setdefault(login, None)
    return list(seen)


_CLOSING = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+(?:([\w.-]+/[\w.-]+))?#(\d+)",
    re.IGNORECASE,
)


def closing_references(text: str, repo_full_name: str) -> list[int]:
    """Issue numbers a pull request closes with GitHub's keywords (``Fixes #12``).

    References to another repository (``other/repo#3``) are left out.
    """
    numbers: dict[int, None] = {}
    for match in _CLOSING.finditer(text or ""):
        target = match.group(1)
        if target is None or target.lower() == repo_full_name.lower():
            numbers.setdefault(int(match.group(2)), None)
    return list(numbers)


def indexed_text(change: Mapping[str, Any]) -> dict[str, Any]:
    """A stored change as the index reads it: fixed issues' titles join its body.

    So people who fixed issues about a topic are found for new issues about it.
    """
    fixed = " ".join(str(f.get("title") or "") for f in change.get("fixes") or [])
    if not fixed:
        return dict(change)
    return {**change, "body": f"{change.get('body') or ''}\n{fixed}".strip()}


def change_record(
    pull: Mapping[str, Any],
    *,
    reviewers: Sequence[str],
    files: Sequence[str],
    fixes: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One merged pull request in the review-history format."""
    return {
        "id": str(pull["number"]),
        "created_at": pull.get("created_at") or "",
        "merged_at": pull.get("merged_at"),
        "author": str((pull.get("user") or {}).get("login") or ""),
        "reviewers": list(reviewers),
        "title": str(pull.get("title") or ""),
        "body": str(pull.get("body") or ""),
        "files": list(files),
        "fixes": [dict(f) for f in fixes],
    }


def review_requests(
    open_pulls: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]]
) -> list[Request]:
    """Everyone's review requests as the load rule reads them: each open pull request's
    requested reviewers (still open) and each stored merged change's reviewers (closed at
    its merge, so recent reviews still weigh and old ones fade)."""
    from models.reviewers.data import parse_time

    requests = [
        Request(str(user.get("login", "")), parse_time(pull.get("created_at")) or 0.0)
        for pull in open_pulls
        for user in pull.get("requested_reviewers") or []
    ]
    for change in history:
        created = parse_time(change.get("created_at")) or 0.0
        merged = parse_time(change.get("merged_at")) or created
        requests.extend(Request(str(r), created, merged) for r in change.get("reviewers") or [])
    return requests


def writers(collaborators: Iterable[Mapping[str, Any]]) -> list[str]:
    """Collaborators who can review: push, maintain or admin permission, not bots."""
    allowed = []
    for person in collaborators:
        permissions = person.get("permissions") or {}
        can_push = any(permissions.get(p) for p in ("push", "maintain", "admin"))
        login = str(person.get("login") or "")
        if can_push and not is_bot_user(person):
            allowed.append(login)
    return allowed
