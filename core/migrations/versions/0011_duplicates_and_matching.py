"""Possible duplicates in the bot (issues, known pairs, the gate, suggestions) and each
repository's matching choice.

Revision ID: 0011
Revises: 0008
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the duplicates' four tables and ``matching_choices``."""
    op.create_table(
        "duplicate_issues",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _time("created_at"),
        _time("closed_at", nullable=True),
        _time("updated_at"),
    )
    op.create_table(
        "duplicate_pairs",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("original", sa.Integer, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        _time("found_at"),
    )
    op.create_table(
        "duplicate_gates",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("gate", sa.JSON, nullable=False),
        sa.Column("calibration", sa.JSON, nullable=False),
        _time("calibrated_at"),
        _time("changed_at"),
        _time("scanned_at", nullable=True),
    )
    op.create_table(
        "duplicate_suggestions",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("suggested", sa.JSON, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("how", sa.String(16), nullable=False),
        _time("created_at"),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("verdict_source", sa.String(32), nullable=True),
        sa.Column("verdict_actor", sa.String(255), nullable=True),
        _time("verdict_at", nullable=True),
    )
    op.create_table(
        "matching_choices",
        sa.Column("repo", sa.String(255), primary_key=True),
        sa.Column("choice", sa.Text, nullable=True),
        sa.Column("n_changes", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _time("chosen_at", nullable=True),
        sa.Column("config_load", sa.JSON, nullable=True),
        _time("config_seen_at", nullable=True),
    )


def downgrade() -> None:
    """Drop them."""
    for table in (
        "matching_choices",
        "duplicate_suggestions",
        "duplicate_gates",
        "duplicate_pairs",
        "duplicate_issues",
    ):
        op.drop_table(table)
