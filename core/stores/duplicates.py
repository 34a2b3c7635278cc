"""Possible duplicates: what the bot needs to rank a new issue's earlier issues, to gate
its suggestions on the repository's own history, and to learn from what people did.

* ``duplicate_issues``: the repository's issues (title, body, state, times), the
  candidates a new issue is compared with (their vectors are the semantic index's);
* ``duplicate_pairs``: issues people closed as duplicates, and of which earlier issue
  (from a ``Duplicate of #N`` comment, a ``marked_as_duplicate`` event, the ``duplicate``
  close reason or label with a link): the replay the gate is measured on;
* ``duplicate_gates``: one row per repository: the gate (``LabelGate`` JSON: threshold,
  held-out counts, live or shadow), what the calibration measured, when the history
  was last scanned;
* ``duplicate_suggestions``: one row per issue the bot suggested duplicates for (live:
  commented or labelled; shadow: recorded only), and people's verdict on it:
  ``confirmed`` (closed as a duplicate of a suggested issue), ``wrong`` (a maintainer's
  👎 on the comment, or ``/steward wrong``) or ``other`` (closed as a duplicate of an
  issue the bot did not suggest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from core.stores.base import StoreBase, as_utc, metadata, now_utc

#: Verdicts people give a suggestion.
VERDICTS = ("confirmed", "wrong", "other")

duplicate_issues = Table(
    "duplicate_issues",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

duplicate_pairs = Table(
    "duplicate_pairs",
    metadata,
    Column("repo", String(255), primary_key=True),
    # The issue closed as a duplicate, and the earlier issue it repeats.
    Column("number", Integer, primary_key=True),
    Column("original", Integer, nullable=False),
    # How people said so: "comment", "event", "state_reason" or "label".
    Column("source", String(32), nullable=False),
    Column("found_at", DateTime(timezone=True), nullable=False),
)

duplicate_gates = Table(
    "duplicate_gates",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("live", Boolean, nullable=False),
    Column("gate", JSON, nullable=False),
    Column("calibration", JSON, nullable=False),
    Column("calibrated_at", DateTime(timezone=True), nullable=False),
    # When ``live`` last changed.
    Column("changed_at", DateTime(timezone=True), nullable=False),
    # Issues updated after this are read again by the next refresh.
    Column("scanned_at", DateTime(timezone=True), nullable=True),
)

duplicate_suggestions = Table(
    "duplicate_suggestions",
    metadata,
    Column("repo", String(255), primary_key=True),
    Column("number", Integer, primary_key=True),
    # The earlier issues suggested, best first, and the top one's gate score.
    Column("suggested", JSON, nullable=False),
    Column("score", Float, nullable=False),
    # "live" (on GitHub) or "shadow" (recorded only); how: "comment", "label", "record".
    Column("state", String(16), nullable=False),
    Column("how", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("verdict_source", String(32), nullable=True),
    Column("verdict_actor", String(255), nullable=True),
    Column("verdict_at", DateTime(timezone=True), nullable=True),
)

_ISSUE_TIMES = ("created_at", "closed_at", "updated_at")
_GATE_TIMES = ("calibrated_at", "changed_at", "scanned_at")
_SUGGESTION_TIMES = ("created_at", "verdict_at")


class DuplicateStore(StoreBase):
    """The duplicates' issues, known pairs, gate and suggestions, by repository."""

    def upsert_duplicate_issues(self, repo: str, issues: Iterable[Mapping[str, Any]]) -> int:
        """Store issues (``number``, ``title``, ``body``, ``state``, ``created_at``,
        ``closed_at``: datetimes), replacing what was stored of each; how many."""
        stamp, count = now_utc(), 0
        with self._tx() as conn:
            for issue in issues:
                number = int(issue["number"])
                values = {
                    "title": str(issue.get("title") or ""),
                    "body": str(issue.get("body") or ""),
                    "state": str(issue.get("state") or "open"),
                    "created_at": issue["created_at"],
                    "closed_at": issue.get("closed_at"),
                    "updated_at": stamp,
                }
                where = (duplicate_issues.c.repo == repo) & (duplicate_issues.c.number == number)
                if not conn.execute(
                    update(duplicate_issues).where(where).values(**values)
                ).rowcount:
                    conn.execute(
                        insert(duplicate_issues).values(repo=repo, number=number, **values)
                    )
                count += 1
        return count

    def duplicate_issues(self, repo: str) -> list[dict[str, Any]]:
        """The repository's stored issues, oldest first (ties by number)."""
        query = (
            select(duplicate_issues)
            .where(duplicate_issues.c.repo == repo)
            .order_by(duplicate_issues.c.created_at, duplicate_issues.c.number)
        )
        with self._tx() as conn:
            return [as_utc(dict(r), _ISSUE_TIMES) for r in conn.execute(query).mappings()]

    def duplicate_issue_count(self, repo: str) -> int:
        """How many issues of the repository are stored (no rows loaded)."""
        query = select(func.count()).select_from(duplicate_issues)
        with self._tx() as conn:
            return int(conn.execute(query.where(duplicate_issues.c.repo == repo)).scalar_one())

    def save_duplicate_pairs(self, repo: str, pairs: Iterable[tuple[int, int, str]]) -> int:
        """Store ``(duplicate, original, source)`` pairs; how many were new (a known
        duplicate keeps its first original)."""
        stamp, new = now_utc(), 0
        with self._tx() as conn:
            for number, original, source in pairs:
                where = (duplicate_pairs.c.repo == repo) & (duplicate_pairs.c.number == number)
                if conn.execute(select(duplicate_pairs.c.number).where(where)).first():
                    continue
                conn.execute(
                    insert(duplicate_pairs).values(
                        repo=repo, number=number, original=original, source=source, found_at=stamp
                    )
                )
                new += 1
        return new

    def duplicate_pairs(self, repo: str) -> list[dict[str, Any]]:
        """The repository's known duplicates (``number``, ``original``, ``source``,
        ``found_at``), in the order they were found."""
        query = (
            select(duplicate_pairs)
            .where(duplicate_pairs.c.repo == repo)
            .order_by(duplicate_pairs.c.found_at, duplicate_pairs.c.number)
        )
        with self._tx() as conn:
            return [as_utc(dict(r), ("found_at",)) for r in conn.execute(query).mappings()]

    def save_duplicate_gate(
        self, repo: str, *, gate: Mapping[str, Any], calibration: Mapping[str, Any]
    ) -> None:
        """Store the repository's measured gate (``LabelGate.to_json()``) and what the
        calibration measured; ``changed_at`` moves only when the live state does."""
        stamp = now_utc()
        live = bool(gate["live"])
        values = {
            "gate": dict(gate),
            "calibration": dict(calibration),
            "live": live,
            "calibrated_at": stamp,
        }
        where = duplicate_gates.c.repo == repo
        with self._tx() as conn:
            before = conn.execute(select(duplicate_gates.c.live).where(where)).first()
            if before is None:
                conn.execute(insert(duplicate_gates).values(repo=repo, changed_at=stamp, **values))
                return
            if bool(before[0]) != live:
                values["changed_at"] = stamp
            conn.execute(update(duplicate_gates).where(where).values(**values))

    def rejudge_duplicate_gate(self, repo: str, *, gate: Mapping[str, Any]) -> bool:
        """Store the gate re-judged on people's verdicts since the calibration
        (``LabelGate.to_json()``): the calibration's numbers and time stay, ``changed_at``
        moves only when the live state does. False: never calibrated (nothing stored)."""
        stamp = now_utc()
        live = bool(gate["live"])
        where = duplicate_gates.c.repo == repo
        with self._tx() as conn:
            before = conn.execute(select(duplicate_gates.c.live).where(where)).first()
            if before is None:
                return False
            values: dict[str, Any] = {"gate": dict(gate), "live": live}
            if bool(before[0]) != live:
                values["changed_at"] = stamp
            conn.execute(update(duplicate_gates).where(where).values(**values))
        return True

    def duplicate_gate(self, repo: str) -> dict[str, Any] | None:
        """The repository's gate row (None: never calibrated)."""
        query = select(duplicate_gates).where(duplicate_gates.c.repo == repo)
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        return as_utc(dict(row), _GATE_TIMES) if row else None

    def mark_duplicates_scanned(self, repo: str, at: datetime) -> None:
        """Issues updated after ``at`` are what the next refresh reads."""
        where = duplicate_gates.c.repo == repo
        with self._tx() as conn:
            conn.execute(update(duplicate_gates).where(where).values(scanned_at=at))

    def record_duplicate_suggestion(
        self,
        repo: str,
        number: int,
        *,
        suggested: Iterable[int],
        score: float,
        state: str,
        how: str,
    ) -> bool:
        """Record the bot's suggestion for issue ``number`` (once; False if one was)."""
        where = (duplicate_suggestions.c.repo == repo) & (duplicate_suggestions.c.number == number)
        values = {
            "suggested": [int(n) for n in suggested],
            "score": float(score),
            "state": state,
            "how": how,
            "created_at": now_utc(),
        }
        with self._tx() as conn:
            if conn.execute(select(duplicate_suggestions.c.number).where(where)).first():
                return False
            conn.execute(insert(duplicate_suggestions).values(repo=repo, number=number, **values))
        return True

    def duplicate_suggestion(self, repo: str, number: int) -> dict[str, Any] | None:
        """The bot's suggestion for one issue (None: it made none)."""
        where = (duplicate_suggestions.c.repo == repo) & (duplicate_suggestions.c.number == number)
        with self._tx() as conn:
            row = conn.execute(select(duplicate_suggestions).where(where)).mappings().first()
        return as_utc(dict(row), _SUGGESTION_TIMES) if row else None

    def duplicate_suggestions(self, repo: str | None = None) -> list[dict[str, Any]]:
        """Every suggestion (of one repository, or all), oldest first."""
        query = select(duplicate_suggestions).order_by(
            duplicate_suggestions.c.created_at, duplicate_suggestions.c.number
        )
        if repo is not None:
            query = query.where(duplicate_suggestions.c.repo == repo)
        with self._tx() as conn:
            return [as_utc(dict(r), _SUGGESTION_TIMES) for r in conn.execute(query).mappings()]

    def judge_duplicate_suggestion(
        self, repo: str, number: int, *, verdict: str, source: str, actor: str = ""
    ) -> bool:
        """People's verdict on a suggestion (``VERDICTS``); the first one stands, except
        that a correction (``wrong``) replaces anything else. True if it was recorded."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        where = (duplicate_suggestions.c.repo == repo) & (duplicate_suggestions.c.number == number)
        unjudged = duplicate_suggestions.c.verdict.is_(None)
        open_to = (
            unjudged | (duplicate_suggestions.c.verdict != "wrong")
            if verdict == "wrong"
            else unjudged
        )
        values = {
            "verdict": verdict,
            "verdict_source": source,
            "verdict_actor": actor[:255],
            "verdict_at": now_utc(),
        }
        with self._tx() as conn:
            changed = conn.execute(
                update(duplicate_suggestions).where(where & open_to).values(**values)
            )
            return bool(changed.rowcount)

    def mark_duplicate_wrong(self, repo: str, number: int, *, actor: str, source: str) -> bool:
        """A person's correction of the bot's suggestion on issue ``number`` (``source``:
        ``reaction`` or ``command``); False when the bot suggested nothing there or it
        was corrected already. The next calibration counts it against the gate."""
        return self.judge_duplicate_suggestion(
            repo, number, verdict="wrong", source=source, actor=actor
        )

    def duplicate_counts(self, repo: str | None = None) -> dict[str, dict[str, int]]:
        """Per state (``live``, ``shadow``): suggestions made, and how many people
        ``confirmed``, called ``wrong``, or closed as a duplicate of an ``other`` issue."""
        columns = (duplicate_suggestions.c.state, duplicate_suggestions.c.verdict, func.count())
        query = select(*columns).group_by(
            duplicate_suggestions.c.state, duplicate_suggestions.c.verdict
        )
        if repo is not None:
            query = query.where(duplicate_suggestions.c.repo == repo)
        out = {state: dict.fromkeys(("suggested", *VERDICTS), 0) for state in ("live", "shadow")}
        with self._tx() as conn:
            for state, verdict, count in conn.execute(query):
                bucket = out.setdefault(str(state), dict.fromkeys(("suggested", *VERDICTS), 0))
                bucket["suggested"] += int(count)
                if verdict in VERDICTS:
                    bucket[str(verdict)] += int(count)
        return out

    def duplicate_overview(self, repo: str) -> dict[str, Any]:
        """What the dashboard shows of a repository's possible duplicates: the gate
        (``None``: never calibrated; else its state, the lower bound of the top
        suggestion's precision against the bar, the evidence behind it and how many more
        right suggestions it needs) and :meth:`duplicate_counts`."""
        row = self.duplicate_gate(repo)
        counts = self.duplicate_counts(repo)
        if row is None:
            return {"gate": None, "counts": counts}
        gate = row["gate"]
        history = (int(gate.get("applied") or 0), int(gate.get("correct") or 0))
        people = (int(gate.get("judged") or 0), int(gate.get("judged_correct") or 0))
        summary = {
            "state": "live" if row["live"] else "shadow",
            "bound": gate.get("bound"),
            "target": gate.get("target"),
            "confidence": gate.get("confidence"),
            "threshold": gate.get("threshold"),
            "needed": 0 if row["live"] else int(gate.get("needed") or 0),
            "history": history,
            "people": people,
            "reason": str(gate.get("reason") or ""),
            "calibrated_at": row["calibrated_at"],
            "since": row["changed_at"],
            "issues": int(row["calibration"].get("issues") or 0),
            "pairs": int(row["calibration"].get("pairs") or 0),
        }
        return {"gate": summary, "counts": counts}
