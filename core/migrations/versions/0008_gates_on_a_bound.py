"""Gates judged on a lower confidence bound: a stored live gate whose counts do not
reach the bar with 95 % confidence goes back to shadow, and discussions get gates of
their own (in shadow, at the issues' thresholds).

Before this revision a label went live on a smoothed point estimate of its precision,
and discussions were gated as issues. Nothing here promotes a label: the next bootstrap,
retraining or people's labels measure again.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: The defaults of ``triage.precision`` and ``triage.confidence`` at this revision.
TARGET = 0.95
CONFIDENCE = 0.95
DISCUSSIONS = (
    "no labelled discussions in the history to measure it on: decided in shadow at the "
    "issues' threshold until people's labels on discussions clear the bar"
)

gates = sa.table(
    "label_gates",
    sa.column("repo", sa.String),
    sa.column("kind", sa.String),
    sa.column("label", sa.String),
    sa.column("source", sa.String),
    sa.column("live", sa.Boolean),
    sa.column("gate", sa.JSON),
    sa.column("changed_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def bound(correct: int, applied: int) -> float:
    """One-sided Clopper–Pearson lower bound (as ``models.triage.gate`` computes it)."""
    from scipy.stats import beta

    if correct <= 0 or applied <= 0:
        return 0.0
    return float(beta.ppf(1 - CONFIDENCE, correct, applied - correct + 1))


def rejudged(gate: dict[str, Any]) -> dict[str, Any]:
    """A stored gate with the bar kept in it and its live state on the bound."""
    applied, correct = int(gate.get("applied", 0)), int(gate.get("correct", 0))
    target = float(gate.get("target", TARGET))
    out = {"target": target, "confidence": CONFIDENCE, **gate}
    low = bound(correct, applied)
    if out.get("live") and low < target:
        out["live"] = False
        out["reason"] = (
            f"{correct}/{applied} right: precision ≥ {low:.3f} with 95% confidence, below "
            f"the bar of {target:.2f} (re-judged on the lower bound)"
        )
    return out


def upgrade() -> None:
    """Re-judge every stored gate; copy issue gates to discussions in shadow."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = [dict(r) for r in bind.execute(sa.select(gates)).mappings()]
    for row in rows:
        gate = rejudged(dict(row["gate"]))
        where = (
            (gates.c.repo == row["repo"])
            & (gates.c.kind == row["kind"])
            & (gates.c.label == row["label"])
        )
        values: dict[str, Any] = {"gate": gate, "live": bool(gate["live"])}
        if bool(gate["live"]) != bool(row["live"]):
            values["changed_at"] = now
        bind.execute(sa.update(gates).where(where).values(**values))
        if row["kind"] == "issue":
            copy = {**gate, "applied": 0, "correct": 0, "positives": 0, "measured_on": 0}
            copy.update(live=False, reason=DISCUSSIONS)
            bind.execute(
                sa.insert(gates).values(
                    repo=row["repo"],
                    kind="discussion",
                    label=row["label"],
                    source=row["source"],
                    live=False,
                    gate=copy,
                    changed_at=now,
                    updated_at=now,
                )
            )


def downgrade() -> None:
    """Drop the discussions' gates (the re-judged states stay as they are)."""
    op.execute(gates.delete().where(gates.c.kind == "discussion"))
