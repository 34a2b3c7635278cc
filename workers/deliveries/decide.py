"""Recovering deliveries GitHub could not hand over: the pure decisions.

GitHub never redelivers by itself. Its log of the App's webhook deliveries has one
row per attempt (the first delivery and every redelivery share the delivery's
``guid``). :func:`plan` reads one window of that log, newest rows included, and
judges every delivery by its latest attempt:

- answered 2xx: delivered, done;
- Steward has it (its ``steward:delivery:<guid>`` key), though GitHub logged a
  failure (e.g. Steward queued the jobs but answered after GitHub's timeout): done;
- older than GitHub lets anyone redeliver (three days): too old, done;
- asked for ``max_asks`` times already and every attempt failed: given up, done;
- asked for, and GitHub's new attempt is not in the log yet or failed less than
  ``retry_after`` ago: waiting;
- otherwise: redeliver (oldest first, at most ``max_per_run`` per run).

While the receiver looks down (the newest attempt in the log got no answer, or a
502/503/504), a run asks for one delivery only, as a probe, and that ask does not
count against the delivery's ``max_asks``: once the probe gets through, the next run
asks for the rest. :func:`next_mark` says where the next run's window starts: at the
oldest delivery still to be decided, else after the newest row seen.

The I/O flow in :mod:`workers.deliveries.flow` fetches what these functions need and
does what they return.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

DELIVERED = "delivered"
ACCEPTED = "accepted"
TOO_OLD = "too old"
GAVE_UP = "gave up"
WAITING = "waiting"
REDELIVER = "redeliver"
#: Over this run's limit: the next run asks.
DEFERRED = "deferred"
#: Held while the receiver looks down (another delivery is the probe).
RECEIVER_DOWN = "receiver down"
#: Verdicts the next run must see again: the window may not move past them.
HELD = frozenset({WAITING, REDELIVER, DEFERRED, RECEIVER_DOWN})
#: Answers of a receiver (or the proxy in front of it) that is not there.
DOWN_STATUS_CODES = frozenset({0, 502, 503, 504})


@dataclass(frozen=True)
class Attempt:
    """One row of the App's delivery log (GitHub's ``hook-delivery-item``)."""

    id: int
    guid: str
    delivered_at: datetime
    status_code: int
    status: str = ""
    redelivery: bool = False
    event: str = ""
    action: str | None = None
    installation_id: int | None = None
    repository_id: int | None = None

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Attempt:
        """Read a row as GitHub's REST API returns it."""
        return cls(
            id=int(row["id"]),
            guid=str(row["guid"]),
            delivered_at=datetime.fromisoformat(str(row["delivered_at"]).replace("Z", "+00:00")),
            status_code=int(row.get("status_code") or 0),
            status=str(row.get("status") or ""),
            redelivery=bool(row.get("redelivery")),
            event=str(row.get("event") or ""),
            action=row.get("action"),
            installation_id=row.get("installation_id"),
            repository_id=row.get("repository_id"),
        )

    @property
    def ok(self) -> bool:
        """The receiver answered 2xx."""
        return 200 <= self.status_code < 300

    @property
    def name(self) -> str:
        """``event.action`` (``event`` alone when there is no action)."""
        return f"{self.event}.{self.action}" if self.action else self.event


@dataclass(frozen=True)
class Asked:
    """What Steward asked GitHub about one delivery so far."""

    #: Asks that count against ``max_asks`` (probes while the receiver was down do not).
    asks: int
    #: Every ask, probes included (the wait before the next one grows with it).
    total: int
    #: The attempt GitHub was last asked to send again, and when.
    last_id: int
    last_at: datetime


@dataclass(frozen=True)
class RecoveryPolicy:
    """How much one run may do, and when a delivery is worth another ask."""

    max_per_run: int = 50
    #: Redelivery requests per second (a few: GitHub's secondary rate limits).
    per_second: float = 2.0
    max_asks: int = 3
    #: Wait after the n-th ask before the next (the last entry for every later one).
    retry_after: tuple[timedelta, ...] = (timedelta(minutes=10), timedelta(hours=1))
    #: GitHub redelivers deliveries of the past three days; keep a margin.
    max_age: timedelta = timedelta(hours=71)
    #: How far back the first run looks (later runs start where the last one stopped).
    first_lookback: timedelta = timedelta(hours=1)
    #: Rows before the mark read again, in case GitHub's clock and ids disagree a little.
    overlap: timedelta = timedelta(minutes=5)
    #: The most log rows one run reads (100 per request).
    max_rows: int = 5000
    #: Ask for one delivery only while the receiver looks down.
    probe_when_down: bool = True


@dataclass(frozen=True)
class Verdict:
    """What to do about one delivery, judged by its latest attempt."""

    attempt: Attempt
    verdict: str
    why: str
    #: Attempts of this delivery in the window.
    attempts: int = 1
    #: A redelivery asked while the receiver looks down (does not count).
    probe: bool = False
    #: Asks made before this run, probes included (this run's ask is the next one).
    asks_before: int = 0

    @property
    def guid(self) -> str:
        """The delivery's ``X-GitHub-Delivery``."""
        return self.attempt.guid


