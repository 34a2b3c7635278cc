"""A store full of one repository's life, for the dashboard's tests and benchmark:
gated labels, triage decisions, corrections, a promoted model, reviewer requests,
welcomes, reviewed changes, first responses and possible duplicates (their gate and
what people did with the suggestions). Deterministic for a given size.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

import core.store as st
from core.store import Store
from models.triage.gate import LabelGate

LABELS = ("bug", "feature", "docs", "question", "performance", "security", "ci", "refactor")


def _gates(repo: str, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for i, label in enumerate(LABELS):
        live = i < 3
        gate = {
            "precision": round(0.95 - 0.06 * i, 3),
            "applied": 120 - 11 * i,
            "coverage": round(0.4 - 0.04 * i, 3),
            "reason": "measured precision above the bar" if live else "below the bar",
            "live": live,
        }
        rows.append(
            {
                "repo": repo,
                "kind": "pull_request" if label == "ci" else "issue",
                "label": label,
                "source": "nearest-neighbour",
                "live": live,
                "gate": gate,
                "changed_at": now - timedelta(days=3 * i),
                "updated_at": now,
            }
        )
    return rows


def _actions(repo: str, *, items: int, logins: list[str], now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(1)
    rows = []
    for n in range(1, items + 1):
        when = now - timedelta(hours=items - n)
        applied = [LABELS[n % 3]] if n % 4 else []
        detail = {"applied": applied, "shadow": [LABELS[3 + n % 5]]}
        rows.append(_action(repo, n, "triage", "decision", detail, when))
        if n % 3 == 0:
            picked = rng.sample(logins[: max(2, len(logins) // 4)], 2)
            rows.append(_action(repo, n, "reviewers", "live", {"reviewers": picked}, when))
        if n % 25 == 0:
            author = logins[rng.randrange(len(logins))]
            rows.append(_action(repo, n, "welcome", "comment", {"author": author}, when))
    return rows


def _action(
    repo: str, number: int, feature: str, action: str, detail: dict[str, Any], when: datetime
) -> dict[str, Any]:
    return {
        "effect_key": f"{repo}#{number}:{feature}",
        "installation_id": 1,
        "repo": repo,
        "number": number,
        "feature": feature,
        "action": action,
        "detail": detail,
        "mode": "live",
        "created_at": when,
    }


def _changes(repo: str, *, items: int, logins: list[str], now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(2)
    rows = []
    for n in range(3, items + 1, 3):
        created = now - timedelta(hours=items - n)
        merged = None if n % 7 == 0 else (created + timedelta(days=1)).isoformat()
        rows.append(
            {
                "repo": repo,
                "number": n,
                "created_at": created.isoformat(),
                "merged_at": merged,
                "author": logins[int(rng.paretovariate(1.2)) % len(logins)],
                "reviewers": rng.sample(logins[:10], 1),
                "title": f"Change {n}",
                "body": "",
                "files": ["src/app.py"],
                "fixes": [],
            }
        )
    return rows


def _feedback(repo: str, *, items: int, logins: list[str], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "repo": repo,
            "number": n,
            "kind": "label_removed" if n % 2 else "label_added",
            "subject": LABELS[n % 3] if n % 2 else LABELS[3 + n % 5],
            "actor": logins[n % len(logins)],
            "created_at": now - timedelta(hours=items - n),
        }
        for n in range(5, items + 1, 17)
    ]


def _responses(repo: str, *, items: int, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(3)
    rows = []
    for n in range(1, items + 1):
        opened = now - timedelta(hours=(items - n) * 1.5)
        wait = rng.expovariate(1 / 20)
        answered = None if opened + timedelta(hours=wait) > now else opened + timedelta(hours=wait)
        # Unanswered for a day: the follow-up (after_hours: 24) routed it to a maintainer.
        routed = answered is None and now - opened > timedelta(hours=24)
        rows.append(
            {
                "repo": repo,
                "number": n,
                "kind": "issue" if n % 5 else "discussion",
                "author": "someone",
                "opened_at": opened,
                "first_response_at": answered,
                "routed_to": "person-001" if routed else None,
                "routed_at": opened + timedelta(hours=24) if routed else None,
            }
        )
    return rows


def _duplicates(store: Store, repo: str, *, items: int) -> None:
    """The duplicates' gate and suggestions: with 100 items or more, live (141 top
    suggestions replayed, 140 right; people kept 11 of the 12 made live since), else in
    shadow (12 of 14 right: the bar needs more)."""
    live = items >= 100
    applied, correct = (141, 140) if live else (14, 12)
    judged, kept = (12, 11) if live else (0, 0)
    gate = LabelGate(
        "possible duplicate",
        0.71,
        applied,
        correct,
        60,
        items * 8,
        live,
        "the bound clears the bar" if live else "the bound is below the bar",
        0.95,
        0.95,
        30,
        judged,
        kept,
    )
    calibration = {"issues": items * 8, "pairs": 75, "corrections": 0}
    store.save_duplicate_gate(repo, gate=gate.to_json(), calibration=calibration)
    for i in range(judged):
        number = items + 1 + i
        store.record_duplicate_suggestion(
            repo, number, suggested=[i + 1], score=0.8, state="live", how="comment"
        )
        verdict = "wrong" if i == 0 else "confirmed" if i % 2 else None
        if verdict:
            store.judge_duplicate_suggestion(repo, number, verdict=verdict, source="closed")
    for i in range(items // 20):
        number = items + 100 + i
        store.record_duplicate_suggestion(
            repo, number, suggested=[i + 1], score=0.6, state="shadow", how="record"
        )
        if i % 7 == 0:
            store.judge_duplicate_suggestion(repo, number, verdict="confirmed", source="closed")


def seed(store: Store, repo: str, *, items: int = 400, people: int = 30) -> None:
    """Fill ``store`` with ``items`` items of ``repo`` touched by ``people`` people."""
    now = datetime.now(UTC)
    logins = [f"person-{i:03d}" for i in range(people)]
    with store.engine.begin() as conn:
        conn.execute(insert(st.label_gates), _gates(repo, now))
        conn.execute(insert(st.actions), _actions(repo, items=items, logins=logins, now=now))
        conn.execute(insert(st.review_changes), _changes(repo, items=items, logins=logins, now=now))
        conn.execute(insert(st.feedback), _feedback(repo, items=items, logins=logins, now=now))
        table = getattr(st, "first_responses", None)
        if table is not None:
            conn.execute(insert(table), _responses(repo, items=items, now=now))
    store.add_model_version(
        repo, "/models/v1", metrics={"micro_f1": 0.81}, fingerprint="abc", promoted=True
    )
    _duplicates(store, repo, items=items)
