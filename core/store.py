"""Durable state over SQLAlchemy: installations, repositories, audit log, feedback, …

``DATABASE_URL`` unset means SQLite in the data directory; PostgreSQL when set. The
schema is created and upgraded by Alembic (``core/migrations``); :func:`open_store`
runs the migrations so a fresh deployment needs no manual step.

Each concern's tables and queries live in their own module of :mod:`core.stores`;
:class:`Store` composes them over one engine, and this module re-exports the tables and
records callers use, so ``from core.store import …`` is the one way in.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from core.stores.audit import ActionRecord, AuditStore, actions, config_reports
from core.stores.base import metadata, now_utc
from core.stores.duplicates import (
    DuplicateStore,
    duplicate_gates,
    duplicate_issues,
    duplicate_pairs,
    duplicate_suggestions,
)
from core.stores.feedback import FeedbackStore, feedback
from core.stores.gates import GateStore, label_gates, triage_profiles
from core.stores.history import HistoryStore, history_items, history_walks
from core.stores.installs import InstallStore, installations, people, repositories
from core.stores.matching import MatchingStore, matching_choices
from core.stores.model_versions import ModelVersionStore, model_versions
from core.stores.responses import ItemFact, ResponseStore, first_responses
from core.stores.retention import RetentionStore
from core.stores.reviews import ReviewStore, backfills, review_changes
from core.stores.sessions import DashboardSession, SessionStore, dashboard_sessions
from core.stores.vectors import VectorStore, item_vectors

__all__ = [
    "ActionRecord",
    "DashboardSession",
    "ItemFact",
    "Store",
    "actions",
    "backfills",
    "config_reports",
    "dashboard_sessions",
    "duplicate_gates",
    "duplicate_issues",
    "duplicate_pairs",
    "duplicate_suggestions",
    "feedback",
    "first_responses",
    "history_items",
    "history_walks",
    "installations",
    "item_vectors",
    "label_gates",
    "make_engine",
    "matching_choices",
    "metadata",
    "migrate",
    "model_versions",
    "now_utc",
    "open_store",
    "people",
    "repositories",
    "review_changes",
    "triage_profiles",
]


class Store(
    AuditStore,
    FeedbackStore,
    InstallStore,
    ReviewStore,
    VectorStore,
    ModelVersionStore,
    GateStore,
    ResponseStore,
    SessionStore,
    RetentionStore,
    DuplicateStore,
    MatchingStore,
    HistoryStore,
):
    """Typed access to the durable tables; every method is one short transaction.

    The methods are the concerns' (one class per module of :mod:`core.stores`), all
    sharing this one engine; a caller that needs one concern may build that class alone.
    """

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(select(1))


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets its folder created and a busy timeout."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return create_engine(url, connect_args={"timeout": 30}, pool_pre_ping=True)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_store(url: str) -> Store:
    """Connect, migrate and return the store."""
    engine = make_engine(url)
    migrate(engine)
    return Store(engine)