@dataclass(frozen=True)
class Plan:
    """The verdict on every delivery of one window, oldest latest attempt first."""

    verdicts: tuple[Verdict, ...]
    receiver_down: bool = False

    @property
    def redeliver(self) -> tuple[Verdict, ...]:
        """The deliveries to ask GitHub to send again, in order."""
        return tuple(v for v in self.verdicts if v.verdict == REDELIVER)

    def counts(self) -> dict[str, int]:
        """How many deliveries got each verdict."""
        counts: dict[str, int] = {}
        for verdict in self.verdicts:
            counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
        return counts


def latest_attempts(rows: Iterable[Attempt]) -> dict[str, tuple[Attempt, int]]:
    """Each delivery's latest attempt and how many attempts it has, by guid."""
    found: dict[str, tuple[Attempt, int]] = {}
    for row in rows:
        latest, count = found.get(row.guid, (row, 0))
        if (row.delivered_at, row.id) > (latest.delivered_at, latest.id):
            latest = row
        found[row.guid] = (latest, count + 1)
    return found


def receiver_looks_down(rows: Iterable[Attempt]) -> bool:
    """The newest attempt in the log got no answer (or a gateway's 502/503/504)."""
    newest = max(rows, key=lambda r: (r.delivered_at, r.id), default=None)
    return newest is not None and newest.status_code in DOWN_STATUS_CODES


def judge(
    latest: Attempt,
    *,
    accepted: bool,
    asked: Asked | None,
    now: datetime,
    policy: RecoveryPolicy,
) -> tuple[str, str]:
    """The verdict on one delivery from its latest attempt, and why."""
    if latest.ok:
        return DELIVERED, f"GitHub's latest attempt got {latest.status_code}"
    if accepted:
        return ACCEPTED, f"Steward queued it, though GitHub logged {_status(latest)}"
    if now - latest.delivered_at > policy.max_age:
        return TOO_OLD, "older than GitHub redelivers"
    if asked is None:
        return REDELIVER, f"{_status(latest)}; never asked for"
    if asked.asks >= policy.max_asks:
        return GAVE_UP, f"asked {asked.asks} times; the latest attempt got {_status(latest)}"
    wait = policy.retry_after[min(asked.total, len(policy.retry_after)) - 1]
    if now - asked.last_at < wait:
        if latest.id == asked.last_id:
            return WAITING, "asked for; GitHub's new attempt is not in the log yet"
        return WAITING, f"the redelivery got {_status(latest)}; asking again after {wait}"
    return REDELIVER, f"{_status(latest)}; asked {asked.total} time(s) before"


def _status(attempt: Attempt) -> str:
    if attempt.status_code == 0:
        return attempt.status or "no answer"
    return str(attempt.status_code)


def plan(
    rows: Sequence[Attempt],
    *,
    accepted: Collection[str],
    asked: Mapping[str, Asked],
    now: datetime,
    policy: RecoveryPolicy,
) -> Plan:
    """Judge every delivery in ``rows`` and pick this run's redeliveries."""
    verdicts = []
    for guid, (latest, count) in latest_attempts(rows).items():
        before = asked.get(guid)
        verdict, why = judge(
            latest, accepted=guid in accepted, asked=before, now=now, policy=policy
        )
        total = before.total if before else 0
        verdicts.append(Verdict(latest, verdict, why, attempts=count, asks_before=total))
    verdicts.sort(key=lambda v: (v.attempt.delivered_at, v.attempt.id))
    down = policy.probe_when_down and receiver_looks_down(rows)
    return Plan(tuple(_limit(verdicts, down=down, policy=policy)), receiver_down=down)


def _limit(verdicts: list[Verdict], *, down: bool, policy: RecoveryPolicy) -> Iterable[Verdict]:
    """Keep ``max_per_run`` redeliveries (one probe while the receiver looks down)."""
    room = 1 if down else policy.max_per_run
    for verdict in verdicts:
        if verdict.verdict != REDELIVER:
            yield verdict
        elif room > 0:
            room -= 1
            yield replace(verdict, probe=down)
        elif down:
            yield replace(verdict, verdict=RECEIVER_DOWN, why="the receiver looks down")
        else:
            yield replace(verdict, verdict=DEFERRED, why="over this run's limit")


def window_start(mark: datetime | None, *, now: datetime, policy: RecoveryPolicy) -> datetime:
    """Where a run starts reading the log: a little before the last run's mark, or
    ``first_lookback`` ago on the first run; never further back than GitHub redelivers.
    """
    start = now - policy.first_lookback if mark is None else mark - policy.overlap
    return max(start, now - policy.max_age)


def next_mark(result: Plan, *, asked: Collection[str], previous: datetime) -> datetime:
    """Where the next run's window starts: the oldest delivery still held (a wait, a
    deferral, a redelivery this run did not get to), else the newest attempt judged.

    ``asked`` are the guids this run asked GitHub about; ``previous`` is this run's
    own mark (kept when the window was empty).
    """
    held = [
        v.attempt.delivered_at
        for v in result.verdicts
        if v.verdict in HELD and not (v.verdict == REDELIVER and v.guid in asked)
    ]
    if held:
        return min(held)
    newest = [v.attempt.delivered_at for v in result.verdicts]
    return max([previous, *newest])
