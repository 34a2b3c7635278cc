"""The feedback flow: record human label changes that contradict or follow the bot.

It makes no GitHub calls; :mod:`workers.feedback.decide` says what a change means.
"""

from __future__ import annotations

import logging
from typing import Any

from core.tasks import FeedbackArgs
from workers.feedback.decide import feedback_kind
from workers.gates import regate
from workers.runtime import TaskContext

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
