"""Forgetting a repository once its retention period is over: which repositories were
removed (uninstalled, or taken out of an installation) long enough ago, and deleting
every row any concern keeps about one of them.

Every table that names a repository does so in a ``repo`` column (``owner/name``), so
forgetting one reads :data:`core.stores.base.metadata` rather than a list to keep in
step: a concern added later is forgotten too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from core.stores.base import StoreBase, metadata
from core.stores.installs import installations, repositories


class RetentionStore(StoreBase):
    """Which removed repositories are due to be forgotten, and forgetting one."""

    def repositories_to_forget(self, removed_before: datetime) -> list[str]:
        """Full names of repositories removed before ``removed_before`` (their
        installation deleted, or they were taken out of it) and not installed again
        since, sorted.
        """
        removed = (repositories.c.removed_at.is_not(None)) & (
            repositories.c.removed_at < removed_before
        )
        gone = select(installations.c.id).where(
            installations.c.deleted_at.is_not(None),
            installations.c.deleted_at < removed_before,
        )
        with self._tx() as conn:
            candidates = {
                str(r[0])
                for r in conn.execute(
                    select(repositories.c.full_name).where(
                        removed | repositories.c.installation_id.in_(gone)
                    )
                )
            }
            active = {
                str(r[0]).lower()
                for r in conn.execute(
                    select(repositories.c.full_name)
                    .join(installations, installations.c.id == repositories.c.installation_id)
                    .where(
                        repositories.c.removed_at.is_(None), installations.c.deleted_at.is_(None)
                    )
                )
            }
        return sorted(name for name in candidates if name.lower() not in active)

    def forget_repository(self, full_name: str) -> dict[str, int]:
        """Delete every row about ``full_name`` from every table that names a
        repository, and its ``repositories`` rows; ``{table: rows deleted}``.
        """
        deleted: dict[str, int] = {}
        with self._tx() as conn:
            for table in metadata.sorted_tables:
                if "repo" not in table.c:
                    continue
                count = conn.execute(
                    select(func.count()).select_from(table).where(table.c.repo == full_name)
                ).scalar_one()
                if count:
                    conn.execute(delete(table).where(table.c.repo == full_name))
                    deleted[table.name] = int(count)
            gone = conn.execute(
                delete(repositories).where(repositories.c.full_name == full_name)
            ).rowcount
            if gone:
                deleted["repositories"] = int(gone)
        return deleted
