"""Pure decisions of the follow-up feature: what counts as an answer, which items are
due, who may be routed to, and the comment."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from core.accounts import is_bot, is_bot_user
from core.markdown import mention
from core.store import ItemFact

FOLLOWUP_MARKER = "<!-- steward:followup -->"
#: ``author_association`` values of people who maintain the repository.
MAINTAINER_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
#: Collaborator permissions that make someone a maintainer for routing.
MAINTAINER_PERMISSIONS = ("triage", "push", "maintain", "admin")


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time from a payload (``Z`` or an offset), None when empty or broken."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_maintainer_answer(*, actor: str, author: str, association: str) -> bool:
    """Whether an answer counts: a maintainer's (by association), not the author's, no bot."""
    if not actor or actor.lower() == author.lower() or is_bot(actor):
        return False
    return association.upper() in MAINTAINER_ASSOCIATIONS


def item_fact(where: tuple[str, int, str], event: Mapping[str, Any]) -> ItemFact | None:
    """The fact one event records for item ``(repo, number, kind)``; None when it says
    nothing (an answer that is no maintainer's, on an item whose opening we missed)."""
    repo, number, kind = where
    author, actor = str(event.get("author") or ""), str(event.get("actor") or "")
    fact = ItemFact(
        repo=repo,
        number=number,
        kind=kind,
        installation_id=event.get("installation_id"),
        author=author,
        opened_at=parse_time(str(event.get("opened_at") or "")),
    )
    if not actor:
        return fact
    association = str(event.get("association") or "NONE")
    if not is_maintainer_answer(actor=actor, author=author, association=association):
        return fact if fact.opened_at else None
    at = parse_time(str(event.get("at") or ""))
    return dataclasses.replace(fact, responder=actor, responded_at=at)


def due_for_followup(
    records: Iterable[Mapping[str, Any]], now: datetime, after_hours: int
) -> list[Mapping[str, Any]]:
    """Items nobody answered or routed yet, opened at least ``after_hours`` before ``now``."""
    deadline = now - timedelta(hours=after_hours)
    return [
        r
        for r in records
        if r.get("first_response_at") is None
        and r.get("routed_at") is None
        and r.get("opened_at") is not None
        and r["opened_at"] <= deadline
    ]


def maintainers(collaborators: Iterable[Mapping[str, Any]]) -> list[str]:
    """Collaborators with triage, write, maintain or admin permission (no bots)."""
    found = []
    for person in collaborators:
        permissions = person.get("permissions") or {}
        login = str(person.get("login") or "")
        allowed = any(permissions.get(p) for p in MAINTAINER_PERMISSIONS)
        if allowed and not is_bot_user(person):
            found.append(login)
    return found


def pick(ranked: Sequence[str], *, author: str) -> str | None:
    """The first ranked person who is not the author (the ranking already respects
    opt-outs, availability and load)."""
    for login in ranked:
        if login.lower() != author.lower():
            return login
    return None


def least_loaded(
    allowed: Iterable[str], *, load: Mapping[str, float], excluded: Iterable[str]
) -> str | None:
    """When no history matches: the allowed person with the least open load (then by
    login), leaving out ``excluded`` (the author, opted-out, busy and never-listed)."""
    left_out = {x.lower() for x in excluded}
    candidates = [p for p in allowed if p.lower() not in left_out]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (load.get(p, load.get(p.lower(), 0.0)), p.lower()))


def routed_load(records: Iterable[Mapping[str, Any]], *, repo: str) -> dict[str, float]:
    """Items routed to each person and still unanswered: one open request each."""
    counts: dict[str, float] = {}
    for r in records:
        who = r.get("routed_to")
        if r.get("repo") == repo and who and r.get("first_response_at") is None:
            counts[str(who).lower()] = counts.get(str(who).lower(), 0.0) + 1.0
    return counts


def add_load(base: Mapping[str, float], more: Mapping[str, float]) -> dict[str, float]:
    """Open requests of both mappings (logins compared in lower case), summed."""
    total = {k.lower(): float(v) for k, v in base.items()}
    for login, extra in more.items():
        total[login.lower()] = total.get(login.lower(), 0.0) + extra
    return total


def effect_key(full: str, number: int) -> str:
    """Audit-log key: an item is routed at most once."""
    return f"followup:{full}#{number}"


def followup_comment(login: str, *, hours: int, kind: str) -> str:
    """The `mention` comment on an item nobody answered in ``hours``."""
    what = {"pull_request": "pull request", "discussion": "discussion"}.get(kind, "issue")
    return (
        f"{mention(login)}, this {what} has had no reply from a maintainer for {hours} hours; "
        f"you know this part of the project best. Could you take a look?\n\n{FOLLOWUP_MARKER}"
    )
