"""What every concern's store shares: the one ``MetaData``, the engine and its transactions.

Each module of :mod:`core.stores` declares its tables on :data:`metadata` and a class of
queries over them built on :class:`StoreBase`; :class:`core.store.Store` composes them over
one engine. Alembic's migrations and the test that compares them with the code read this
one ``metadata``, so every table must be declared on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()


def now_utc() -> datetime:
    """The current time, timezone-aware (stored as UTC)."""
    return datetime.now(UTC)


def as_utc(row: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``row`` with its time columns ``names`` made timezone-aware.

    SQLite returns naive datetimes; every stored time is UTC.
    """
    for name in names:
        value = row.get(name)
        if isinstance(value, datetime) and value.tzinfo is None:
            row[name] = value.replace(tzinfo=UTC)
    return row


class StoreBase:
    """An engine and one short transaction per query; every concern's store builds on it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn
