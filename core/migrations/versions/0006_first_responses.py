"""Time to first response: one row per issue, pull request or discussion.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``first_responses``."""
    op.create_table(
        "first_responses",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("installation_id", sa.BigInteger, nullable=True),
        sa.Column("author", sa.String(255), nullable=False, server_default=""),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responder", sa.String(255), nullable=True),
        sa.Column("routed_to", sa.String(255), nullable=True),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("first_responses")
