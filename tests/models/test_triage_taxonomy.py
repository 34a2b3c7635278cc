"""Triage labels versus status labels, learned from small histories built in code."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.triage.taxonomy import (
    AT_CLOSE,
    LATE,
    LISTED,
    SOON,
    STATUS,
    TRIAGE,
    UNTIMED,
    LabelUse,
    Taxonomy,
    label_families,
    learn_taxonomy,
    matches_status,
    parse_time,
)

OPENED = datetime(2024, 1, 1, tzinfo=UTC)
LISTED_AS_STATUS = ["duplicate", "wontfix", "good first issue", "status/*", "needs-*"]


def at(days: float) -> str:
    """The ISO time ``days`` after the items are opened (GitHub's format)."""
    return (OPENED + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(
    label: str, applied: float | str | None = None, closed: float | None = None
) -> dict[str, Any]:
    """One collected item carrying ``label``, applied ``applied`` days after opening."""
    when = at(applied) if isinstance(applied, (int, float)) else applied
    return {
        "repo": "o/r",
        "number": 1,
        "kind": "issue",
        "title": "t",
        "body": "b",
        "labels": [label],
        "created_at": at(0),
        "closed_at": None if closed is None else at(closed),
        "labelled_at": {} if when is None else {label: when},
    }


HOUR = 1 / 24

# (label, [(applied days, closed days)], kind, reason, (items, timed, soon, at_close))
CASES = [
    ("duplicate", [(0.1, None)], STATUS, LISTED, (1, 1, 1, 0)),  # listed beats timing
    ("Duplicate", [(None, None)], STATUS, LISTED, (1, 0, 0, 0)),  # case-insensitive
    ("Status/Blocked", [(0, None)], STATUS, LISTED, (1, 1, 1, 0)),  # a prefix pattern
    ("needs-repro", [(0, None)], STATUS, LISTED, (1, 1, 1, 0)),
    ("shipped", [(3, 3), (10, 10), (0, 20)], STATUS, AT_CLOSE, (3, 3, 2, 2)),
    ("shipped", [(3 - 0.5 * HOUR, 3), (1, 1)], STATUS, AT_CLOSE, (2, 2, 2, 2)),  # hour before
    ("shipped", [(3 - 2 * HOUR, 3), (1, None)], TRIAGE, SOON, (2, 2, 2, 0)),  # too early
    ("shipped", [(5, 5), (1, None)], STATUS, AT_CLOSE, (2, 2, 2, 1)),  # exactly min_share
    ("regression", [(30, None), (40, 50)], STATUS, LATE, (2, 2, 0, 0)),
    ("regression", [(30, None), (1, None)], TRIAGE, SOON, (2, 2, 1, 0)),  # half soon is enough
    ("regression", [(30, None), (30, None), (1, None)], STATUS, LATE, (3, 3, 1, 0)),
    ("bug", [(7, None)], TRIAGE, SOON, (1, 1, 1, 0)),  # exactly soon_days
    ("bug", [(7.01, None)], STATUS, LATE, (1, 1, 0, 0)),
    ("bug", [(-0.001, None)], TRIAGE, SOON, (1, 1, 1, 0)),  # stamped before opening
    ("bug", [(0, 2)], TRIAGE, SOON, (1, 1, 1, 0)),
    ("area/ui", [(None, None), (None, 3)], TRIAGE, UNTIMED, (2, 0, 0, 0)),
    ("area/ui", [("yesterday", 3), ("", None)], TRIAGE, UNTIMED, (2, 0, 0, 0)),  # bad times
    ("area/ui", [(None, 1), (41, 41)], STATUS, AT_CLOSE, (2, 1, 0, 1)),  # shares of timed only
]


@pytest.mark.parametrize(
    ("label", "uses", "kind", "reason", "counts"),
    [pytest.param(*case, id=f"{case[0]} {case[1]}") for case in CASES],
)
def test_rules(
    label: str,
    uses: list[tuple[Any, float | None]],
    kind: str,
    reason: str,
    counts: tuple[int, int, int, int],
) -> None:
    records = [record(label, applied, closed) for applied, closed in uses]

    use = learn_taxonomy(records, status_labels=LISTED_AS_STATUS).labels[label]

    assert (use.kind, use.reason) == (kind, reason)
    assert (use.items, use.timed, use.soon, use.at_close) == counts


@pytest.mark.parametrize(
    ("status_labels", "applied", "closed", "kind", "reason"),
    [
        (["duplicate"], 0, None, STATUS, LISTED),
        ([], 0, None, TRIAGE, SOON),  # learn from history alone: it was applied early
        ([], 2, 2, STATUS, AT_CLOSE),
        ([], None, None, TRIAGE, UNTIMED),
    ],
)
def test_an_empty_list_learns_from_history_alone(
    status_labels: list[str], applied: float | None, closed: float | None, kind: str, reason: str
) -> None:
    taxonomy = learn_taxonomy([record("duplicate", applied, closed)], status_labels=status_labels)
    assert (taxonomy.labels["duplicate"].kind, taxonomy.labels["duplicate"].reason) == (
        kind,
        reason,
    )


@pytest.mark.parametrize(
    ("soon_days", "min_share", "kind"),
    [
        (7.0, 0.5, STATUS),  # 1 of 3 applications soon
        (30.0, 0.5, TRIAGE),  # a longer "soon": all three are
        (7.0, 0.3, TRIAGE),  # a third is enough
    ],
)
def test_soon_days_and_min_share(soon_days: float, min_share: float, kind: str) -> None:
    records = [record("feature", days) for days in (1, 20, 25)]
    taxonomy = learn_taxonomy(records, status_labels=[], soon_days=soon_days, min_share=min_share)
    assert taxonomy.labels["feature"].kind == kind


@pytest.mark.parametrize(("soon_days", "min_share"), [(-1, 0.5), (7, 0), (7, 1.5)])
def test_bad_parameters_are_refused(soon_days: float, min_share: float) -> None:
    with pytest.raises(ValueError):
        learn_taxonomy([], status_labels=[], soon_days=soon_days, min_share=min_share)


@pytest.mark.parametrize(
    ("name", "patterns", "expected"),
    [
        ("duplicate", ["duplicate"], True),
        ("Duplicate ", ["DUPLICATE"], True),
        ("duplicates", ["duplicate"], False),  # no pattern, no prefix
        ("status/blocked", ["status/*"], True),
        ("Status: Blocked", ["status:*"], True),
        ("status", ["status/*"], False),
        ("won\u2019t fix", ["won't fix"], True),  # a typographic apostrophe
        ("bug", [], False),
        ("anything", ["*"], True),
        ("needs-triage", "needs-*", True),  # one pattern as a plain string
    ],
)
def test_matches_status(name: str, patterns: list[str] | str, expected: bool) -> None:
    assert matches_status(name, patterns) is expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["kind/bug", "kind/feature", "area/ui"], ["kind", "kind", None]),
        (["area: ui", "Area: API"], ["area", "area"]),
        (["area-ui", "area-api", "good-first-issue"], ["area", "area", None]),
        (["bug", "Docs", "question", "enhancement"], ["type"] * 4),
        (["type: bug", "type: feature", "bug"], ["type", "type", "type"]),
        (["bug-report", "bug-fix", "bug"], ["bug", "bug", "type"]),
        (
            ["P0", "p3", "P1: urgent", "priority/high", "prio:low", "Priority: Medium", "P5"],
            ["priority"] * 6 + [None],
        ),
        (["high priority", "prio-low", "prio-high"], ["priority"] * 3),  # before the prefix
        (["do-not-merge/hold", "do-not-merge/wip"], ["do-not-merge", "do-not-merge"]),
        (["good first issue", "help wanted", "/odd", "odd/"], [None] * 4),
    ],
)
def test_families(names: list[str], expected: list[str | None]) -> None:
    assert label_families(names) == dict(zip(names, expected, strict=True))


