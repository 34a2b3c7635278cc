"""The community numbers' reads: a few narrow queries per dashboard page (and for the
weekly digest), straight from the store's tables (only the columns shown; item bodies
are never loaded).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Text, inspect, or_, select, type_coerce
from sqlalchemy.engine import Engine

import core.store as tables
from core.community import stats
from core.community.stats import CommunityRows
from core.store import Store, actions, feedback, label_gates, model_versions, review_changes


def _rows(engine: Engine, query: Any, *, raw_json: str = "") -> list[dict[str, Any]]:
    """Rows as dicts; ``raw_json`` names a column selected as text and parsed by orjson
    (several times faster than the JSON type's own decoding, for thousands of rows).
    """
    with engine.connect() as conn:
        result = conn.execute(query)
        keys = list(result.keys())
        rows = [dict(zip(keys, row, strict=True)) for row in result.all()]
    for row in rows if raw_json else ():
        value = row[raw_json]
        row[raw_json] = orjson.loads(value) if isinstance(value, str | bytes) else value
    return rows


def _effects(
    engine: Engine, repo: str, feature: str, *, action: str | None = None, timed: bool = False
) -> list[dict[str, Any]]:
    detail = type_coerce(actions.c.detail, Text).label("detail")
    columns = [actions.c.number, actions.c.action, actions.c.mode, detail]
    query = select(*columns, *([actions.c.created_at] if timed else [])).where(
        actions.c.repo == repo, actions.c.feature == feature
    )
    if action is not None:
        query = query.where(actions.c.action == action)
    return _rows(engine, query, raw_json="detail")


def _changes(engine: Engine, repo: str) -> list[dict[str, Any]]:
    c = review_changes.c
    reviewers = type_coerce(c.reviewers, Text).label("reviewers")
    query = select(c.number, c.author, reviewers, c.created_at, c.merged_at).where(c.repo == repo)
    return _rows(engine, query, raw_json="reviewers")


def triage_data(store: Store, repo: str) -> dict[str, Any]:
    """Gated labels, live precision and coverage, recent corrections, the model in use."""
    from core.live_precision import live_precision

    engine = store.engine
    gates = _rows(engine, select(label_gates).where(label_gates.c.repo == repo))
    decisions = _effects(engine, repo, "triage", action="decision")
    notes = _rows(engine, select(feedback).where(feedback.c.repo == repo).order_by(feedback.c.id))
    versions = _rows(
        engine,
        select(model_versions).where(model_versions.c.repo == repo).order_by(model_versions.c.id),
    )
    return {
        "labels": stats.label_rows(gates),
        "live": live_precision(decisions, notes),
        "corrections": stats.recent_corrections(notes),
        "model": stats.model_in_use(versions),
    }


def people_data(store: Store, repo: str, *, today: datetime | None = None) -> dict[str, Any]:
    """Reviewer load, newcomers and who came back, top people this quarter."""
    engine = store.engine
    changes = _changes(engine, repo)
    since = stats.quarter_start((today or datetime.now(UTC)).date())
    authors, reviewers = stats.top_people(changes, since=since)
    return {
        "load": stats.reviewer_load(_effects(engine, repo, "reviewers"), changes),
        "newcomers": stats.newcomers(_effects(engine, repo, "welcome"), changes),
        "authors": authors,
        "reviewers": reviewers,
        "since": since.isoformat(),
    }


#: Unanswered items the response page lists, oldest first.
WAITING_SHOWN = 10


def response_data(
    store: Store, repo: str, *, now: datetime | None = None, weeks: int = 12
) -> dict[str, Any] | None:
    """Time to first response per week and unanswered items; None when not recorded."""
    rows = getattr(tables, "first_responses", None)
    if rows is None or not inspect(store.engine).has_table("first_responses"):
        return None
    moment = now or datetime.now(UTC)
    recent = or_(
        rows.c.opened_at >= moment - timedelta(weeks=weeks), rows.c.first_response_at.is_(None)
    )
    query = select(rows.c.opened_at, rows.c.first_response_at).where(rows.c.repo == repo, recent)
    oldest = (
        select(rows.c.number, rows.c.kind, rows.c.opened_at, rows.c.routed_to)
        .where(
            rows.c.repo == repo, rows.c.first_response_at.is_(None), rows.c.opened_at.is_not(None)
        )
        .order_by(rows.c.opened_at, rows.c.number)
        .limit(WAITING_SHOWN)
    )
    with store.engine.connect() as conn:
        pairs = [(r[0], r[1]) for r in conn.execute(query)]
        waiting = [dict(r) for r in conn.execute(oldest).mappings()]
    found = stats.response_weeks(pairs, now=moment, weeks=weeks)
    return {**found, "waiting": stats.waiting_items(waiting, now=moment)}


def known_repositories(store: Store) -> dict[str, str]:
    """Repositories Steward looks after: lower-case full name → full name."""
    return {name.lower(): name for _, name in store.all_active_repositories()}


def _responses(store: Store, repo: str, *, since: datetime) -> list[dict[str, Any]] | None:
    """First-response rows opened since ``since`` or still unanswered; None: no table."""
    rows = getattr(tables, "first_responses", None)
    if rows is None or not inspect(store.engine).has_table("first_responses"):
        return None
    recent = or_(rows.c.opened_at >= since, rows.c.first_response_at.is_(None))
    columns = (rows.c.number, rows.c.opened_at, rows.c.first_response_at, rows.c.routed_to)
    return _rows(store.engine, select(*columns).where(rows.c.repo == repo, recent))


def community_rows(store: Store, repo: str, *, since: datetime) -> CommunityRows:
    """Every row the weekly digest's numbers come from (first responses opened since
    ``since`` or still unanswered; the rest whole, as the dashboard reads them).
    """
    engine = store.engine
    notes = _rows(engine, select(feedback).where(feedback.c.repo == repo).order_by(feedback.c.id))
    versions = select(model_versions).where(model_versions.c.repo == repo)
    return CommunityRows(
        gates=_rows(engine, select(label_gates).where(label_gates.c.repo == repo)),
        decisions=_effects(engine, repo, "triage", action="decision"),
        feedback=notes,
        versions=_rows(engine, versions.order_by(model_versions.c.id)),
        changes=_changes(engine, repo),
        review_requests=_effects(engine, repo, "reviewers"),
        welcomes=_effects(engine, repo, "welcome", timed=True),
        responses=_responses(store, repo, since=since),
    )


def digest_records(store: Store, repo: str) -> list[dict[str, Any]]:
    """The weekly digest's audit-log rows of ``repo`` (key, action, mode, detail), oldest
    first: which post belongs to which week.
    """
    detail = type_coerce(actions.c.detail, Text).label("detail")
    columns = (actions.c.effect_key, actions.c.action, actions.c.mode, detail)
    query = select(*columns).where(actions.c.repo == repo, actions.c.feature == "digest")
    return _rows(store.engine, query.order_by(actions.c.id), raw_json="detail")
