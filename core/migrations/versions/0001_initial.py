"""Initial schema: installations, repositories, actions, feedback, config reports, people.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "installations",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("account_login", sa.String(255), nullable=False),
        sa.Column("account_type", sa.String(32), nullable=False),
        _ts("created_at"),
        _ts("deleted_at", nullable=True),
    )
    op.create_table(
        "repositories",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("installation_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("full_name", sa.String(255), nullable=False, index=True),
        _ts("added_at"),
        _ts("removed_at", nullable=True),
    )
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("effect_key", sa.String(512), nullable=False, unique=True),
        sa.Column("delivery_id", sa.String(64), nullable=True),
        sa.Column("installation_id", sa.BigInteger, nullable=True),
        sa.Column("repo", sa.String(255), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=True),
        sa.Column("feature", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(255), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("bot_action_id", sa.Integer, nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "config_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("blob_sha", sa.String(64), nullable=False),
        sa.Column("errors", sa.Text, nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("repo", "path", "blob_sha", name="uq_config_report_version"),
    )
    op.create_table(
        "people",
        sa.Column("login", sa.String(255), primary_key=True),
        sa.Column("opted_out", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    """Drop every table of the first release."""
    for table in (
        "people",
        "config_reports",
        "feedback",
        "actions",
        "repositories",
        "installations",
    ):
        op.drop_table(table)
