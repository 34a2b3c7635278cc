"""Keeping the record of installations and repositories current, and forgetting what
was uninstalled once its retention period is over.

An installation that is deleted or suspended stops at once: its record is marked, its
cached tokens and conditional-request cache are dropped, and every later task that
names it ends before it makes a call (:func:`workers.runtime.refuse_removed`). Its data
(and that of a repository taken out of an installation) is kept for
``STEWARD_RETENTION_DAYS`` (default 30), so a re-installation finds its history, gates
and models again; after that the daily :func:`run_forget` deletes it from the database,
the model store and the data directory.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from core.store import now_utc
from core.tasks import BACKFILL, BOOTSTRAP, BackfillArgs, BootstrapArgs, InstallationArgs, NoArgs
from workers.modelstore import forget_models, model_dir_of
from workers.records import dataset_path
from workers.runtime import Runtime, TaskContext

log = logging.getLogger(__name__)


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
        dropped = await forget_credentials(ctx, installation_id)
        log.info(
            "installation %d removed: %d cached credential(s) dropped", installation_id, dropped
        )
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


async def forget_credentials(ctx: TaskContext, installation_id: int) -> int:
    """Drop the installation's cached tokens (every scope) and its cached responses."""
    patterns = (
        f"steward:token:{installation_id}",
        f"steward:token:{installation_id}:*",
        f"steward:etag:{installation_id}:*",
    )
    keys = []
    for pattern in patterns:
        keys.extend([key async for key in ctx.redis.scan_iter(pattern)])
    return int(await ctx.redis.delete(*keys)) if keys else 0


async def run_forget(ctx: TaskContext, args: NoArgs) -> dict[str, Any]:
    """Delete the data of every repository removed more than ``STEWARD_RETENTION_DAYS``
    ago and not installed again: its rows, its models, its collected history.
    """
    cutoff = now_utc() - timedelta(days=ctx.settings.retention_days)
    forgotten: dict[str, Any] = {}
    for full in ctx.store.repositories_to_forget(cutoff):
        rows = ctx.store.forget_repository(full)
        models = forget_models(model_dir_of(ctx.settings), full)
        dataset = dataset_path(ctx.settings, full)
        dataset.unlink(missing_ok=True)
        forgotten[full] = {"rows": rows, "model_folders": len(models)}
        log.info("forgot %s (removed before %s): %s", full, cutoff.date(), rows)
    return {"forgotten": forgotten}
