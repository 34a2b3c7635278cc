"""The audit log (``actions``: one row per effect the bot applied or would have) and the
claims on invalid config files (``config_reports``: one report per file version).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from core.stores.base import StoreBase, metadata, now_utc

actions = Table(
    "actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One row per effect; the unique key is what makes retries idempotent.
    Column("effect_key", String(512), nullable=False, unique=True),
    Column("delivery_id", String(64), nullable=True),
    Column("installation_id", BigInteger, nullable=True),
    Column("repo", String(255), nullable=False, index=True),
    Column("number", Integer, nullable=True),
    Column("feature", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("detail", JSON, nullable=False, default=dict),
    Column("mode", String(16), nullable=False, default="live"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

config_reports = Table(
    "config_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(255), nullable=False),
    Column("path", String(255), nullable=False),
    Column("blob_sha", String(64), nullable=False),
    Column("errors", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("repo", "path", "blob_sha", name="uq_config_report_version"),
)


@dataclass(frozen=True)
class ActionRecord:
    """One effect the bot applied (or would have, in shadow mode)."""

    effect_key: str
    repo: str
    feature: str
    action: str
    number: int | None = None
    delivery_id: str | None = None
    installation_id: int | None = None
    detail: dict[str, Any] | None = None
    mode: str = "live"


class AuditStore(StoreBase):
    """The audit log and the config-report claims."""

    def has_action(self, effect_key: str) -> bool:
        """Whether this effect was already applied (or recorded in shadow mode)."""
        with self._tx() as conn:
            row = conn.execute(
                select(actions.c.id).where(actions.c.effect_key == effect_key)
            ).first()
            return row is not None

    def record_action(self, record: ActionRecord) -> bool:
        """Append to the audit log; False if the same effect was already recorded."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(actions).values(
                        effect_key=record.effect_key,
                        delivery_id=record.delivery_id,
                        installation_id=record.installation_id,
                        repo=record.repo,
                        number=record.number,
                        feature=record.feature,
                        action=record.action,
                        detail=record.detail or {},
                        mode=record.mode,
                        created_at=now_utc(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def actions_for(self, repo: str, number: int | None = None) -> list[dict[str, Any]]:
        """Audit-log rows of a repository (and item), oldest first."""
        query = select(actions).where(actions.c.repo == repo)
        if number is not None:
            query = query.where(actions.c.number == number)
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query.order_by(actions.c.id)).mappings()]

    def last_action(self, repo: str, *, feature: str) -> dict[str, Any] | None:
        """A repository's newest audit-log row of one feature (None: none)."""
        query = (
            select(actions)
            .where(actions.c.repo == repo, actions.c.feature == feature)
            .order_by(actions.c.id.desc())
            .limit(1)
        )
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
            return dict(row) if row else None

    def triage_decisions(self) -> list[dict[str, Any]]:
        """Every repository's triage decisions (repo, number, mode, detail), for
        :func:`core.live_precision.precision_by_repository`.
        """
        columns = (actions.c.repo, actions.c.number, actions.c.mode, actions.c.detail)
        query = select(*columns).where(
            actions.c.feature == "triage", actions.c.action == "decision"
        )
        with self._tx() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def claim_config_report(
        self, repo: str, path: str, blob_sha: str, *, errors: list[str]
    ) -> bool:
        """True the first time a given version of a config file is reported as invalid."""
        try:
            with self._tx() as conn:
                conn.execute(
                    insert(config_reports).values(
                        repo=repo,
                        path=path,
                        blob_sha=blob_sha,
                        errors=json.dumps(errors),
                        created_at=now_utc(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def release_config_report(self, repo: str, path: str, blob_sha: str) -> None:
        """Forget a claim whose report could not be posted, so a retry posts it."""
        with self._tx() as conn:
            conn.execute(
                delete(config_reports).where(
                    config_reports.c.repo == repo,
                    config_reports.c.path == path,
                    config_reports.c.blob_sha == blob_sha,
                )
            )
