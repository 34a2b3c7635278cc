"""Durable state over SQLAlchemy: installations, repositories, audit log, feedback.

``DATABASE_URL`` unset means SQLite in the data directory; PostgreSQL when set. The
schema is created and upgraded by Alembic (``core/migrations``); :func:`open_store`
runs the migrations so a fresh deployment needs no manual step.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

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

# Kept for later features: who may be asked, and whether they opted out.
people = Table(
    "people",
    metadata,
    Column("login", String(255), primary_key=True),
    Column("opted_out", Boolean, nullable=False, default=False),
)


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

# The semantic index: one embedding per item and encoder (``model``); ``digest`` is the
# hash of the text it was made from, so an edited item is embedded again.
item_vectors = Table(
    "item_vectors",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("model", String(255), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("digest", String(40), nullable=False),
    Column("vector", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
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

label_gates = Table(
    "label_gates",
    metadata,
    Column("repo", String(255), primary_key=True),
    # What the gate is for: "issue", "pull_request" or "discussion".
    Column("kind", String(32), primary_key=True),
    Column("label", String(255), primary_key=True),
    # Which classifier was measured: "nearest-neighbour" or "model".
    Column("source", String(32), nullable=False),
    Column("live", Boolean, nullable=False, default=False),
    Column("gate", JSON, nullable=False),
    # When ``live`` last changed (promotion, demotion, a new measurement).
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

triage_profiles = Table(
    "triage_profiles",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("profile", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Time to first response: when an item opened, who of its maintainers answered first
# and when, and whom the follow-up job routed it to (``routed_to`` empty: settled
# without routing, e.g. closed). Issues, pull requests and discussions share numbers.
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

#: Signed-in dashboard sessions: the cookie carries only a random id; its SHA-256 is the
#: key here, so a database read yields no usable cookie. ``token`` is the person's GitHub
#: token, encrypted with a key derived from the session secret, for re-reading access.
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


def now_utc() -> datetime:
    """The current time, timezone-aware (stored as UTC)."""
    return datetime.now(UTC)


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


class Store:
    """Typed access to the durable tables; every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

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

    def installation(self, installation_id: int) -> dict[str, Any] | None:
        """An installation row as a dict, or None."""
        with self._tx() as conn:
            row = (
                conn.execute(select(installations).where(installations.c.id == installation_id))
                .mappings()
                .first()
            )
            return dict(row) if row else None

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

    def label_feedback(self) -> list[dict[str, Any]]:
        """Every repository's recorded label changes by people (repo, number, kind, subject)."""
        columns = (feedback.c.repo, feedback.c.number, feedback.c.kind, feedback.c.subject)
        query = select(*columns).where(feedback.c.kind.in_(("label_added", "label_removed")))
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

    def upsert_vectors(self, repo: str, model: str, rows: Iterable[tuple[str, str, bytes]]) -> None:
        """Store embeddings ``(key, text digest, float32 bytes)`` made by encoder ``model``."""
        stamp = now_utc()
        with self._tx() as conn:
            for key, digest, vector in rows:
                where = (
                    (item_vectors.c.repo == repo)
                    & (item_vectors.c.model == model)
                    & (item_vectors.c.key == key)
                )
                values = {"digest": digest, "vector": vector, "updated_at": stamp}
                if conn.execute(update(item_vectors).where(where).values(**values)).rowcount:
                    continue
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(item_vectors).values(repo=repo, model=model, key=key, **values)
                        )
                except IntegrityError:  # another worker stored it first: keep theirs
                    continue

    def vectors_for(
        self, repo: str, model: str, keys: Iterable[str] | None = None
    ) -> dict[str, tuple[str, bytes]]:
        """``key → (digest, float32 bytes)`` of a repository's stored embeddings.

        ``keys`` limits the answer to those items (None: every item of ``model``).
        """
        query = select(item_vectors.c.key, item_vectors.c.digest, item_vectors.c.vector).where(
            (item_vectors.c.repo == repo) & (item_vectors.c.model == model)
        )
        wanted = None if keys is None else list(dict.fromkeys(keys))
        out: dict[str, tuple[str, bytes]] = {}
        with self._tx() as conn:
            for chunk in _chunks(wanted) if wanted is not None else [None]:
                scoped = query if chunk is None else query.where(item_vectors.c.key.in_(chunk))
                for key, digest, vector in conn.execute(scoped):
                    out[str(key)] = (str(digest), bytes(vector))
        return out

    def vector_count(self, repo: str, model: str) -> int:
        """How many items of ``repo`` encoder ``model`` embedded (no rows loaded)."""
        from sqlalchemy import func

        where = (item_vectors.c.repo == repo) & (item_vectors.c.model == model)
        with self._tx() as conn:
            query = select(func.count()).select_from(item_vectors).where(where)
            return int(conn.execute(query).scalar_one())

    def sample_vectors(self, repo: str, model: str, *, limit: int) -> list[bytes]:
        """Up to ``limit`` stored embeddings of ``repo`` by ``model`` (float32 bytes), the
        same rows on every call while nothing changes (ordered by key)."""
        where = (item_vectors.c.repo == repo) & (item_vectors.c.model == model)
        query = select(item_vectors.c.vector).where(where).order_by(item_vectors.c.key)
        with self._tx() as conn:
            return [bytes(row[0]) for row in conn.execute(query.limit(limit))]

    def prune_vectors(self, repo: str, *, keep_model: str) -> int:
        """Drop a repository's embeddings made by other encoders; how many were dropped."""
        with self._tx() as conn:
            result = conn.execute(
                delete(item_vectors).where(
                    (item_vectors.c.repo == repo) & (item_vectors.c.model != keep_model)
                )
            )
            return int(result.rowcount or 0)

    def change_count(self, repo: str) -> int:
        """How many reviewed changes of a repository are stored (cheap: no rows loaded)."""
        from sqlalchemy import func

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

    def replace_gates(
        self, repo: str, *, source: str, gates: Iterable[dict[str, Any]], kind: str = "issue"
    ) -> None:
        """Make ``gates`` (``LabelGate.to_json()`` dicts) the repository's gates for ``kind``.

        A label whose live state is unchanged keeps its ``changed_at``; labels no longer
        gated are dropped.
        """
        now = now_utc()
        with self._tx() as conn:
            where = (label_gates.c.repo == repo) & (label_gates.c.kind == kind)
            before = {
                r["label"]: r for r in conn.execute(select(label_gates).where(where)).mappings()
            }
            conn.execute(delete(label_gates).where(where))
            for gate in gates:
                old = before.get(gate["label"])
                same = old is not None and bool(old["live"]) == bool(gate["live"])
                conn.execute(
                    insert(label_gates).values(
                        repo=repo,
                        kind=kind,
                        label=gate["label"],
                        source=source,
                        live=bool(gate["live"]),
                        gate=gate,
                        changed_at=old["changed_at"] if same and old else now,
                        updated_at=now,
                    )
                )

    def update_gate(self, repo: str, gate: dict[str, Any], *, kind: str = "issue") -> None:
        """Store one label's re-judged gate; ``changed_at`` moves only when its live state
        does (it says since when the label is live or in shadow).
        """
        where = (
            (label_gates.c.repo == repo)
            & (label_gates.c.kind == kind)
            & (label_gates.c.label == gate["label"])
        )
        values: dict[str, Any] = {"live": bool(gate["live"]), "gate": gate, "updated_at": now_utc()}
        with self._tx() as conn:
            before = conn.execute(select(label_gates.c.live).where(where)).first()
            if before is not None and bool(before[0]) != bool(gate["live"]):
                values["changed_at"] = values["updated_at"]
            conn.execute(update(label_gates).where(where).values(**values))

    def gates_for(self, repo: str, kind: str | None = None) -> list[dict[str, Any]]:
        """A repository's gated labels (of one ``kind``, or all): ``kind``, ``label``,
        ``source``, ``live``, ``gate`` and times.
        """
        query = select(label_gates).where(label_gates.c.repo == repo)
        if kind is not None:
            query = query.where(label_gates.c.kind == kind)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(label_gates.c.kind, label_gates.c.label))
            return [dict(r) for r in rows.mappings()]

    def save_profile(self, repo: str, profile: dict[str, Any]) -> None:
        """Store the repository's triage profile (taxonomy, bootstrap summary)."""
        with self._tx() as conn:
            where = triage_profiles.c.repo == repo
            values = {"profile": profile, "updated_at": now_utc()}
            if conn.execute(select(triage_profiles.c.repo).where(where)).first():
                conn.execute(update(triage_profiles).where(where).values(**values))
            else:
                conn.execute(insert(triage_profiles).values(repo=repo, **values))

    def profile_for(self, repo: str) -> dict[str, Any] | None:
        """The repository's triage profile, with ``updated_at`` (None: not bootstrapped)."""
        with self._tx() as conn:
            row = (
                conn.execute(select(triage_profiles).where(triage_profiles.c.repo == repo))
                .mappings()
                .first()
            )
            return {**row["profile"], "updated_at": row["updated_at"]} if row else None

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

    def all_active_repositories(self) -> list[tuple[int, str]]:
        """``(installation id, full name)`` of every repository not removed, sorted."""
        with self._tx() as conn:
            rows = conn.execute(
                select(repositories.c.installation_id, repositories.c.full_name).where(
                    repositories.c.removed_at.is_(None)
                )
            )
            return sorted((int(r[0]), str(r[1])) for r in rows)

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

    def note_item(self, fact: ItemFact) -> None:
        """Record an item's opening and/or a maintainer's response (the earliest wins)."""
        where = (first_responses.c.repo == fact.repo) & (first_responses.c.number == fact.number)
        with self._tx() as conn:
            row = conn.execute(select(first_responses).where(where)).mappings().first()
            if row is None:
                conn.execute(insert(first_responses).values(**_fact_values(fact, None)))
            else:
                conn.execute(update(first_responses).where(where).values(**_fact_values(fact, row)))

    def first_responses(self, *, unsettled: bool = False) -> list[dict[str, Any]]:
        """Every item's first-response row (``unsettled``: neither answered nor routed)."""
        query = select(first_responses)
        if unsettled:
            query = query.where(
                first_responses.c.first_response_at.is_(None),
                first_responses.c.routed_at.is_(None),
            )
        with self._tx() as conn:
            rows = conn.execute(query.order_by(first_responses.c.repo, first_responses.c.number))
            return [_aware(dict(r)) for r in rows.mappings()]

    def mark_routed(self, repo: str, number: int, *, to: str, at: datetime) -> None:
        """Note that the follow-up job settled an item (``to`` empty: without routing)."""
        where = (first_responses.c.repo == repo) & (first_responses.c.number == number)
        with self._tx() as conn:
            conn.execute(
                update(first_responses)
                .where(where, first_responses.c.routed_at.is_(None))
                .values(routed_to=to, routed_at=at)
            )

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
            found = DashboardSession(**_aware(dict(row)))
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

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(select(1))


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


