"""The weekly digest's pure parts, as tables: ISO weeks, keys, the numbers from rows (by
the dashboard's rules), the body, and the rules that find, edit and close posts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.community import stats
from core.community.stats import CommunityRows
from workers.digest import decide
from workers.digest.decide import (
    NO_DATA,
    DigestNumbers,
    LabelNumber,
    PeopleNumbers,
    ResponseNumbers,
    ResponseWeek,
    TriageNumbers,
    Week,
)

#: A Thursday of ISO week 49 of 2026 (its Monday is 30 November).
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
MONDAY = datetime(2026, 11, 30, tzinfo=UTC)
REPO = "acme/widgets"


@pytest.mark.parametrize(
    ("moment", "label", "monday"),
    [
        (NOW, "2026-W49", "2026-11-30"),
        (MONDAY, "2026-W49", "2026-11-30"),
        (MONDAY - timedelta(seconds=1), "2026-W48", "2026-11-23"),
        (datetime(2026, 12, 31, 12, tzinfo=UTC), "2026-W53", "2026-12-28"),
        (datetime(2027, 1, 3, 23, tzinfo=UTC), "2026-W53", "2026-12-28"),  # ISO year ≠ year
        (datetime(2025, 12, 29, tzinfo=UTC), "2026-W01", "2025-12-29"),
        (datetime(2026, 12, 3, 15), "2026-W49", "2026-11-30"),  # naive: UTC
        # Monday 00:30 in Berlin is still Sunday in UTC: weeks are counted in UTC.
        (datetime.fromisoformat("2026-11-30T00:30:00+01:00"), "2026-W48", "2026-11-23"),
    ],
)
def test_the_iso_week_of_a_moment(moment: datetime, label: str, monday: str) -> None:
    week = decide.week_of(moment)
    assert week.label == label
    assert week.monday == datetime.fromisoformat(monday).replace(tzinfo=UTC)
    assert week.monday <= moment.replace(tzinfo=moment.tzinfo or UTC) < week.monday + timedelta(7)


@pytest.mark.parametrize(
    ("week", "previous"),
    [(Week(2026, 49), "2026-W48"), (Week(2026, 1), "2025-W52"), (Week(2027, 1), "2026-W53")],
)
def test_the_week_before(week: Week, previous: str) -> None:
    assert week.previous.label == previous


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("soon", None),
        ("2026-12-03T15:00:00Z", NOW),
        ("2026-12-03T16:00:00+01:00", NOW),
        ("2026-12-03T15:00:00", NOW),  # naive: UTC
    ],
)
def test_parse_moment(text: str, expected: datetime | None) -> None:
    assert decide.parse_moment(text) == expected


def test_names_and_keys() -> None:
    week = Week(2026, 49)
    assert decide.title(REPO, week) == "Steward digest: week 49 of 2026 (acme/widgets)"
    assert decide.marker(week) == "<!-- steward:digest 2026-W49 -->"
    assert decide.effect_key(REPO, week, "issue") == "digest:acme/widgets:2026-W49:issue"
    shadow = decide.effect_key(REPO, week, "discussion", live=False)
    assert shadow == "digest:acme/widgets:2026-W49:discussion:shadow"
    assert decide.close_key(REPO, week) == "digest:acme/widgets:2026-W49:issue:closed"


@pytest.mark.parametrize(
    ("current", "wanted", "edit"),
    [
        ("a\nb\n", "a\nb\n", False),
        ("a\r\nb\r\n", "a\nb\n", False),  # GitHub may answer with CRLF
        ("a\nb", "a\nb\n", False),
        ("a\nb\n", "a\nc\n", True),
        (None, "a\n", True),
        ("", "a\n", True),
    ],
)
def test_an_edit_only_when_the_body_changed(current: str | None, wanted: str, edit: bool) -> None:
    assert decide.needs_edit(current, wanted) is edit


W49 = "<!-- steward:digest 2026-W49 -->"


@pytest.mark.parametrize(
    ("items", "number"),
    [
        ([{"number": 4, "body": f"x\n{W49}", "bot": True}], 4),
        ([{"number": 4, "body": f"x\n{W49}", "bot": False}], None),  # a person quoting it
        ([{"number": 4, "body": "<!-- steward:digest 2026-W48 -->", "bot": True}], None),
        ([{"number": 4, "body": None, "bot": True}], None),
        (
            [
                {"number": 9, "body": W49, "bot": True},
                {"number": 5, "body": W49, "bot": True},
                {"number": 2, "body": W49, "bot": False},
            ],
            5,
        ),
        ([], None),
    ],
)
def test_a_post_is_found_by_its_marker(items: list[dict[str, Any]], number: int | None) -> None:
    found = decide.find_marked(items, Week(2026, 49))
    assert (found["number"] if found else None) == number


@pytest.mark.parametrize(
    ("name", "found"),
    [("Announcements", "A"), ("announcements ", "A"), ("Q&A", "Q"), ("News", None), ("", None)],
)
def test_the_category_by_name(name: str, found: str | None) -> None:
    nodes = [{"id": "A", "name": "Announcements"}, {"id": "Q", "name": "Q&A"}]
    chosen = decide.find_category(nodes, name)
    assert (chosen["id"] if chosen else None) == found


def _record(key: str, *, mode: str = "live", **detail: Any) -> dict[str, Any]:
    return {"effect_key": key, "action": "issue", "mode": mode, "detail": detail}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], None),
        ([_record(f"digest:{REPO}:2026-W48:issue", week="2026-W48", number=7)], ("2026-W48", 7)),
        (  # the newest earlier week, not the first recorded
            [
                _record(f"digest:{REPO}:2026-W46:issue", week="2026-W46", number=3),
                _record(f"digest:{REPO}:2026-W47:issue", week="2026-W47", number=5),
            ],
            ("2026-W47", 5),
        ),
        ([_record(f"digest:{REPO}:2026-W49:issue", week="2026-W49", number=9)], None),
        ([_record(f"digest:{REPO}:2026-W50:issue", week="2026-W50", number=9)], None),
        ([_record(f"digest:{REPO}:2025-W52:issue", week="2025-W52", number=2)], ("2025-W52", 2)),
        (  # shadow records, discussions, closings and other repositories are no issue
            [
                _record(f"digest:{REPO}:2026-W48:issue:shadow", mode="shadow", week="2026-W48"),
                _record(f"digest:{REPO}:2026-W48:discussion", week="2026-W48", number=4),
                _record(f"digest:{REPO}:2026-W47:issue:closed", week="2026-W47", number=3),
                _record("digest:acme/other:2026-W48:issue", week="2026-W48", number=6),
            ],
            None,
        ),
    ],
)
def test_the_previous_issue_to_close(
    records: list[dict[str, Any]], expected: tuple[str, int] | None
) -> None:
    found = decide.previous_issue(records, REPO, Week(2026, 49))
    assert ((found[0].label, found[1]) if found else None) == expected


def _at(days: float) -> datetime:
    """``days`` after this week's Monday (negative: before)."""
    return MONDAY + timedelta(days=days)


