"""The ``first_responses`` table on SQLite and PostgreSQL: facts in any order, the
earliest answer wins, routing is noted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.store import ItemFact, open_store

T0 = datetime(2026, 1, 5, tzinfo=UTC)
OPENED = ItemFact("o/r", 1, "issue", 7, "dave", T0)


def answer(hours: float, who: str = "bob") -> ItemFact:
    """bob (a maintainer) answers ``hours`` after the opening."""
    return ItemFact("o/r", 1, "issue", 7, "dave", T0, who, T0 + timedelta(hours=hours))


@pytest.mark.parametrize(
    ("name", "facts", "responder", "hours"),
    [
        ("opened only", [OPENED], None, None),
        ("one answer", [OPENED, answer(5)], "bob", 5),
        ("the earliest answer wins", [OPENED, answer(5), answer(2, "amy"), answer(9)], "amy", 2),
        ("an answer before the opening arrived", [answer(3), OPENED], "bob", 3),
        ("the same event twice", [OPENED, answer(4), answer(4)], "bob", 4),
    ],
)
def test_first_response(
    database_url: str, name: str, facts: list[ItemFact], responder: str | None, hours: int | None
) -> None:
    store = open_store(database_url)
    for fact in facts:
        store.note_item(fact)
    (row,) = store.first_responses()
    assert (row["author"], row["opened_at"], row["kind"]) == ("dave", T0, "issue"), name
    assert row["responder"] == responder
    assert row["first_response_at"] == (None if hours is None else T0 + timedelta(hours=hours))
    assert len(store.first_responses(unsettled=True)) == (1 if hours is None else 0)


def test_routing_is_noted_once(database_url: str) -> None:
    store = open_store(database_url)
    store.note_item(OPENED)
    store.mark_routed("o/r", 1, to="alice", at=T0 + timedelta(hours=72))
    store.mark_routed("o/r", 1, to="bob", at=T0 + timedelta(hours=73))
    (row,) = store.first_responses()
    assert (row["routed_to"], row["routed_at"]) == ("alice", T0 + timedelta(hours=72))
    assert store.first_responses(unsettled=True) == []
