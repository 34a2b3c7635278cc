"""Possible duplicates in the bot (issue 27): calibrated on the repository's own history,
decided on each new issue, corrected by people.

* ``steward.calibrate_duplicates`` (after the review-history backfill, when a new issue
  finds no calibration, and when enough new duplicates or corrections arrived): reads
  the issues and the duplicates people closed, embeds the issues into the semantic
  index, replays the history and stores the gate (``calibrate.py``).
* ``steward.duplicates`` (``issues.opened``): embeds the issue, ranks the earlier issues
  (``models.duplicates``), decides (``decide.py``) and, live and past the gate, posts one
  marker-checked comment or the label, once (``apply_once``); otherwise records.
* ``steward.refresh_duplicates_all`` (Celery beat, daily) queues one
  ``steward.refresh_duplicates`` per repository: issues updated since the last scan,
  duplicates people closed since (a suggestion confirmed, or closed as a duplicate of
  another issue), maintainers' 👎 on the bot's comments (corrections); calibrates again
  when enough arrived.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.accounts import is_bot_user
from core.store import Store
from core.tasks import (
    CALIBRATE_DUPLICATES,
    REFRESH_DUPLICATES,
    CalibrateDuplicatesArgs,
    DuplicatesArgs,
    NoArgs,
    RefreshDuplicatesArgs,
    RepoArgs,
)
from models.duplicates.index import DuplicateIndex
from models.triage.gate import GatePolicy
from workers.duplicates import calibrate
from workers.duplicates.decide import (
    MARKER,
    UNKNOWN,
    Decision,
    Found,
    comment_body,
    decide,
    effect_key,
    gate_score,
    state_word,
)
from workers.duplicates.history import (
    find_pairs,
    issue_row,
    list_issues,
    parse_time,
    thumbs_down,
)
from workers.flow import Effect, RepoTask, open_repo
from workers.gates import duplicates_policy, regate_duplicates
from workers.runtime import TaskContext
from workers.semantic import ensure_vectors, issue_text, repo_encoder

log = logging.getLogger(__name__)

#: How long a queued calibration keeps others from being queued (a lost task frees it).
PENDING_SECONDS = 3600
#: Calibrate again after this many new duplicates, or a tenth of those known if more.
RECALIBRATE_PAIRS = 5


# ------------------------------------------------------------------ the corpus


_lock = threading.Lock()
#: ``(repo, encoder tag) → ((issues, newest update), index, numbers)``.
_indexes: dict[tuple[str, str], tuple[tuple[int, Any], DuplicateIndex, list[int]]] = {}


def corpus(ctx: TaskContext, full: str) -> tuple[DuplicateIndex, list[int]] | None:
    """The repository's stored issues as a ``DuplicateIndex`` (vectors from the semantic
    index; an issue not embedded yet is embedded now) and their numbers; None: no issues.
    Kept per process until the stored issues change."""
    rows = ctx.store.duplicate_issues(full)
    if not rows:
        return None
    encoder = repo_encoder(ctx.settings, full)
    stamp = (len(rows), max(r["updated_at"] for r in rows))
    with _lock:
        cached = _indexes.get((full, encoder.tag))
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
    texts = {calibrate.issue_key(int(r["number"])): issue_text(r) for r in rows}
    vectors = ensure_vectors(ctx.store, full, encoder, texts=texts)
    index = DuplicateIndex(
        list(texts),
        [str(r["title"]) for r in rows],
        [str(r["body"]) for r in rows],
        np.stack([vectors[key] for key in texts]),
        [r["created_at"].timestamp() for r in rows],
    )
    numbers = [int(r["number"]) for r in rows]
    with _lock:
        _indexes[(full, encoder.tag)] = (stamp, index, numbers)
    return index, numbers


async def queue_calibration(ctx: TaskContext, args: RepoArgs) -> bool:
    """Queue ``steward.calibrate_duplicates`` unless one is waiting; True if queued."""
    calibrate = CalibrateDuplicatesArgs(
        installation_id=args.installation_id,
        owner=args.owner,
        repo=args.repo,
        delivery_id=args.delivery_id,
    )
    key = f"steward:duplicates:pending:{args.full_name}"
    return await ctx.enqueue_once(CALIBRATE_DUPLICATES, calibrate, key=key, seconds=PENDING_SECONDS)


def policy_of(task: RepoTask) -> GatePolicy:
    """The bar the duplicates clear: the labels' (``triage.precision`` and friends)."""
    return duplicates_policy(task.config.triage)


# ------------------------------------------------------------------ calibration


