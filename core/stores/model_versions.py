"""The registry of trained triage models (``model_versions``): one row per version, at
most one promoted (live) per repository; rows outlive the files retention deletes.
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
    insert,
    select,
    update,
)

from core.stores.base import StoreBase, metadata, now_utc

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(255), nullable=False, index=True),
    Column("path", String(1024), nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("fingerprint", String(128), nullable=False),
    Column("promoted", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class ModelVersionStore(StoreBase):
    """Registering, listing, promoting (and rolling back) and pruning model versions."""

    def add_model_version(
        self, repo: str, path: str, *, metrics: dict[str, Any], fingerprint: str, promoted: bool
    ) -> int:
        """Register a trained model version; promoting it demotes the previous one."""
        with self._tx() as conn:
            if promoted:
                conn.execute(
                    update(model_versions)
                    .where(model_versions.c.repo == repo)
                    .values(promoted=False)
                )
            result = conn.execute(
                insert(model_versions).values(
                    repo=repo,
                    path=path,
                    metrics=metrics,
                    fingerprint=fingerprint,
                    promoted=promoted,
                    created_at=now_utc(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def model_versions_for(self, repo: str) -> list[dict[str, Any]]:
        """Every registered version of a repository's model, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.repo == repo)
                .order_by(model_versions.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def promote_model_version(self, repo: str, version_id: int) -> None:
        """Make one version the live one (rollback is promoting an older one)."""
        with self._tx() as conn:
            conn.execute(
                update(model_versions).where(model_versions.c.repo == repo).values(promoted=False)
            )
            conn.execute(
                update(model_versions)
                .where(model_versions.c.repo == repo, model_versions.c.id == version_id)
                .values(promoted=True)
            )

    def mark_model_version_pruned(self, version_id: int) -> None:
        """Record that retention deleted a version's folder (``metrics["pruned_at"]``).

        The row stays, so the version's scores and why it was (not) promoted remain
        listed after its files are gone.
        """
        with self._tx() as conn:
            metrics = conn.execute(
                select(model_versions.c.metrics).where(model_versions.c.id == version_id)
            ).scalar()
            if metrics is None:
                return
            conn.execute(
                update(model_versions)
                .where(model_versions.c.id == version_id)
                .values(metrics={**metrics, "pruned_at": now_utc().isoformat()})
            )
