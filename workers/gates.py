"""The triage gates' shared state below the features: the audit key of a label the bot
applied, what kind of item a gate is for, what people did with the bot's decisions, and
re-judging a label's gate from that (:func:`regate`); the same for the possible
duplicates' gate (:func:`regate_duplicates`).

Triage records decisions under these keys; feedback (a person's label change) and
commands (``/steward wrong``) re-judge the gate through :func:`regate`. The duplicates'
refresh (a maintainer's 👎, a duplicate people closed) and ``/steward wrong`` on a
duplicates suggestion re-judge theirs through :func:`regate_duplicates`. None of them
imports another: this module is what they share.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from core.config_schema import TriageConfig
from core.live_precision import human_labels, split_decision
from core.store import Store
from models.triage.gate import GatePolicy, LiveCounts, gate_from_json, live_verdict

log = logging.getLogger(__name__)


def label_effect_key(repo_full_name: str, number: int, label: str) -> str:
    """The audit-log key under which triage records a label it applied."""
    return f"triage:{repo_full_name}#{number}:label:{label}"


def scope_of(kind: str) -> str:
    """What an item is gated as: issues, pull requests and discussions each apart (a
    label measured on issues is not thereby measured on discussions).
    """
    return kind if kind in ("pull_request", "discussion") else "issue"


def label_counts(
    decisions: Iterable[Mapping[str, Any]], feedback: Iterable[Mapping[str, Any]]
) -> dict[str, LiveCounts]:
    """Per label, what people did with the bot's live and shadow decisions (for the gate).

    A live label is right unless a person removed it; a shadow label is judged once a
    person labelled the item, and right if they applied that label.
    """
    people = human_labels(feedback)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    scores: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for decision in decisions:
        live, shadow = split_decision(decision)
        added, removed = people.get(int(decision["number"]), (set(), set()))
        probs = decision["detail"].get("probs") or {}
        for label in live:
            tally[label][0] += 1
            tally[label][1] += label not in removed
        for label in shadow if added else ():
            tally[label][2] += 1
            tally[label][3] += label in added
            scores[label].append((float(probs.get(label, 0.0)), label in added))
    return {
        label: LiveCounts(
            live_applied=applied,
            live_correct=kept,
            shadow_judged=judged,
            shadow_correct=agreed,
            shadow=tuple(scores[label]),
        )
        for label, (applied, kept, judged, agreed) in tally.items()
    }


def regate(store: Store, repo: str, label: str, *, number: int) -> str | None:
    """Promote or demote ``label`` from what people did with the bot's decisions on it
    (for the kind of item ``number`` is); the label's new state when it changed.
    """
    decisions = [
        a for a in store.actions_for(repo) if a["feature"] == "triage" and a["action"] == "decision"
    ]
    kinds = {int(d["number"]): scope_of(str(d["detail"].get("kind", "issue"))) for d in decisions}
    scope = kinds.get(number, "issue")
    rows = [r for r in store.gates_for(repo, scope) if r["label"] == label]
    if not rows:
        return None
    gate = gate_from_json(rows[0]["gate"])
    same_kind = [d for d in decisions if kinds[int(d["number"])] == scope]
    counts = label_counts(same_kind, store.feedback_for(repo)).get(label, LiveCounts())
    policy = GatePolicy.from_json((store.profile_for(repo) or {}).get("policy"))
    changed = live_verdict(gate, counts, policy)
    if changed == gate:
        return None
    # Stored whenever people's evidence changed, so `steward status` shows it; the
    # task reports a state only when it flipped.
    store.update_gate(repo, changed.to_json(), kind=scope)
    if changed.live == gate.live:
        return None
    log.info("triage gate of %s on %s: %s (%s)", label, repo, changed.state, changed.reason)
    return changed.state


def duplicates_policy(triage: TriageConfig) -> GatePolicy:
    """The bar the possible duplicates clear: the labels' (``triage.precision``,
    ``triage.confidence``, ``triage.min_support``)."""
    return GatePolicy(
        target=triage.precision, confidence=triage.confidence, min_support=triage.min_support
    )


#: People's verdicts that make a live duplicates suggestion a mistake: called wrong, or
#: closed as a duplicate of an issue the bot did not suggest.
WRONG_VERDICTS = frozenset({"wrong", "other"})


def duplicate_live_counts(
    suggestions: Iterable[Mapping[str, Any]], *, since: datetime
) -> LiveCounts:
    """What people did with the duplicates suggestions that reached GitHub after the
    calibration at ``since`` (earlier ones are in its replay): a live suggestion is right
    unless people called it wrong or closed the issue as a duplicate of another one (as
    a live label is right unless a person removed it). Shadow suggestions are left to
    the replay: people see nothing to judge there, so only confirmations would arrive."""
    live = [s for s in suggestions if s["state"] == "live" and s["created_at"] > since]
    wrong = sum(s.get("verdict") in WRONG_VERDICTS for s in live)
    return LiveCounts(live_applied=len(live), live_correct=len(live) - wrong)


def duplicates_label(actions: Iterable[Mapping[str, Any]]) -> str | None:
    """The label the possible duplicates applied live to an item (``duplicates.how:
    label``), from its audit-log rows (None: they applied none)."""
    for a in actions:
        if a["feature"] == "duplicates" and a["action"] == "label" and a["mode"] == "live":
            return str(a["detail"].get("label") or "") or None
    return None


def removal_corrects_duplicates(
    actions: Iterable[Mapping[str, Any]], suggestion: Mapping[str, Any] | None, *, label: str
) -> bool:
    """Whether a person removing ``label`` from an item calls the possible duplicates
    suggested there wrong: the label is the one they applied live, and that suggestion
    reached GitHub and was not called wrong already (as ``/steward wrong`` would)."""
    return (
        suggestion is not None
        and suggestion.get("state") == "live"
        and suggestion.get("verdict") != "wrong"
        and duplicates_label(actions) == label
    )


def regate_duplicates(store: Store, repo: str, policy: GatePolicy | None = None) -> str | None:
    """Re-judge the repository's duplicates gate on its calibration plus people's
    verdicts since (:func:`duplicate_live_counts`, ``live_verdict`` as for a label); the
    new state when it flipped (None: unchanged, or never calibrated). Without
    ``policy``, the bar the gate was calibrated against (stored with it).
    """
    row = store.duplicate_gate(repo)
    if row is None:
        return None
    gate = gate_from_json(row["gate"])
    if policy is None:
        policy = GatePolicy(
            target=gate.target, confidence=gate.confidence, min_support=gate.min_support
        )
    counts = duplicate_live_counts(store.duplicate_suggestions(repo), since=row["calibrated_at"])
    changed = live_verdict(gate, counts, policy)
    if changed == gate:
        return None
    store.rejudge_duplicate_gate(repo, gate=changed.to_json())
    if changed.live == gate.live:
        return None
    log.info("duplicates gate of %s: %s (%s)", repo, changed.state, changed.reason)
    return changed.state