async def run_calibrate_duplicates(
    ctx: TaskContext, args: CalibrateDuplicatesArgs
) -> dict[str, Any]:
    """Read the history, embed it, replay it and store the duplicates' gate."""
    full = args.full_name
    try:
        task = await open_repo(ctx, args)
        if task.config.triage.duplicates == "off":
            return {"skipped": "triage.duplicates is off"}
        started = datetime.now(UTC)
        issues = await list_issues(task)
        ctx.store.upsert_duplicate_issues(full, [issue_row(i) for i in issues])
        known = {int(p["number"]) for p in ctx.store.duplicate_pairs(full)}
        labels = task.config.duplicates.history_labels
        ctx.store.save_duplicate_pairs(
            full, await find_pairs(task, issues, known=known, labels=labels)
        )
        measured = measure(ctx, full, policy_of(task))
        ctx.store.mark_duplicates_scanned(full, started)
    finally:
        await ctx.redis.delete(f"steward:duplicates:pending:{full}")
    if measured is None:
        return {"skipped": "no issues to calibrate on"}
    return measured


def measure(ctx: TaskContext, full: str, policy: GatePolicy) -> dict[str, Any] | None:
    """Replay the stored history and store the gate; what was measured (None: no issues)."""
    begun = time.perf_counter()
    found = corpus(ctx, full)
    if found is None:
        return None
    index, numbers = found
    pairs = [(int(p["number"]), int(p["original"])) for p in ctx.store.duplicate_pairs(full)]
    wrong = corrections(ctx.store.duplicate_suggestions(full))
    replayed = calibrate.replay_history(index, numbers, pairs, wrong=wrong)
    gate = calibrate.measure_gate(replayed, policy)
    numbers_seen = calibrate.summary(
        replayed, issues=len(numbers), pairs=len(pairs), corrections=len(wrong)
    )
    numbers_seen["seconds"] = round(time.perf_counter() - begun, 2)
    ctx.store.save_duplicate_gate(full, gate=gate.to_json(), calibration=numbers_seen)
    log.info("duplicates of %s: %s (%s)", full, gate.state, gate.reason)
    return {"calibrated": full, "state": gate.state, "threshold": gate.threshold, **numbers_seen}


def corrections(suggestions: Sequence[Mapping[str, Any]]) -> dict[int, list[int]]:
    """Issue → the suggestions people called wrong on it."""
    return {
        int(row["number"]): [int(n) for n in row["suggested"]]
        for row in suggestions
        if row.get("verdict") == "wrong"
    }


# ------------------------------------------------------------------ a new issue


async def run_duplicates(ctx: TaskContext, args: DuplicatesArgs) -> dict[str, Any]:
    """Possible duplicates of a new issue: recorded, or (live, past the gate) one comment
    or the label, once."""
    key = effect_key(args.full_name, args.number)
    if ctx.done(key):
        return {"skipped": "already done"}
    task = await open_repo(ctx, args)
    setting = task.config.triage.duplicates
    if setting == "off":
        return {"skipped": "triage.duplicates is off"}
    issue = await task.issue(args.number)
    if issue.get("pull_request") or is_bot_user(issue.get("user")):
        return {"skipped": "not a person's issue"}
    gate = ctx.store.duplicate_gate(args.full_name)
    if gate is None:
        ctx.store.upsert_duplicate_issues(args.full_name, [issue_row(issue)])
        await queue_calibration(ctx, args)
        return {"skipped": "not calibrated yet: calibration queued"}
    found = rank(ctx, args.full_name, issue, k=task.config.duplicates.count)
    ctx.store.upsert_duplicate_issues(args.full_name, [issue_row(issue)])
    decision = decide(
        found,
        setting=setting,
        gate=gate["gate"],
        how=task.config.duplicates.how,
        count=task.config.duplicates.count,
    )
    return await settle(task, args.number, decision, found=found)


def rank(ctx: TaskContext, full: str, issue: Mapping[str, Any], *, k: int) -> list[Found]:
    """The new issue's likeliest earlier duplicates, best first, with gate scores."""
    number = int(issue["number"])
    key = calibrate.issue_key(number)
    vector = ensure_vectors(
        ctx.store, full, repo_encoder(ctx.settings, full), texts={key: issue_text(issue)}
    )[key]
    found = corpus(ctx, full)
    if found is None:
        return []
    index, _ = found
    created = parse_time(issue.get("created_at")) or datetime.now(UTC)
    title, body = str(issue.get("title") or ""), str(issue.get("body") or "")
    at = created.timestamp()
    mask = index.candidate_mask(at=at, exclude=[key])
    if not mask.any():
        return []
    candidates = index.query(title, body, vector, at=at, k=k, exclude=[key])
    return [
        Found(
            int(c.key.split(":", 1)[1]),
            gate_score(c.cosine, calibrate.words_share(index, title, body, mask=mask, bm25=c.bm25)),
            c.reason,
        )
        for c in candidates
    ]