def _gate(label: str, live: bool, precision: float | None, kind: str = "issue") -> dict[str, Any]:
    gate = {"precision": precision, "applied": 20, "coverage": 0.3, "reason": ""}
    return {"label": label, "kind": kind, "live": live, "gate": gate}


def _fix(number: int, kind: str, days: float) -> dict[str, Any]:
    return {
        "number": number,
        "kind": kind,
        "subject": "bug",
        "actor": "ann",
        "created_at": _at(days).replace(tzinfo=None),  # as SQLite returns it
    }


def _change(number: int, author: str, reviewers: list[str], merged: bool) -> dict[str, Any]:
    created = _at(-20).isoformat()
    return {
        "number": number,
        "author": author,
        "reviewers": reviewers,
        "created_at": created,
        "merged_at": _at(-19).isoformat() if merged else None,
    }


def _response(opened: float, answered: float | None, routed: str = "") -> dict[str, Any]:
    return {
        "opened_at": _at(opened),
        "first_response_at": None if answered is None else _at(opened + answered / 24),
        "routed_to": routed or None,
    }


ROWS = CommunityRows(
    gates=[
        _gate("bug", True, 0.97),
        _gate("docs", True, 0.9),
        _gate("question", False, 0.6),
        _gate("ci", False, None, "pull_request"),
    ],
    decisions=[
        {"number": 1, "mode": "live", "detail": {"applied": ["bug"]}},
        {"number": 2, "mode": "live", "detail": {"applied": ["bug", "docs"]}},
    ],
    feedback=[
        _fix(2, "label_removed", -3),  # last week: not this week's
        _fix(2, "label_removed", 1),
        _fix(3, "wrong", 2.5),
        _fix(4, "opted_out", 2),  # no correction
    ],
    versions=[
        {"id": 1, "promoted": True, "metrics": {}, "created_at": "2026-10-01 10:00:00"},
        {"id": 2, "promoted": True, "metrics": {}, "created_at": "2026-11-20 08:30:00"},
        {"id": 3, "promoted": False, "metrics": {}, "created_at": "2026-12-01 08:30:00"},
    ],
    changes=[
        _change(10, "ann", ["bo", "cy"], merged=True),
        _change(11, "dee", ["bo"], merged=False),
        _change(12, "ann", [], merged=False),
        _change(13, "eve", ["cy"], merged=True),
        _change(14, "fay", ["bo"], merged=True),
        _change(17, "dee", [], merged=False),
    ],
    review_requests=[
        {"number": 11, "detail": {"reviewers": ["bo", "gus"]}},  # bo reviewed already
        {"number": 12, "detail": {"reviewers": ["gus", "hal"]}},
        {"number": 15, "detail": {"reviewers": ["gus", "ivy", "jo"]}},
    ],
    welcomes=[
        {"number": 11, "detail": {"author": "dee"}, "created_at": _at(-10)},
        {"number": 13, "detail": {"author": "eve"}, "created_at": _at(0.5)},
        {"number": 14, "detail": {"author": "fay"}, "created_at": _at(1)},
        {"number": 16, "detail": {"author": "fay"}, "created_at": _at(2)},  # once per person
    ],
    responses=[
        _response(-6, 2),  # last week: 2 h, 10 h
        _response(-5, 10),
        _response(0.5, 1),  # this week: 1 h, 3 h, 5 h
        _response(1, 3),
        _response(2, 5),
        _response(2.5, None, routed="ann"),  # waiting 1 day and routed
        _response(-1, None),  # waiting 4 days
    ],
)


