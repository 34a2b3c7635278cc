"""The feedback flow: record human label changes that contradict or follow the bot.

It makes no GitHub calls; :mod:`workers.feedback.decide` says what a change means for
triage's labels, :func:`workers.gates.removal_corrects_duplicates` for the label the
possible duplicates applied (removing it calls their suggestion wrong, as
``/steward wrong`` does, and their gate is re-judged at once).
"""

from __future__ import annotations

import logging
from typing import Any

from core.tasks import FeedbackArgs
from workers.feedback.decide import feedback_kind
from workers.gates import regate, regate_duplicates, removal_corrects_duplicates
from workers.runtime import TaskContext

log = logging.getLogger(__name__)


async def run_feedback(ctx: TaskContext, args: FeedbackArgs) -> dict[str, Any]:
    """Record the correction, if the change is one."""
    full, number, label = f"{args.owner}/{args.repo}", args.number, args.label
    on_item = ctx.store.actions_for(full, number)
    if not args.added and duplicates_corrected(ctx, args, on_item):
        return {"feedback": "duplicate_wrong", "gate": regate_duplicates(ctx.store, full)}
    actions = [a for a in on_item if a["feature"] == "triage"]
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


def duplicates_corrected(ctx: TaskContext, args: FeedbackArgs, actions: list[Any]) -> bool:
    """Mark the possible duplicates suggested on the item wrong when the label a person
    removed is the one they applied live; True if it was marked now."""
    full = f"{args.owner}/{args.repo}"
    suggestion = ctx.store.duplicate_suggestion(full, args.number)
    if not removal_corrects_duplicates(actions, suggestion, label=args.label):
        return False
    return ctx.store.mark_duplicate_wrong(full, args.number, actor=args.actor, source="label")
