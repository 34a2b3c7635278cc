"""People's changes that contradict or follow up on the bot (``feedback``): what triage's
live precision and its re-judged gates learn from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Table, insert, select

from core.stores.base import StoreBase, metadata, now_utc

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(255), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("bot_action_id", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class FeedbackStore(StoreBase):
    """Recorded feedback by repository, and every repository's label changes."""

    def record_feedback(
        self, *, repo: str, number: int, kind: str, subject: str, actor: str
    ) -> None:
        """Record a human change that contradicts or follows up on the bot."""
        with self._tx() as conn:
            conn.execute(
                insert(feedback).values(
                    repo=repo,
                    number=number,
                    kind=kind,
                    subject=subject,
                    actor=actor,
                    created_at=now_utc(),
                )
            )

    def feedback_for(self, repo: str) -> list[dict[str, Any]]:
        """Feedback rows of a repository, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(feedback).where(feedback.c.repo == repo).order_by(feedback.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def label_feedback(self) -> list[dict[str, Any]]:
        """Every repository's recorded label changes by people (repo, number, kind, subject)."""
        columns = (feedback.c.repo, feedback.c.number, feedback.c.kind, feedback.c.subject)
        query = select(*columns).where(feedback.c.kind.in_(("label_added", "label_removed")))
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