def test_the_numbers_follow_the_dashboard_rules() -> None:
    numbers = decide.digest_numbers(ROWS, now=_at(3.5))
    triage = numbers.triage
    assert triage.live == (LabelNumber("bug", 0.97), LabelNumber("docs", 0.9))
    assert triage.shadow == (LabelNumber("question", 0.6), LabelNumber("ci (PRs)", None))
    # one of the three applied labels was removed: 2 of 3 right
    assert triage.precision == pytest.approx(2 / 3) and triage.judged == 3
    assert triage.corrections == 2
    assert triage.model == "#2 since 2026-11-20"
    response = numbers.response
    assert response is not None
    assert response.opened == 4
    assert response.this_week == ResponseWeek(3.0, 5.0, 3)
    assert response.last_week == ResponseWeek(2.0, 10.0, 2)
    assert (response.unanswered, response.routed) == (2, 1)
    assert response.oldest_hours == pytest.approx(4.5 * 24)
    people = numbers.people
    assert people.welcomed == 2  # eve and fay this week; dee was welcomed before
    # of dee, eve and fay, only dee authored another change after the welcome (#17)
    assert people.returned_share == pytest.approx(1 / 3)
    assert people.load == (("gus", 3), ("hal", 1), ("ivy", 1))
    assert people.authors == (("ann", 2), ("dee", 2), ("eve", 1))
    assert people.reviewers == (("bo", 3), ("cy", 2))
    assert people.quarter == "2026-10-01"


