"""Each repository's collected history (``history_items``) and where its collection
stands (``history_walks``), in the database every process shares.

One row per repository and item (an issue, a pull request or a discussion; GitHub
numbers them in one sequence) holds the item's record (``workers.records.make_record``:
people's labels only, when each was applied, when it was closed, a pull request's
files; a discussion's, ``workers.history.discussion_record``, says its labellers are
inferred). A walk of the
repository's items (one per kind) keeps its resume state in ``history_walks``; a page
of records and the state after it are written in one transaction, so a walk stopped
anywhere resumes at the last page it committed and never writes an item twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.stores.base import StoreBase, metadata, now_utc

history_items = Table(
    "history_items",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    #: GitHub's times (``2024-01-01T00:00:00Z``), which sort as text.
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("record", JSON, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

history_walks = Table(
    "history_walks",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class HistoryStore(StoreBase):
    """Collected records and the resume state of their collection."""

    def save_history_page(
        self,
        repo: str,
        kind: str,
        records: Iterable[Mapping[str, Any]],
        *,
        state: Mapping[str, Any],
        updated: Mapping[int, str] | None = None,
    ) -> int:
        """Store a page of records (each replacing the item's earlier one) and the
        walk's state after it, in one transaction; returns how many items are new.

        ``updated`` maps an item's number to GitHub's ``updatedAt`` (its record's
        ``created_at`` when absent).
        """
        rows = [
            _row(repo, record, (updated or {}).get(int(record["number"]))) for record in records
        ]
        stamp = now_utc()
        with self._tx() as conn:
            numbers = [row["number"] for row in rows]
            known = _known(conn, repo, numbers)
            if rows:
                conn.execute(_upsert(conn, history_items, rows=rows, stamp=stamp))
            walk = [{"repo": repo, "kind": kind, "state": dict(state)}]
            conn.execute(_upsert(conn, history_walks, rows=walk, stamp=stamp))
        return len(set(numbers) - known)

    def history_state(self, repo: str, kind: str) -> dict[str, Any] | None:
        """The state of the repository's walk of ``kind`` (None: never started)."""
        query = select(history_walks.c.state).where(
            (history_walks.c.repo == repo) & (history_walks.c.kind == kind)
        )
        with self._tx() as conn:
            found = conn.execute(query).scalar_one_or_none()
        return dict(found) if found is not None else None

    def history_records(self, repo: str, *, kind: str | None = None) -> list[dict[str, Any]]:
        """The repository's records (of ``kind``), oldest first (by creation, number)."""
        query = select(history_items.c.record).where(history_items.c.repo == repo)
        if kind is not None:
            query = query.where(history_items.c.kind == kind)
        query = query.order_by(history_items.c.created_at, history_items.c.number)
        with self._tx() as conn:
            return [dict(row[0]) for row in conn.execute(query)]

    def history_count(self, repo: str) -> int:
        """How many items of the repository are collected."""
        query = select(func.count()).select_from(history_items)
        with self._tx() as conn:
            return int(conn.execute(query.where(history_items.c.repo == repo)).scalar_one())

    def forget_history(self, repo: str) -> int:
        """Drop the repository's records and walks (a collection from scratch follows)."""
        with self._tx() as conn:
            conn.execute(delete(history_walks).where(history_walks.c.repo == repo))
            return int(
                conn.execute(delete(history_items).where(history_items.c.repo == repo)).rowcount
            )


def _row(repo: str, record: Mapping[str, Any], updated: str | None) -> dict[str, Any]:
    return {
        "repo": repo,
        "number": int(record["number"]),
        "kind": str(record.get("kind") or "issue"),
        "created_at": str(record.get("created_at") or ""),
        "updated_at": str(updated or record.get("created_at") or ""),
        "record": dict(record),
    }


def _known(conn: Connection, repo: str, numbers: list[int]) -> set[int]:
    """Which of ``numbers`` the repository has rows for already."""
    found: set[int] = set()
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        query = select(history_items.c.number).where(
            (history_items.c.repo == repo) & history_items.c.number.in_(chunk)
        )
        found.update(int(row[0]) for row in conn.execute(query))
    return found


def _upsert(conn: Connection, table: Table, *, rows: list[dict[str, Any]], stamp: Any) -> Any:
    """``INSERT … ON CONFLICT (primary key) DO UPDATE`` of ``rows`` (PostgreSQL or SQLite)."""
    keys = [c.name for c in table.primary_key.columns]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stamped = [{**row, _stamp_column(table): stamp} for row in rows]
    statement = dialect.insert(table).values(stamped)
    changed = {c.name: statement.excluded[c.name] for c in table.c if c.name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changed)


def _stamp_column(table: Table) -> str:
    return "stored_at" if table is history_items else "updated_at"
