"""Signed-in dashboard sessions (``dashboard_sessions``).

The cookie carries only a random id; its SHA-256 is the key here, so a database read
yields no usable cookie. ``token`` is the person's GitHub token, encrypted with a key
derived from the session secret, for re-reading access.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, String, Table, Text, delete, insert, select, update

from core.stores.base import StoreBase, as_utc, metadata

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("login", String(255), nullable=False),
    Column("access", JSON, nullable=False),
    Column("token", Text, nullable=True),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

_TIMES = ("checked_at", "expires_at")


@dataclass(frozen=True)
class DashboardSession:
    """A row of ``dashboard_sessions``: who signed in, what they reach, and when that was
    last asked of GitHub."""

    id_hash: str
    login: str
    #: ``[installation id, account login, [full names]]`` per installation.
    access: list[Any]
    token: str | None
    checked_at: datetime
    expires_at: datetime


class SessionStore(StoreBase):
    """Saving, reading (expiry enforced), ending and pruning dashboard sessions."""

    def save_dashboard_session(self, row: DashboardSession) -> None:
        """Store a new dashboard session, or its re-read access (same ``id_hash``)."""
        values = dataclasses.asdict(row)
        where = dashboard_sessions.c.id_hash == row.id_hash
        with self._tx() as conn:
            if conn.execute(select(dashboard_sessions.c.id_hash).where(where)).first():
                conn.execute(update(dashboard_sessions).where(where).values(**values))
            else:
                conn.execute(insert(dashboard_sessions).values(**values))

    def dashboard_session(self, id_hash: str, *, now: datetime) -> DashboardSession | None:
        """The session with ``id_hash`` unless it expired (expired ones are deleted)."""
        where = dashboard_sessions.c.id_hash == id_hash
        with self._tx() as conn:
            row = conn.execute(select(dashboard_sessions).where(where)).mappings().first()
            if row is None:
                return None
            found = DashboardSession(**as_utc(dict(row), _TIMES))
            if found.expires_at <= now:
                conn.execute(delete(dashboard_sessions).where(where))
                return None
            return found

    def end_dashboard_session(self, id_hash: str) -> None:
        """Sign a session out (the cookie stops working at once, everywhere)."""
        with self._tx() as conn:
            conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.id_hash == id_hash))

    def prune_dashboard_sessions(self, *, now: datetime) -> int:
        """Delete expired sessions; how many went."""
        with self._tx() as conn:
            gone = conn.execute(
                delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now)
            )
            return int(gone.rowcount or 0)