def test_no_rows_are_no_numbers() -> None:
    numbers = decide.digest_numbers(CommunityRows(), now=NOW)
    assert numbers.response is None
    assert numbers.triage == TriageNumbers()
    assert numbers.people == PeopleNumbers(quarter="2026-10-01")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"kind": "wrong", "created_at": _at(0)}], 1),
        ([{"kind": "wrong", "created_at": _at(-0.01)}], 0),
        ([{"kind": "label_added", "created_at": _at(1).isoformat()}], 1),
        ([{"kind": "opted_out", "created_at": _at(1)}], 0),
        ([{"kind": "wrong", "created_at": None}], 0),
    ],
)
def test_corrections_since(rows: list[dict[str, Any]], expected: int) -> None:
    assert stats.corrections_since(rows, MONDAY) == expected


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([{"first_response_at": None, "routed_to": "ann"}], 1),
        ([{"first_response_at": None, "routed_to": ""}], 0),  # settled without routing
        ([{"first_response_at": None, "routed_to": None}], 0),
        ([{"first_response_at": NOW, "routed_to": "ann"}], 0),  # answered since
    ],
)
def test_routed_waiting(rows: list[dict[str, Any]], expected: int) -> None:
    assert stats.routed_waiting(rows) == expected


@pytest.mark.parametrize(
    ("value", "text"), [(0.4, "0 h"), (1.99, "1 h"), (47.9, "47 h"), (48, "2 d"), (95.9, "3 d")]
)
def test_waits_are_coarse(value: float, text: str) -> None:
    assert decide.waited(value) == text


FULL = DigestNumbers(
    triage=TriageNumbers(
        live=tuple(LabelNumber(f"l{i}", 0.95) for i in range(7)),
        shadow=(LabelNumber("question", None),),
        precision=0.9,
        judged=40,
        corrections=2,
        model="#2 since 2026-11-20",
    ),
    response=ResponseNumbers(
        opened=4,
        this_week=ResponseWeek(3.0, 5.0, 3),
        last_week=None,
        unanswered=2,
        oldest_hours=108.0,
        routed=1,
    ),
    people=PeopleNumbers(
        welcomed=2,
        returned_share=0.5,
        load=(("gus", 3),),
        authors=(("ann", 2),),
        reviewers=(),
        quarter="2026-10-01",
    ),
)
EMPTY = DigestNumbers(triage=TriageNumbers(), response=None, people=PeopleNumbers(quarter="q"))


@pytest.mark.parametrize(
    ("numbers", "present", "absent"),
    [
        (
            FULL,
            [
                "- Labels live: l0 95%, l1 95%, l2 95%, l3 95%, l4 95% and 2 more; "
                "in shadow: question –",
                "- Live precision: 90% (40 labels judged)",
                "- Corrections this week: 2",
                "- Classifier: fine-tuned model #2 since 2026-11-20",
                "- Opened this week: 4",
                "| this week | 3.0 h | 5.0 h | 3 |",
                f"| last week | {NO_DATA} | | |",
                "- Unanswered now: 2 (oldest waits 4 d); routed to a maintainer: 1",
                "- Newcomers welcomed this week: 2; of everyone welcomed, 50% came back",
                "- Open review requests: gus (3)",
                "- Top contributors since 2026-10-01: ann (2)",
                f"- Top reviewers since 2026-10-01: {NO_DATA}",
            ],
            ["@", "Time to first response"],
        ),
        (
            EMPTY,
            [
                f"- Labels: {NO_DATA}",
                f"- Live precision: {NO_DATA}",
                "- Classifier: nearest neighbours",
                f"- Time to first response: {NO_DATA}",
                "- Newcomers welcomed this week: 0\n",
                f"- Open review requests: {NO_DATA}",
            ],
            ["| this week", "came back", "Opened this week"],
        ),
    ],
)
def test_the_body(numbers: DigestNumbers, present: list[str], absent: list[str]) -> None:
    text = decide.body(REPO, numbers, week=Week(2026, 49))
    for line in present:
        assert line in text
    for part in absent:
        assert part not in text
    assert text.rstrip().endswith("<!-- steward:digest 2026-W49 -->")
    assert "week 49 of 2026" in text.splitlines()[0]
    assert len(text.splitlines()) <= 30  # one short post


def test_beat_runs_the_digest_every_six_hours() -> None:
    from pathlib import Path

    from core.queue import beat_schedule
    from core.settings import load_settings

    settings = load_settings({}, env_file=Path("/nonexistent.env"))
    assert beat_schedule(settings)["digest"] == {
        "task": "steward.digest",
        "schedule": timedelta(hours=6),
        "options": {"expires": 6 * 3600},
    }
