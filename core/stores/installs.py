"""Where Steward is installed: ``installations``, the ``repositories`` each can see, and
the ``people`` who opted out of being suggested.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from core.stores.base import StoreBase, metadata, now_utc

installations = Table(
    "installations",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_login", String(255), nullable=False),
    Column("account_type", String(32), nullable=False, default="User"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
)

repositories = Table(
    "repositories",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("installation_id", BigInteger, nullable=False, index=True),
    Column("full_name", String(255), nullable=False, index=True),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True), nullable=True),
)

# Kept for later features: who may be asked, and whether they opted out.
people = Table(
    "people",
    metadata,
    Column("login", String(255), primary_key=True),
    Column("opted_out", Boolean, nullable=False, default=False),
)


class InstallStore(StoreBase):
    """Installations, their repositories (removals keep the history) and opt-outs."""

    def upsert_installation(self, installation_id: int, login: str, account_type: str) -> None:
        """Record an installation (again, if it was deleted and re-created)."""
        with self._tx() as conn:
            row = conn.execute(
                select(installations.c.id).where(installations.c.id == installation_id)
            ).first()
            values = {"account_login": login, "account_type": account_type, "deleted_at": None}
            if row:
                conn.execute(
                    update(installations)
                    .where(installations.c.id == installation_id)
                    .values(**values)
                )
            else:
                conn.execute(
                    insert(installations).values(id=installation_id, created_at=now_utc(), **values)
                )

    def delete_installation(self, installation_id: int) -> None:
        """Mark an installation and its repositories as gone (history is kept)."""
        with self._tx() as conn:
            conn.execute(
                update(installations)
                .where(installations.c.id == installation_id)
                .values(deleted_at=now_utc())
            )
            conn.execute(
                update(repositories)
                .where(repositories.c.installation_id == installation_id)
                .values(removed_at=now_utc())
            )

    def add_repositories(self, installation_id: int, repos: Iterable[tuple[int, str]]) -> None:
        """Record repositories an installation can see."""
        with self._tx() as conn:
            for repo_id, full_name in repos:
                conn.execute(delete(repositories).where(repositories.c.id == repo_id))
                conn.execute(
                    insert(repositories).values(
                        id=repo_id,
                        installation_id=installation_id,
                        full_name=full_name,
                        added_at=now_utc(),
                    )
                )

    def remove_repositories(self, repo_ids: Iterable[int]) -> None:
        """Mark repositories as no longer part of the installation."""
        with self._tx() as conn:
            for repo_id in repo_ids:
                conn.execute(
                    update(repositories)
                    .where(repositories.c.id == repo_id)
                    .values(removed_at=now_utc())
                )

    def active_repositories(self, installation_id: int) -> list[str]:
        """Full names of the installation's repositories, sorted."""
        with self._tx() as conn:
            rows = conn.execute(
                select(repositories.c.full_name).where(
                    repositories.c.installation_id == installation_id,
                    repositories.c.removed_at.is_(None),
                )
            )
            return sorted(r[0] for r in rows)

    def all_active_repositories(self) -> list[tuple[int, str]]:
        """``(installation id, full name)`` of every repository not removed, sorted."""
        with self._tx() as conn:
            rows = conn.execute(
                select(repositories.c.installation_id, repositories.c.full_name).where(
                    repositories.c.removed_at.is_(None)
                )
            )
            return sorted((int(r[0]), str(r[1])) for r in rows)

    def installation(self, installation_id: int) -> dict[str, Any] | None:
        """An installation row as a dict, or None."""
        with self._tx() as conn:
            row = (
                conn.execute(select(installations).where(installations.c.id == installation_id))
                .mappings()
                .first()
            )
            return dict(row) if row else None

    def set_opt_out(self, login: str, opted_out: bool) -> None:
        """Record that a person does (not) want review or issue suggestions."""
        key = login.lower().lstrip("@")
        with self._tx() as conn:
            conn.execute(delete(people).where(people.c.login == key))
            conn.execute(insert(people).values(login=key, opted_out=opted_out))

    def opted_out(self) -> set[str]:
        """Logins (lower case) that asked never to be suggested."""
        with self._tx() as conn:
            rows = conn.execute(select(people.c.login).where(people.c.opted_out.is_(True)))
            return {r[0] for r in rows}
