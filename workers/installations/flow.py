"""Keeping the record of installations and repositories current."""

from __future__ import annotations

from typing import Any

from core.queue import enqueue
from core.tasks import BACKFILL, BackfillArgs, InstallationArgs
from workers.runtime import TaskContext


def queue_backfills(installation_id: int, full_names: list[str]) -> None:
    """Start collecting each new repository's review history (one resumable task each)."""
    from celery import current_app

    for full in full_names:
        owner, repo = full.split("/", 1)
        args = BackfillArgs(installation_id=installation_id, owner=owner, repo=repo)
        enqueue(current_app, BACKFILL, args)


async def run_installation_sync(ctx: TaskContext, args: InstallationArgs) -> dict[str, Any]:
    """Apply an installation event to the store (idempotent: upserts and soft deletes)."""
    store, installation_id = ctx.store, args.installation_id
    if args.action in ("deleted", "suspend"):
        store.delete_installation(installation_id)
        return {"installation": installation_id, "deleted": True}
    store.upsert_installation(installation_id, args.account, args.account_type)
    if args.added:
        store.add_repositories(installation_id, list(args.added))
        queue_backfills(installation_id, [name for _, name in args.added])
    if args.removed:
        store.remove_repositories(list(args.removed))
    return {
        "installation": installation_id,
        "repositories": store.active_repositories(installation_id),
    }
