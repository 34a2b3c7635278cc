"""The recovery of missed deliveries: which deliveries to ask GitHub for, as tables.

Each row is a piece of GitHub's delivery log (attempts of a few deliveries), what
Steward accepted and what it asked for before, and the verdicts it must reach.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.queue import beat_schedule
from core.settings import load_settings
from workers.deliveries.cli import duration
from workers.deliveries.decide import (
    ACCEPTED,
    DEFERRED,
    DELIVERED,
    GAVE_UP,
    RECEIVER_DOWN,
    REDELIVER,
    TOO_OLD,
    WAITING,
    Asked,
    Attempt,
    RecoveryPolicy,
    latest_attempts,
    next_mark,
    plan,
    receiver_looks_down,
    window_start,
)
from workers.deliveries.flow import asked_from

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICY = RecoveryPolicy()


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def row(ident: int, guid: str, code: int, minutes_ago: float, *, again: bool = False) -> Attempt:
    """One attempt: ``code`` 0 is 'failed to connect to host'."""
    status = "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
    return Attempt(
        id=ident,
        guid=guid,
        delivered_at=at(minutes_ago),
        status_code=code,
        status="failed to connect to host" if code == 0 else status,
        redelivery=again,
        event="issues",
        action="opened",
    )


def asked(times: int, last_id: int, minutes_ago: float, probes: int = 0) -> Asked:
    return Asked(asks=times - probes, total=times, last_id=last_id, last_at=at(minutes_ago))


@dataclass(frozen=True)
class Case:
    name: str
    rows: list[Attempt]
    verdicts: dict[str, str]
    accepted: set[str] = field(default_factory=set)
    asked: dict[str, Asked] = field(default_factory=dict)
    policy: RecoveryPolicy = POLICY
    #: The guids asked for, in order (one probe while the receiver looks down).
    redeliver: list[str] | None = None
    receiver_down: bool = False


# The newest row of the log decides whether the receiver looks down; most cases end
# with a delivery that got through ("up", just now) so the probe rule stays out of it.
UP = row(999, "up", 202, 0)

CASES = [
    Case("nothing in the log", [], {}),
    Case("delivered", [row(1, "a", 202, 3), UP], {"a": DELIVERED, "up": DELIVERED}),
    Case(
        "failed to connect: redeliver",
        [row(1, "a", 0, 3), UP],
        {"a": REDELIVER, "up": DELIVERED},
        redeliver=["a"],
    ),
    Case(
        "503 (queue unavailable) and 500: redeliver, oldest first",
        [row(2, "b", 500, 2), row(1, "a", 503, 3), UP],
        {"a": REDELIVER, "b": REDELIVER, "up": DELIVERED},
        redeliver=["a", "b"],
    ),
    Case(
        "a 3xx is not a delivery (GitHub follows no redirect)",
        [row(1, "a", 301, 3), UP],
        {"a": REDELIVER, "up": DELIVERED},
    ),
    Case(
        "failed, but Steward has it (answered after GitHub's timeout)",
        [row(1, "a", 0, 3), UP],
        {"a": ACCEPTED, "up": DELIVERED},
        accepted={"a"},
        redeliver=[],
    ),
    Case(
        "a later attempt got through: done",
        [row(5, "a", 202, 1, again=True), row(1, "a", 0, 3), UP],
        {"a": DELIVERED, "up": DELIVERED},
        redeliver=[],
    ),
    Case(
        "an earlier success does not hide a later failure",
        [row(5, "a", 0, 1, again=True), row(1, "a", 202, 3), UP],
        {"a": REDELIVER, "up": DELIVERED},
    ),
    Case(
        "asked for, GitHub's new attempt not in the log yet: wait",
        [row(1, "a", 0, 3), UP],
        {"a": WAITING, "up": DELIVERED},
        asked={"a": asked(1, last_id=1, minutes_ago=1)},
        redeliver=[],
    ),
    Case(
        "the redelivery failed too, a minute ago: wait",
        [row(7, "a", 0, 1, again=True), row(1, "a", 0, 3), UP],
        {"a": WAITING, "up": DELIVERED},
        asked={"a": asked(1, last_id=1, minutes_ago=1.5)},
    ),
    Case(
        "the redelivery failed 10 minutes ago: ask again",
        [row(7, "a", 0, 10, again=True), row(1, "a", 0, 12), UP],
        {"a": REDELIVER, "up": DELIVERED},
        asked={"a": asked(1, last_id=1, minutes_ago=11)},
        redeliver=["a"],
    ),
    Case(
        "the second wait is an hour",
        [row(7, "a", 0, 30, again=True), UP],
        {"a": WAITING, "up": DELIVERED},
        asked={"a": asked(2, last_id=6, minutes_ago=31)},
    ),
    Case(
        "asked three times, every attempt failed: give up",
        [row(9, "a", 0, 100, again=True), UP],
        {"a": GAVE_UP, "up": DELIVERED},
        asked={"a": asked(3, last_id=8, minutes_ago=101)},
        redeliver=[],
    ),
    Case(
        "probes do not count against the three asks",
        [row(9, "a", 0, 100, again=True), UP],
        {"a": REDELIVER, "up": DELIVERED},
        asked={"a": asked(3, last_id=8, minutes_ago=101, probes=1)},
    ),
    Case(
        "older than GitHub redelivers",
        [row(1, "a", 0, 72 * 60), UP],
        {"a": TOO_OLD, "up": DELIVERED},
        redeliver=[],
    ),
    Case(
        "over the run's limit: the newest waits for the next run",
        [row(3, "c", 0, 1), row(2, "b", 0, 2), row(1, "a", 0, 3), UP],
        {"a": REDELIVER, "b": REDELIVER, "c": DEFERRED, "up": DELIVERED},
        policy=RecoveryPolicy(max_per_run=2),
        redeliver=["a", "b"],
    ),
    Case(
        "the receiver looks down (newest attempt failed to connect): one probe",
        [row(3, "c", 0, 1), row(2, "b", 0, 2), row(1, "a", 0, 3)],
        {"a": REDELIVER, "b": RECEIVER_DOWN, "c": RECEIVER_DOWN},
        redeliver=["a"],
        receiver_down=True,
    ),
    Case(
        "the receiver looks down: a waiting delivery is no probe, the next one is",
        [row(3, "c", 503, 1), row(2, "b", 0, 2), row(1, "a", 0, 3)],
        {"a": WAITING, "b": REDELIVER, "c": RECEIVER_DOWN},
        asked={"a": asked(1, last_id=1, minutes_ago=2, probes=1)},
        redeliver=["b"],
        receiver_down=True,
    ),
    Case(
        "a 500 is the receiver's answer, not a receiver that is down",
        [row(2, "b", 500, 1), row(1, "a", 0, 3)],
        {"a": REDELIVER, "b": REDELIVER},
        redeliver=["a", "b"],
    ),
    Case(
        "the operator says the receiver is up: no probing",
        [row(2, "b", 0, 1), row(1, "a", 0, 3)],
        {"a": REDELIVER, "b": REDELIVER},
        policy=RecoveryPolicy(probe_when_down=False),
        redeliver=["a", "b"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_which_deliveries_to_redeliver(case: Case) -> None:
    made = plan(case.rows, accepted=case.accepted, asked=case.asked, now=NOW, policy=case.policy)
    assert {v.guid: v.verdict for v in made.verdicts} == case.verdicts
    assert made.receiver_down == case.receiver_down
    if case.redeliver is not None:
        assert [v.guid for v in made.redeliver] == case.redeliver
    assert all(v.probe == case.receiver_down for v in made.redeliver)
    for verdict in made.verdicts:
        assert verdict.why, verdict


def test_a_redelivery_carries_the_number_of_asks_before_it() -> None:
    rows = [row(7, "a", 0, 10, again=True), row(1, "a", 0, 12), UP]
    made = plan(rows, accepted=(), asked={"a": asked(1, 1, minutes_ago=11)}, now=NOW, policy=POLICY)
    (verdict,) = made.redeliver
    assert (verdict.attempt.id, verdict.attempts, verdict.asks_before) == (7, 2, 1)


def test_latest_attempt_is_the_newest_by_time_then_id() -> None:
    rows = [row(1, "a", 0, 3), row(3, "a", 202, 2, again=True), row(2, "a", 0, 2, again=True)]
    assert latest_attempts(rows) == {"a": (rows[1], 3)}


@pytest.mark.parametrize(
    ("codes", "down"),
    [
        ([], False),
        ([202], False),
        ([0], True),
        ([503], True),
        ([502, 202], False),
        ([202, 504], True),
        ([500], False),
        ([401], False),
    ],
)
def test_receiver_looks_down_by_the_newest_attempt(codes: list[int], down: bool) -> None:
    rows = [row(i, f"g{i}", code, minutes_ago=10 - i) for i, code in enumerate(codes)]
    assert receiver_looks_down(rows) is down


@pytest.mark.parametrize(
    ("name", "verdicts", "asked", "expected"),
    [
        ("empty window keeps the mark", [], [], at(60)),
        ("all done: after the newest", [("a", DELIVERED, 3), ("b", ACCEPTED, 1)], [], at(1)),
        ("asked this run: not held", [("a", REDELIVER, 3)], ["a"], at(3)),
        ("not asked (stopped): held", [("a", REDELIVER, 3), ("b", DELIVERED, 1)], [], at(3)),
        ("deferred held", [("a", DELIVERED, 5), ("b", DEFERRED, 3)], [], at(3)),
        ("waiting held", [("a", WAITING, 30), ("b", DELIVERED, 1)], [], at(30)),
        ("gave up is not held", [("a", GAVE_UP, 30), ("b", DELIVERED, 1)], [], at(1)),
        ("receiver down held", [("a", REDELIVER, 9), ("b", RECEIVER_DOWN, 4)], ["a"], at(4)),
    ],
)
def test_where_the_next_run_starts(
    name: str, verdicts: list[tuple[str, str, float]], asked: list[str], expected: datetime
) -> None:
    from workers.deliveries.decide import Plan, Verdict

    made = Plan(tuple(Verdict(row(i, g, 0, m), v, "why") for i, (g, v, m) in enumerate(verdicts)))
    assert next_mark(made, asked=asked, previous=at(60)) == expected, name


@pytest.mark.parametrize(
    ("mark", "start"),
    [(None, at(60)), (at(30), at(35)), (at(5 * 24 * 60), NOW - POLICY.max_age)],
)
def test_window_start(mark: datetime | None, start: datetime) -> None:
    assert window_start(mark, now=NOW, policy=POLICY) == start


def test_asks_fold_into_counts_probes_apart() -> None:
    records = [
        {"id": 1, "at": at(30).isoformat(), "probe": True},
        {"id": 7, "at": at(20).isoformat(), "probe": False},
    ]
    assert asked_from(records) == Asked(asks=1, total=2, last_id=7, last_at=at(20))


def test_attempt_reads_githubs_row() -> None:
    attempt = Attempt.from_json(
        {
            "id": 42,
            "guid": "58474f00",
            "delivered_at": "2026-12-02T11:57:00Z",
            "redelivery": False,
            "duration": 0.03,
            "status": "failed to connect to host",
            "status_code": 0,
            "event": "issues",
            "action": "opened",
            "installation_id": 7,
            "repository_id": 9,
        }
    )
    assert (attempt.delivered_at, attempt.ok, attempt.name) == (at(3), False, "issues.opened")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("30m", timedelta(minutes=30)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_cli_durations(text: str, expected: timedelta) -> None:
    assert duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "2h and more"])
def test_cli_refuses_other_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


@pytest.mark.parametrize(("minutes", "every"), [("", 5), ("15", 15), ("0", None)])
def test_the_job_is_scheduled_every_recover_minutes(minutes: str, every: int | None) -> None:
    settings = load_settings(
        {"STEWARD_RECOVER_MINUTES": minutes, "STEWARD_RETRAIN_HOURS": "0"},
        env_file=Path("/nonexistent.env"),
    )
    always = ("followup", "digest", "forget", "refresh-duplicates")
    schedule = {k: v for k, v in beat_schedule(settings).items() if k not in always}
    if every is None:
        assert schedule == {}
        return
    assert schedule == {
        "recover-deliveries": {
            "task": "steward.recover_deliveries",
            "schedule": timedelta(minutes=every),
            "options": {"expires": every * 60},
        }
    }