_TIMES = ("opened_at", "first_response_at", "routed_at", "checked_at", "expires_at")


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite returns naive datetimes; every stored time is UTC."""
    for name in _TIMES:
        value = row.get(name)
        if isinstance(value, datetime) and value.tzinfo is None:
            row[name] = value.replace(tzinfo=UTC)
    return row


def _fact_values(fact: ItemFact, row: Any) -> dict[str, Any]:
    """The columns ``fact`` sets on a new row (``row`` None) or changes on ``row``."""
    old = _aware(dict(row)) if row is not None else {}
    values: dict[str, Any] = {}
    if row is None:
        values.update(repo=fact.repo, number=fact.number, kind=fact.kind, author=fact.author)
        values.update(installation_id=fact.installation_id, opened_at=fact.opened_at)
    else:
        if fact.author and not old.get("author"):
            values["author"] = fact.author
        if fact.opened_at and not old.get("opened_at"):
            values["opened_at"] = fact.opened_at
        if fact.installation_id is not None:
            values["installation_id"] = fact.installation_id
    answered = old.get("first_response_at")
    if fact.responded_at and (answered is None or fact.responded_at < answered):
        values.update(first_response_at=fact.responded_at, responder=fact.responder)
    return values


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """``items`` in slices short enough for any database's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets its folder created and a busy timeout."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"timeout": 30}, pool_pre_ping=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_store(url: str) -> Store:
    """Connect, migrate and return the store."""
    engine = make_engine(url)
    migrate(engine)
    return Store(engine)
