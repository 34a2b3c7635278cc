"""Keeping the record of installations and repositories current."""

from __future__ import annotations

from typing import Any

from core.tasks import BACKFILL, BOOTSTRAP, BackfillArgs, BootstrapArgs, InstallationArgs
from workers.runtime import Runtime, TaskContext


def queue_backfills(runtime: Runtime, installation_id: int, full_names: list[str]) -> None:
    """Start collecting each new repository's review history and bootstrapping its triage
    (resumable tasks, one of each per repository).
    """
    for full in full_names:
        owner, repo = full.split("/", 1)
        runtime.enqueue(
            BACKFILL, BackfillArgs(installation_id=installation_id, owner=owner, repo=repo)
        )
        runtime.enqueue(
            BOOTSTRAP, BootstrapArgs(installation_id=installation_id, owner=owner, repo=repo)
        )


async def run_installation_sync(ctx: TaskContext, args: InstallationArgs) -> dict[str, Any]:
    """Apply an installation event to the store (idempotent: upserts and soft deletes)."""
    store, installation_id = ctx.store, args.installation_id
    if args.action in ("deleted", "suspend"):
        store.delete_installation(installation_id)
        return {"installation": installation_id, "deleted": True}
    store.upsert_installation(installation_id, args.account, args.account_type)
    if args.added:
        store.add_repositories(installation_id, list(args.added))
        queue_backfills(ctx.runtime, installation_id, [name for _, name in args.added])
    if args.removed:
        store.remove_repositories(list(args.removed))
    return {
        "installation": installation_id,
        "repositories": store.active_repositories(installation_id),
    }
