"""Alembic environment: runs on the connection :func:`core.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from core.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when run by hand through the alembic CLI
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///.steward/steward.db"
    connection = create_engine(url).connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
