"""Time to first response (``first_responses``): when an item opened, who of its
maintainers answered first and when, and whom the follow-up job routed it to.

``routed_to`` empty means settled without routing (e.g. closed). Issues, pull requests
and discussions share numbers, so one row per repository and number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    insert,
    select,
    update,
)

from core.stores.base import StoreBase, as_utc, metadata

first_responses = Table(
    "first_responses",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("installation_id", BigInteger, nullable=True),
    Column("author", String(255), nullable=False, server_default=""),
    Column("opened_at", DateTime(timezone=True), nullable=True),
    Column("first_response_at", DateTime(timezone=True), nullable=True),
    Column("responder", String(255), nullable=True),
    Column("routed_to", String(255), nullable=True),
    Column("routed_at", DateTime(timezone=True), nullable=True),
)

_TIMES = ("opened_at", "first_response_at", "routed_at")


@dataclass(frozen=True)
class ItemFact:
    """What one event says about an item's first response: its opening (``opened_at``,
    ``author``) and/or a maintainer's response (``responder``, ``responded_at``)."""

    repo: str
    number: int
    kind: str
    installation_id: int | None = None
    author: str = ""
    opened_at: datetime | None = None
    responder: str = ""
    responded_at: datetime | None = None


def _fact_values(fact: ItemFact, row: Any) -> dict[str, Any]:
    """The columns ``fact`` sets on a new row (``row`` None) or changes on ``row``."""
    old = as_utc(dict(row), _TIMES) if row is not None else {}
    values: dict[str, Any] = {}
    if row is None:
        values.update(repo=fact.repo, number=fact.number, kind=fact.kind, author=fact.author)
        values.update(installation_id=fact.installation_id, opened_at=fact.opened_at)
    else:
        if fact.author and not old.get("author"):
            values["author"] = fact.author
        if fact.opened_at and not old.get("opened_at"):
            values["opened_at"] = fact.opened_at
        if fact.installation_id is not None and fact.installation_id != old.get("installation_id"):
            values["installation_id"] = fact.installation_id
    answered = old.get("first_response_at")
    if fact.responded_at and (answered is None or fact.responded_at < answered):
        values.update(first_response_at=fact.responded_at, responder=fact.responder)
    return values


class ResponseStore(StoreBase):
    """Items' openings and first responses, and the follow-up job's routing."""

    def note_item(self, fact: ItemFact) -> bool:
        """Record an item's opening and/or a maintainer's response (the earliest wins);
        False when the row already says everything ``fact`` does (nothing is written:
        an UPDATE with no column to set is not valid SQL)."""
        where = (first_responses.c.repo == fact.repo) & (first_responses.c.number == fact.number)
        with self._tx() as conn:
            row = conn.execute(select(first_responses).where(where)).mappings().first()
            if row is None:
                conn.execute(insert(first_responses).values(**_fact_values(fact, None)))
                return True
            changes = _fact_values(fact, row)
            if not changes:
                return False
            conn.execute(update(first_responses).where(where).values(**changes))
            return True

    def first_responses(
        self, *, unsettled: bool = False, repo: str | None = None
    ) -> list[dict[str, Any]]:
        """Every item's first-response row (``unsettled``: neither answered nor routed;
        ``repo``: only that repository's)."""
        query = select(first_responses)
        if repo is not None:
            query = query.where(first_responses.c.repo == repo)
        if unsettled:
            query = query.where(
                first_responses.c.first_response_at.is_(None),
                first_responses.c.routed_at.is_(None),
            )
        with self._tx() as conn:
            rows = conn.execute(query.order_by(first_responses.c.repo, first_responses.c.number))
            return [as_utc(dict(r), _TIMES) for r in rows.mappings()]

    def mark_routed(self, repo: str, number: int, *, to: str, at: datetime) -> None:
        """Note that the follow-up job settled an item (``to`` empty: without routing)."""
        where = (first_responses.c.repo == repo) & (first_responses.c.number == number)
        with self._tx() as conn:
            conn.execute(
                update(first_responses)
                .where(where, first_responses.c.routed_at.is_(None))
                .values(routed_to=to, routed_at=at)
            )
