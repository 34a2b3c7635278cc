"""The feedback flow: record human label changes that contradict or follow the bot.

It makes no GitHub calls; :mod:`workers.feedback.decide` says what a change means.
"""

from __future__ import annotations

import logging
from typing import Any

from core.store import Store
from core.tasks import FeedbackArgs
from models.triage.gate import GatePolicy, LiveCounts, gate_from_json, live_verdict
from workers.feedback.decide import feedback_kind
from workers.runtime import TaskContext
from workers.triage.decide import scope_of
from workers.triage.live_eval import label_counts

log = logging.getLogger(__name__)


async def run_feedback(ctx: TaskContext, args: FeedbackArgs) -> dict[str, Any]:
    """Record the correction, if the change is one."""
    full, number, label = f"{args.owner}/{args.repo}", args.number, args.label
    actions = [a for a in ctx.store.actions_for(full, number) if a["feature"] == "triage"]
    # In shadow mode the bot recorded labels it never applied: they are not its doing.
    applied_live = {
        a["detail"].get("label") for a in actions if a["action"] == "label" and a["mode"] == "live"
    }
    kind = feedback_kind(
        added=args.added, bot_applied_this=label in applied_live, bot_acted_on_item=bool(actions)
    )
    if kind:
        ctx.store.record_feedback(
            repo=full, number=number, kind=kind, subject=label, actor=args.actor
        )
    changed = regate(ctx.store, full, label, number=number) if kind else None
    return {"feedback": kind, "gate": changed} if changed else {"feedback": kind}


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
