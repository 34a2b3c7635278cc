"""Follow-up decisions and routes, as tables: what counts as an answer, which items are
due, who may be routed to, and what the routes queue for real payloads."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from gidgethub import sansio

from app.routes import Dispatch, build_router
from core.payloads import Envelope
from core.store import ItemFact
from core.tasks import FIRST_RESPONSE, FirstResponseArgs
from tests.support import example
from workers.followup.decide import (
    FOLLOWUP_MARKER,
    add_load,
    due_for_followup,
    followup_comment,
    is_maintainer_answer,
    item_fact,
    least_loaded,
    maintainers,
    parse_time,
    pick,
    routed_load,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def row(opened_h: float | None, **extra: Any) -> dict[str, Any]:
    """A stored first-response row opened ``opened_h`` hours after ``T0``."""
    opened = None if opened_h is None else T0 + timedelta(hours=opened_h)
    return {"number": 1, "opened_at": opened, "first_response_at": None, "routed_at": None, **extra}


@pytest.mark.parametrize(
    ("name", "record", "now_h", "due"),
    [
        ("unanswered past the deadline", row(0), 72, True),
        ("one hour short", row(0), 71, False),
        ("answered", row(0, first_response_at=T0), 100, False),
        ("routed already", row(0, routed_at=T0), 100, False),
        ("opening never seen", row(None), 100, False),
    ],
)
def test_due_for_followup(name: str, record: dict[str, Any], now_h: int, due: bool) -> None:
    found = due_for_followup([record], T0 + timedelta(hours=now_h), 72)
    assert (found == [record]) is due, name


@pytest.mark.parametrize(
    ("actor", "author", "association", "counts"),
    [
        ("bob", "dave", "MEMBER", True),
        ("bob", "dave", "owner", True),
        ("bob", "dave", "COLLABORATOR", True),
        ("bob", "dave", "CONTRIBUTOR", False),
        ("bob", "dave", "NONE", False),
        ("Dave", "dave", "MEMBER", False),
        ("ci[bot]", "dave", "MEMBER", False),
        ("", "dave", "MEMBER", False),
    ],
)
def test_is_maintainer_answer(actor: str, author: str, association: str, counts: bool) -> None:
    assert is_maintainer_answer(actor=actor, author=author, association=association) is counts


WHERE = ("o/r", 3, "issue")
OPENED = {"author": "dave", "opened_at": "2026-01-05T00:00:00Z", "installation_id": 7}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (OPENED, ItemFact("o/r", 3, "issue", 7, "dave", T0)),
        (
            {**OPENED, "actor": "bob", "association": "MEMBER", "at": "2026-01-05T02:00:00Z"},
            ItemFact("o/r", 3, "issue", 7, "dave", T0, "bob", T0 + timedelta(hours=2)),
        ),
        (
            {**OPENED, "actor": "zed", "association": "NONE"},
            ItemFact("o/r", 3, "issue", 7, "dave", T0),
        ),
        ({"author": "dave", "opened_at": "", "actor": "zed", "association": "NONE"}, None),
    ],
)
def test_item_fact(event: dict[str, Any], expected: ItemFact | None) -> None:
    assert item_fact(WHERE, event) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-01-05T00:00:00Z", T0), ("2026-01-05T01:00:00+01:00", T0), ("", None), ("soon", None)],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_maintainers_need_triage_or_more_and_no_bots() -> None:
    people = [
        {"login": "a", "permissions": {"pull": True, "triage": True}},
        {"login": "b", "permissions": {"pull": True}},
        {"login": "c", "permissions": {"admin": True}},
        {"login": "d[bot]", "permissions": {"push": True}, "type": "Bot"},
    ]
    assert maintainers(people) == ["a", "c"]


@pytest.mark.parametrize(
    ("ranked", "load", "excluded", "expected"),
    [
        (["alice", "bob"], {}, (), "alice"),
        (["dave", "bob"], {}, (), "bob"),  # dave is the author
        ([], {"alice": 2.0, "bob": 1.0, "carol": 3.0}, (), "bob"),
        ([], {"alice": 0.0, "bob": 0.0}, ("alice",), "bob"),
        ([], {}, ("alice", "bob", "carol"), None),
    ],
)
def test_who_is_picked(
    ranked: list[str], load: dict[str, float], excluded: tuple[str, ...], expected: str | None
) -> None:
    allowed = ["alice", "bob", "carol"]
    chosen = pick(ranked, author="dave") or least_loaded(
        allowed, load=load, excluded=(*excluded, "dave")
    )
    assert chosen == expected


def test_routed_items_count_as_load_until_answered() -> None:
    rows: list[dict[str, Any]] = [
        {"repo": "o/r", "routed_to": "Alice", "first_response_at": None},
        {"repo": "o/r", "routed_to": "alice", "first_response_at": T0},
        {"repo": "o/r", "routed_to": "", "first_response_at": None},
        {"repo": "o/x", "routed_to": "alice", "first_response_at": None},
    ]
    assert routed_load(rows, repo="o/r") == {"alice": 1.0}
    assert add_load({"Alice": 0.5, "bob": 1}, {"alice": 1.0}) == {"alice": 1.5, "bob": 1.0}


def test_the_comment_mentions_one_person_and_carries_the_marker() -> None:
    body = followup_comment("alice", hours=72, kind="pull_request")
    assert body.startswith("@alice, this pull request") and body.endswith(FOLLOWUP_MARKER)
    assert body.count("@") == 1


async def routed(event: str, payload: dict[str, Any]) -> FirstResponseArgs | None:
    """The ``steward.first_response`` arguments the router queues for a delivery."""
    delivery = str(uuid.uuid4())
    dispatch = Dispatch(Envelope.parse(event, delivery, payload))
    await build_router().dispatch(
        sansio.Event(payload, event=event, delivery_id=delivery), dispatch
    )
    jobs = [job for job in dispatch.jobs if job.task == FIRST_RESPONSE.name]
    assert len(jobs) <= 1
    return FIRST_RESPONSE.parse(jobs[0].kwargs) if jobs else None


def _with(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(payload)
    target = copied
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    target[last] = value
    return copied


@pytest.mark.parametrize(
    ("name", "kind", "answer"),
    [
        ("issues.opened", "issue", ""),
        ("pull_request.opened", "pull_request", ""),
        ("discussion.created", "discussion", ""),
        ("issue_comment.created", "issue", "comment"),
        ("discussion_comment.created", "discussion", "comment"),
        ("pull_request_review.submitted", "pull_request", "review"),
    ],
)
async def test_routes_queue_the_fact(name: str, kind: str, answer: str) -> None:
    payload = example(name)
    event = name.split(".")[0]
    item = payload[kind if kind != "issue" else "issue"]
    if answer:  # someone other than the author answers, as a member
        payload = _with(payload, f"{answer}.user.login", "maint")
        payload = _with(payload, f"{answer}.user.type", "User")
        payload = _with(payload, f"{answer}.author_association", "MEMBER")
    args = await routed(event, payload)
    assert args is not None
    assert (args.kind, args.number, args.author) == (kind, item["number"], item["user"]["login"])
    assert args.opened_at == item["created_at"]
    assert (args.answerer, args.association) == (("maint", "MEMBER") if answer else ("", "NONE"))
    if answer:
        assert args.at == (payload[answer].get("submitted_at") or payload[answer]["created_at"])


@pytest.mark.parametrize("who", ["author", "bot"])
async def test_the_authors_and_bots_answers_queue_nothing(who: str) -> None:
    payload = example("issue_comment.created")
    login = payload["issue"]["user"]["login"] if who == "author" else "ci[bot]"
    payload = _with(payload, "comment.user.login", login)
    assert await routed("issue_comment", payload) is None
