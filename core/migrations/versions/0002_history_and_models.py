"""Review history, backfill progress and triage model versions.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Tables for contributor matching (history) and model promotion."""
    op.create_table(
        "review_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(255), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("merged_at", sa.String(32), nullable=True),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("reviewers", sa.JSON, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.UniqueConstraint("repo", "number", name="uq_review_change"),
    )
    op.create_table(
        "backfills",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("cursor", sa.String(255), nullable=True),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(255), nullable=False, index=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("promoted", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the tables of this revision."""
    for table in ("model_versions", "backfills", "review_changes"):
        op.drop_table(table)