async def settle(
    task: RepoTask, number: int, decision: Decision, *, found: Sequence[Found]
) -> dict[str, Any]:
    """Apply (live) and record the decision once; note the suggestion for the dashboard."""
    how = task.config.duplicates

    async def apply() -> dict[str, Any]:
        if decision.action == "label":
            await task.gh.post(
                "/repos/{owner}/{repo}/issues/{issue_number}/labels",
                {"owner": task.owner, "repo": task.repo, "issue_number": number},
                data={"labels": [how.label]},
            )
            return {"label": how.label}
        rows = [await listed(task, n) for n in decision.suggested]
        posted = await task.comment_once(number, body=comment_body(rows), marker=MARKER)
        return {"commented": posted}

    detail = {
        **decision.detail,
        "suggested": list(decision.suggested),
        "score": round(decision.score, 4),
        "candidates": [
            {"number": f.number, "score": round(f.score, 4), "why": f.reason} for f in found
        ],
        "reason": decision.reason,
    }
    mode = None if decision.acts else "shadow"
    effect = Effect(
        effect_key(task.full_name, number), "duplicates", decision.action, number, detail, mode
    )
    if await task.apply_once(effect, apply if decision.acts else None) is None:
        return {"skipped": "already done"}
    if decision.suggested:
        live = decision.acts and task.live
        task.store.record_duplicate_suggestion(
            task.full_name,
            number,
            suggested=decision.suggested,
            score=decision.score,
            state="live" if live else "shadow",
            how=decision.action if live else "record",
        )
    return {"duplicates": decision.action, "suggested": list(decision.suggested)}


async def listed(task: RepoTask, number: int) -> tuple[int, str, str]:
    """An earlier issue as the comment lists it: number, title and state now."""
    issue = await task.issue(number)
    return number, str(issue.get("title") or ""), state_word(issue)


# ------------------------------------------------------------------ refreshing


async def run_refresh_duplicates_all(ctx: TaskContext, args: NoArgs) -> dict[str, Any]:
    """Queue a refresh for every active repository (Celery beat, daily)."""
    queued = 0
    for installation, full in ctx.store.all_active_repositories():
        owner, _, name = full.partition("/")
        ctx.runtime.enqueue(
            REFRESH_DUPLICATES,
            RefreshDuplicatesArgs(installation_id=installation, owner=owner, repo=name),
        )
        queued += 1
    return {"queued": queued}


async def run_refresh_duplicates(ctx: TaskContext, args: RefreshDuplicatesArgs) -> dict[str, Any]:
    """What people did since the last scan: new duplicates (confirming a suggestion or
    not) and 👎 on the bot's comments; calibrate again when enough arrived."""
    full = args.full_name
    task = await open_repo(ctx, args)
    if task.config.triage.duplicates == "off":
        return {"skipped": "triage.duplicates is off"}
    gate = ctx.store.duplicate_gate(full)
    if gate is None:
        return {"calibration_queued": await queue_calibration(ctx, args)}
    started = datetime.now(UTC)
    since = gate.get("scanned_at") or gate["calibrated_at"]
    issues = await list_issues(task, since=since)
    ctx.store.upsert_duplicate_issues(full, [issue_row(i) for i in issues])
    known = {int(p["number"]) for p in ctx.store.duplicate_pairs(full)}
    labels = task.config.duplicates.history_labels
    pairs = await find_pairs(task, issues, known=known, labels=labels)
    ctx.store.save_duplicate_pairs(full, pairs)
    judged = judge_closed(ctx.store, full, pairs)
    wrong = await thumbs_down(task, ctx.store.duplicate_suggestions(full), now=started)
    for number, login in wrong:
        ctx.store.mark_duplicate_wrong(full, number, actor=login, source="reaction")
    ctx.store.mark_duplicates_scanned(full, started)
    flipped = regate_duplicates(ctx.store, full, policy_of(task))
    due = recalibration_due(gate["calibration"], ctx.store, full)
    queued = await queue_calibration(ctx, args) if due else False
    return {
        "new_pairs": len(pairs),
        "judged": judged,
        "wrong": len(wrong),
        "gate": flipped,
        "calibration_queued": queued,
    }


def judge_closed(store: Store, full: str, pairs: Sequence[tuple[int, int, str]]) -> dict[str, int]:
    """People's verdict on the bot's suggestions from new duplicates: ``confirmed`` when
    closed as a duplicate of a suggested issue, ``other`` when of another one."""
    counts = {"confirmed": 0, "other": 0}
    for number, original, _ in pairs:
        row = store.duplicate_suggestion(full, number)
        if row is None or original == UNKNOWN:
            continue
        verdict = "confirmed" if original in row["suggested"] else "other"
        if store.judge_duplicate_suggestion(full, number, verdict=verdict, source="closed"):
            counts[verdict] += 1
    return counts


def recalibration_due(calibration: Mapping[str, Any], store: Store, full: str) -> bool:
    """Whether enough arrived since the last calibration: new duplicates (five, or a
    tenth of those known), or a correction of a suggestion it had not counted."""
    before = int(calibration.get("pairs", 0))
    pairs = len(store.duplicate_pairs(full))
    if pairs - before >= max(RECALIBRATE_PAIRS, before // 10):
        return True
    wrong = corrections(store.duplicate_suggestions(full))
    return len(wrong) > int(calibration.get("corrections", 0))
