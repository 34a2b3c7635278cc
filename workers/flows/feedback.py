"""Recording human label changes that contradict or follow the bot (no GitHub calls)."""

from __future__ import annotations

from typing import Any

from workers.runtime import TaskContext


def label_effect_key(repo_full_name: str, number: int, label: str) -> str:
    """The audit-log key under which triage records a label it applied."""
    return f"triage:{repo_full_name}#{number}:label:{label}"


def feedback_kind(*, added: bool, bot_applied_this: bool, bot_acted_on_item: bool) -> str | None:
    """What a human label change tells us about the bot, or None if nothing.

    Removing a label the bot applied contradicts it; adding one after the bot acted on
    the item is a label the bot missed.
    """
    if not added and bot_applied_this:
        return "label_removed"
    if added and bot_acted_on_item and not bot_applied_this:
        return "label_added"
    return None


async def run_feedback(
    ctx: TaskContext,
    *,
    installation_id: int | None,
    owner: str,
    repo: str,
    number: int,
    label: str,
    added: bool,
    actor: str,
    delivery_id: str | None = None,
) -> dict[str, Any]:
    """Record the correction, if the change is one."""
    full = f"{owner}/{repo}"
    actions = [a for a in ctx.store.actions_for(full, number) if a["feature"] == "triage"]
    # In shadow mode the bot recorded labels it never applied: they are not its doing.
    applied_live = {
        a["detail"].get("label") for a in actions if a["action"] == "label" and a["mode"] == "live"
    }
    kind = feedback_kind(
        added=added, bot_applied_this=label in applied_live, bot_acted_on_item=bool(actions)
    )
    if kind:
        ctx.store.record_feedback(repo=full, number=number, kind=kind, subject=label, actor=actor)
    return {"feedback": kind}