def test_taxonomy_lists_and_families() -> None:
    records = [
        {**record("bug", 0), "labels": ["bug", {"name": "kind/crash"}, "kind/ui", "wontfix"]},
        {**record("P1", 1, 2), "labels": ["P1", "status/done"]},
        record("status/wip", 20),
    ]

    taxonomy = learn_taxonomy(records, status_labels=LISTED_AS_STATUS)

    assert isinstance(taxonomy, Taxonomy)
    assert taxonomy.triage_labels == ["P1", "bug", "kind/crash", "kind/ui"]
    assert taxonomy.status_labels == ["status/done", "status/wip", "wontfix"]
    assert taxonomy.families == {
        "kind": ["kind/crash", "kind/ui"],
        "priority": ["P1"],
        "status": ["status/done", "status/wip"],
        "type": ["bug"],
    }
    assert taxonomy.labels["bug"] == LabelUse("bug", 1, 1, 1, 0, TRIAGE, "type", SOON)
    assert taxonomy.labels["kind/crash"].reason == UNTIMED  # only bug's time is known


def test_labels_counted_once_per_item_and_empty_history() -> None:
    twice = {**record("bug", 0), "labels": ["bug", "bug", "", None]}
    assert learn_taxonomy([twice], status_labels=[]).labels["bug"].items == 1
    empty = learn_taxonomy([], status_labels=LISTED_AS_STATUS)
    assert (empty.labels, empty.triage_labels, empty.families) == ({}, [], {})


def test_records_from_older_collections_are_untimed() -> None:
    old: Mapping[str, Any] = {"repo": "o/r", "number": 1, "labels": ["bug"], "created_at": at(0)}
    broken = {**record("docs", 1), "labelled_at": ["not", "a", "mapping"], "created_at": "?"}
    taxonomy = learn_taxonomy([old, broken], status_labels=[])
    assert [(u.label, u.timed, u.kind) for u in taxonomy.labels.values()] == [
        ("bug", 0, TRIAGE),
        ("docs", 0, TRIAGE),
    ]


def test_the_collectors_records_are_what_it_reads() -> None:
    from workers.records import make_record

    item = {"number": 3, "title": "t", "created_at": at(0), "closed_at": at(9)}
    made = make_record(
        "o/r", item, labels=["bug", "fixed", "wontfix"], labelled_at={"bug": at(0), "fixed": at(9)}
    )
    taxonomy = learn_taxonomy([made], status_labels=["wontfix"])
    assert taxonomy.triage_labels == ["bug"]
    assert taxonomy.labels["fixed"].reason == AT_CLOSE
    assert taxonomy.labels["wontfix"].reason == LISTED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00Z", OPENED),
        ("2024-01-01T02:00:00+02:00", OPENED),
        ("2024-01-01T00:00:00", OPENED),  # no offset: UTC
        ("2024-01-01 00:00:00", OPENED),  # the CSV's spelling
        ("2024-01-01", OPENED),
        ("yesterday", None),
        ("", None),
        (None, None),
        (1704067200, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected
