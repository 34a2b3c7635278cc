"""What the dashboard shows, as pure functions over rows read from the store.

Triage: each gated label's state and measured precision, the live-precision rule of
:mod:`core.live_precision`, recent corrections, the model in use. People: reviewer
load, newcomers welcomed and who came back, top contributors and reviewers this
quarter. Response: time to first response per week (median, p90) and what is
unanswered now. The weekly digest adds counts since a moment (corrections, items
opened, newcomers welcomed) and how many waiting items were routed, over the same rows
(:class:`CommunityRows`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: Feedback kinds that correct the bot (the "recent corrections" list).
CORRECTIONS = frozenset({"label_removed", "label_added", "wrong", "reviewer_removed"})


#: What a gate is for, as people read it, and the suffix its label's name gets.
GATE_KINDS = {
    "issue": ("issues", ""),
    "pull_request": ("pull requests", " (PRs)"),
    "discussion": ("discussions", " (discussions)"),
}


def label_rows(gates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per gated label, live first: state, measured precision, the lower bound
    the gate reads, support, coverage.
    """
    rows = []
    for row in gates:
        gate = dict(row["gate"])
        kind, suffix = GATE_KINDS.get(str(row.get("kind") or "issue"), GATE_KINDS["issue"])
        rows.append(
            {
                "label": str(row["label"]),
                "name": f"{row['label']}{suffix}",
                "for": kind,
                "state": "live" if row["live"] else "shadow",
                "precision": gate.get("precision"),
                "bound": gate.get("bound"),
                "support": int(gate.get("applied", 0) or 0),
                "coverage": gate.get("coverage"),
                "reason": str(gate.get("reason", "")),
            }
        )
    return sorted(rows, key=lambda r: (r["state"] != "live", r["for"], r["label"]))


def model_in_use(versions: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The promoted model version (the newest promoted one), or None."""
    promoted = [v for v in versions if v.get("promoted")]
    if not promoted:
        return None
    row = promoted[-1]
    metrics = row.get("metrics") or {}
    summary = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    return {"id": row["id"], "since": str(row["created_at"])[:16], "metrics": summary}


def recent_corrections(
    rows: Sequence[Mapping[str, Any]], *, limit: int = 10
) -> list[dict[str, Any]]:
    """The newest feedback rows, newest first."""
    picked = [r for r in rows if r["kind"] in CORRECTIONS] or list(rows)
    return [
        {
            "number": r["number"],
            "kind": str(r["kind"]).replace("_", " "),
            "subject": r["subject"],
            "change": _change(str(r["kind"]), str(r["subject"])),
            "actor": r["actor"],
            "when": str(r["created_at"])[:16],
        }
        for r in reversed(picked[-limit:])
    ]


def _change(kind: str, subject: str) -> str:
    sign = {"label_added": "+ ", "label_removed": "− "}.get(kind)
    return f"{sign}{subject}" if sign else f"{kind.replace('_', ' ')}: {subject}"


def quarter_start(today: date) -> date:
    """The first day of ``today``'s calendar quarter."""
    return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)


