"""Review history: the reviewed changes of each repository (``review_changes``, in the
history format the reviewer models read) and how far each backfill got (``backfills``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

from core.stores.base import StoreBase, metadata, now_utc

review_changes = Table(
    "review_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(255), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("merged_at", String(32), nullable=True),
    Column("author", String(255), nullable=False),
    Column("reviewers", JSON, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("files", JSON, nullable=False),
    Column("fixes", JSON, nullable=True),
    UniqueConstraint("repo", "number", name="uq_review_change"),
)

backfills = Table(
    "backfills",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("cursor", String(255), nullable=True),
    Column("done", Boolean, nullable=False, default=False),
    Column("count", Integer, nullable=False, default=0),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class ReviewStore(StoreBase):
    """A repository's reviewed changes, and the progress of its backfills."""

    def upsert_change(self, repo: str, change: dict[str, Any]) -> None:
        """Store (or refresh) one reviewed change of a repository's history.

        ``change`` has the history format's keys: ``id`` (the PR number), ``created_at``,
        ``merged_at``, ``author``, ``reviewers``, ``title``, ``body``, ``files``, and
        optionally ``fixes`` (the issues it closed, ``[{"number", "title"}]``).
        """
        number = int(change["id"])
        values = {
            "created_at": str(change.get("created_at") or ""),
            "merged_at": change.get("merged_at"),
            "author": str(change.get("author") or ""),
            "reviewers": list(change.get("reviewers") or []),
            "title": str(change.get("title") or ""),
            "body": str(change.get("body") or ""),
            "files": list(change.get("files") or []),
            "fixes": list(change.get("fixes") or []),
        }
        with self._tx() as conn:
            where = (review_changes.c.repo == repo) & (review_changes.c.number == number)
            if conn.execute(select(review_changes.c.id).where(where)).first():
                conn.execute(update(review_changes).where(where).values(**values))
            else:
                conn.execute(insert(review_changes).values(repo=repo, number=number, **values))

    def changes_for(self, repo: str) -> list[dict[str, Any]]:
        """A repository's stored history in the history format, oldest merge first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(review_changes).where(review_changes.c.repo == repo)
            ).mappings()
            changes = [
                {
                    "id": str(r["number"]),
                    "created_at": r["created_at"],
                    "merged_at": r["merged_at"],
                    "author": r["author"],
                    "reviewers": r["reviewers"],
                    "title": r["title"],
                    "body": r["body"],
                    "files": r["files"],
                    "fixes": r["fixes"] or [],
                }
                for r in rows
            ]
        return sorted(changes, key=lambda c: (c["merged_at"] or c["created_at"], int(c["id"])))

    def change_count(self, repo: str) -> int:
        """How many reviewed changes of a repository are stored (cheap: no rows loaded)."""
        with self._tx() as conn:
            query = select(func.count()).select_from(review_changes)
            return int(conn.execute(query.where(review_changes.c.repo == repo)).scalar_one())

    def backfill_state(self, repo: str, kind: str) -> dict[str, Any] | None:
        """Where a backfill of ``kind`` for the repository got to (None: never started)."""
        with self._tx() as conn:
            row = (
                conn.execute(
                    select(backfills).where(backfills.c.repo == repo, backfills.c.kind == kind)
                )
                .mappings()
                .first()
            )
            return dict(row) if row else None

    def save_backfill_state(
        self, repo: str, kind: str, *, cursor: str | None, done: bool, count: int
    ) -> None:
        """Record a backfill's progress (so a restart resumes, never starts over)."""
        values = {"cursor": cursor, "done": done, "count": count, "updated_at": now_utc()}
        with self._tx() as conn:
            where = (backfills.c.repo == repo) & (backfills.c.kind == kind)
            if conn.execute(select(backfills.c.repo).where(where)).first():
                conn.execute(update(backfills).where(where).values(**values))
            else:
                conn.execute(insert(backfills).values(repo=repo, kind=kind, **values))
