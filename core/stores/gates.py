"""Triage's per-repository state: the gate of each label and kind of item
(``label_gates``: live or shadow, and the measurement behind it) and the triage profile
(``triage_profiles``: taxonomy and bootstrap summary).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
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


class GateStore(StoreBase):
    """A repository's label gates (replaced by a measurement, re-judged one by one) and
    its triage profile."""

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
