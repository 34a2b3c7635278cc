"""Triage gates: each label's live/shadow state with what was measured, for issues and
for pull requests apart, and each repository's triage profile (learnt taxonomy,
bootstrap summary).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``label_gates`` and ``triage_profiles``."""
    op.create_table(
        "label_gates",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("label", sa.String(255), primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("live", sa.Boolean, nullable=False, default=False),
        sa.Column("gate", sa.JSON, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "triage_profiles",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("triage_profiles")
    op.drop_table("label_gates")
