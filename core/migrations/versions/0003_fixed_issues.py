"""Issues each merged pull request fixed (its closing references).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``review_changes.fixes``: ``[{"number", "title"}]`` of the issues it closed."""
    with op.batch_alter_table("review_changes") as batch:
        batch.add_column(sa.Column("fixes", sa.JSON, nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("review_changes") as batch:
        batch.drop_column("fixes")
