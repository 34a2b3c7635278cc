"""The triage gates' shared state below the features: the audit key of a label the bot
applied, what kind of item a gate is for, what people did with the bot's decisions, and
re-judging a label's gate from that (:func:`regate`).

Triage records decisions under these keys; feedback (a person's label change) and
commands (``/steward wrong``) re-judge the gate through :func:`regate`. None of them
imports another: this module is what they share.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

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
