"""Keeping the record of installations and repositories current."""

from __future__ import annotations

from typing import Any

from workers.runtime import TaskContext


def queue_backfills(installation_id: int, full_names: list[str]) -> None:
    """Start collecting each new repository's review history (one resumable task each)."""
    from celery import current_app

    for full in full_names:
        owner, repo = full.split("/", 1)
        current_app.send_task(
            "steward.backfill",
            kwargs={"installation_id": installation_id, "owner": owner, "repo": repo},
        )


async def run_installation_sync(
    ctx: TaskContext,
    *,
    installation_id: int,
    action: str,
    account: str,
    account_type: str,
    added: list[list[Any]],
    removed: list[int],
    delivery_id: str | None = None,
) -> dict[str, Any]:
    """Apply an installation event to the store (idempotent: upserts and soft deletes)."""
    store = ctx.store
    if action in ("deleted", "suspend"):
        store.delete_installation(installation_id)
        return {"installation": installation_id, "deleted": True}
    store.upsert_installation(installation_id, account, account_type)
    if added:
        store.add_repositories(installation_id, [(int(i), str(n)) for i, n in added])
        queue_backfills(installation_id, [str(n) for _, n in added])
    if removed:
        store.remove_repositories(removed)
    return {
        "installation": installation_id,
        "repositories": store.active_repositories(installation_id),
    }