def top_people(
    changes: Iterable[Mapping[str, Any]], *, since: date, limit: int = 10
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(top authors, top reviewers) of changes created on or after ``since``."""
    authors: Counter[str] = Counter()
    reviewers: Counter[str] = Counter()
    floor = since.isoformat()
    for change in changes:
        if str(change.get("merged_at") or change["created_at"])[:10] < floor:
            continue
        authors[str(change["author"])] += 1
        reviewers.update(str(r) for r in change.get("reviewers") or [])
    return authors.most_common(limit), reviewers.most_common(limit)


def reviewer_load(
    requests: Iterable[Mapping[str, Any]], changes: Iterable[Mapping[str, Any]], *, limit: int = 15
) -> list[tuple[str, int]]:
    """Open review requests per person: the bot's reviewer effects on pull requests that
    the stored history does not show merged or reviewed by that person yet.
    """
    done: dict[int, set[str]] = {}
    for change in changes:
        merged = bool(change.get("merged_at"))
        done[int(change["number"])] = (
            {"*"} if merged else {str(r).lower() for r in change.get("reviewers") or []}
        )
    load: Counter[str] = Counter()
    for row in requests:
        finished = done.get(int(row["number"] or 0), set())
        for login in (row.get("detail") or {}).get("reviewers") or []:
            if "*" not in finished and str(login).lower() not in finished:
                load[str(login)] += 1
    return sorted(load.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def newcomers(
    welcomes: Iterable[Mapping[str, Any]], changes: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """People welcomed, and how many of them authored another change afterwards."""
    authored: dict[str, set[int]] = defaultdict(set)
    for change in changes:
        authored[str(change["author"]).lower()].add(int(change["number"]))
    welcomed: dict[str, int] = {}
    for row in welcomes:
        author = str((row.get("detail") or {}).get("author") or "")
        if author:
            welcomed.setdefault(author.lower(), int(row["number"] or 0))
    back = [who for who, first in welcomed.items() if authored.get(who, set()) - {first}]
    share = len(back) / len(welcomed) if welcomed else None
    return {"welcomed": len(welcomed), "returned": len(back), "share": share}


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (not empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _moment(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def response_weeks(
    pairs: Iterable[tuple[Any, Any]], *, now: datetime, weeks: int = 12
) -> dict[str, Any]:
    """Time to first response, from ``(opened, first response or None)`` pairs.

    Per ISO week of opening (the last ``weeks``): median and p90 in hours; and how many
    items are unanswered now, with the oldest one's wait.
    """
    hours: dict[str, list[float]] = defaultdict(list)
    waiting: list[float] = []
    floor = now - timedelta(weeks=weeks)
    for opened_raw, answered_raw in pairs:
        opened, answered = _moment(opened_raw), _moment(answered_raw)
        if opened is None:
            continue
        if answered is None:
            waiting.append((now - opened).total_seconds() / 3600)
        elif opened >= floor:
            monday = (opened - timedelta(days=opened.weekday())).date().isoformat()
            hours[monday].append(max(0.0, (answered - opened).total_seconds() / 3600))
    rows = [
        (week, percentile(values, 0.5), percentile(values, 0.9), len(values))
        for week, values in sorted(hours.items())
    ]
    oldest = max(waiting) if waiting else None
    return {"weeks": rows, "unanswered": len(waiting), "oldest_hours": oldest}


def waiting_items(rows: Iterable[Mapping[str, Any]], *, now: datetime) -> list[dict[str, Any]]:
    """Unanswered items as the page lists them: number, kind, hours waited, and the
    maintainer the follow-up routed it to ("" while nobody was asked)."""
    found = []
    for row in rows:
        opened = _moment(row.get("opened_at"))
        if opened is None:
            continue
        found.append(
            {
                "number": int(row["number"]),
                "kind": str(row.get("kind") or "issue").replace("_", " "),
                "hours": max(0.0, (now - opened).total_seconds() / 3600),
                "routed_to": str(row.get("routed_to") or ""),
            }
        )
    return found


@dataclass(frozen=True)
class CommunityRows:
    """One repository's rows behind the community numbers, as
    :func:`core.community.reads.community_rows` reads them (the weekly digest's input).

    Times may be naive (SQLite) or aware; naive ones are UTC.
    """

    #: ``label_gates`` rows (``label``, ``kind``, ``live``, ``gate``).
    gates: Sequence[Mapping[str, Any]] = ()
    #: Triage decisions of the audit log (``number``, ``mode``, ``detail``).
    decisions: Sequence[Mapping[str, Any]] = ()
    #: ``feedback`` rows, oldest first (``number``, ``kind``, ``subject``, ``created_at``).
    feedback: Sequence[Mapping[str, Any]] = ()
    #: ``model_versions`` rows, oldest first.
    versions: Sequence[Mapping[str, Any]] = ()
    #: ``review_changes`` rows (``number``, ``author``, ``reviewers``, times).
    changes: Sequence[Mapping[str, Any]] = ()
    #: The bot's reviewer effects (``number``, ``detail.reviewers``).
    review_requests: Sequence[Mapping[str, Any]] = ()
    #: The bot's welcome effects (``number``, ``detail.author``, ``created_at``).
    welcomes: Sequence[Mapping[str, Any]] = ()
    #: ``first_responses`` rows opened since the read's ``since`` or still unanswered
    #: (``opened_at``, ``first_response_at``, ``routed_to``); None: not recorded.
    responses: Sequence[Mapping[str, Any]] | None = None


def _since(value: Any, since: datetime) -> bool:
    moment = _moment(value)
    return moment is not None and moment >= since


def corrections_since(rows: Iterable[Mapping[str, Any]], since: datetime) -> int:
    """How many corrections (:data:`CORRECTIONS`) people made at or after ``since``."""
    return sum(
        1 for r in rows if r.get("kind") in CORRECTIONS and _since(r.get("created_at"), since)
    )


def opened_since(rows: Iterable[Mapping[str, Any]], since: datetime) -> int:
    """How many first-response rows were opened at or after ``since``."""
    return sum(1 for r in rows if _since(r.get("opened_at"), since))


def welcomed_since(welcomes: Iterable[Mapping[str, Any]], since: datetime) -> int:
    """How many people the bot welcomed at or after ``since`` (each person once)."""
    people = {
        str((r.get("detail") or {}).get("author") or "").lower()
        for r in welcomes
        if _since(r.get("created_at"), since)
    }
    return len(people - {""})


def routed_waiting(rows: Iterable[Mapping[str, Any]]) -> int:
    """Unanswered items the follow-up job routed to someone (and still unanswered)."""
    return sum(1 for r in rows if r.get("first_response_at") is None and r.get("routed_to"))
