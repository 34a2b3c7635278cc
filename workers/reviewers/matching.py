"""Matching per repository in the bot (issue 28): the reviewer and people rankers'
settings chosen by replaying the repository's own stored history, and when to choose.

* after the review-history backfill, and whenever ``needs_rechoice`` says enough new
  changes arrived (checked as each merged pull request is recorded), one
  ``steward.choose_matching`` is queued (at most one waits per repository);
* the task reads the stored changes and, when the semantic index holds every change's
  vector from the repository's current encoder, those vectors (plus each change's issue
  view, embedded here: the people ranker compares an issue with them), runs
  ``choose_settings`` and stores the choice (one row per repository);
* ranking reads it (``workers/people.py``): the chosen regularisation and encoder
  feature per task, and the calibrated load discount unless ``reviewers.load`` is set.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from core.store import Store
from core.tasks import CHOOSE_MATCHING, ChooseMatchingArgs, RepoArgs
from models.reviewers.calibrate import (
    MIN_CHANGES,
    MatchingChoice,
    choose_settings,
    needs_rechoice,
)
from models.reviewers.history import encoder_text
from workers.people import change_of, choice_of, issue_view_vectors, stored_change_vectors
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

#: How long a queued choice keeps others from being queued (a lost task frees it).
PENDING_SECONDS = 3600


def pending_key(full: str) -> str:
    """The Redis key that says a choice for ``full`` is queued and not yet made."""
    return f"steward:matching:pending:{full}"


def stored_choice(store: Store, full: str) -> MatchingChoice | None:
    """The repository's stored choice (None: never chosen)."""
    return choice_of(store.matching_choice(full))


async def queue_choice(ctx: TaskContext, args: RepoArgs, *, force: bool = False) -> bool:
    """Queue ``steward.choose_matching`` when a choice is due (``force``: after a
    backfill) and none is waiting already; True when queued."""
    full = args.full_name
    if not force and not needs_rechoice(
        stored_choice(ctx.store, full), ctx.store.change_count(full)
    ):
        return False
    choose = ChooseMatchingArgs(
        installation_id=args.installation_id,
        owner=args.owner,
        repo=args.repo,
        delivery_id=args.delivery_id,
    )
    return await ctx.enqueue_once(
        CHOOSE_MATCHING, choose, key=pending_key(full), seconds=PENDING_SECONDS
    )


def choice_vectors(
    ctx: TaskContext, full: str, changes: list[dict[str, Any]]
) -> dict[str, np.ndarray] | None:
    """Vectors for the replay, by ``encoder_text``: every change's from the semantic
    index and its issue view's; None when the index lacks any change (encoder stays off)."""
    from workers.semantic import repo_encoder

    if len(changes) < MIN_CHANGES:  # the defaults stay: nothing to compare the encoder on
        return None
    encoder = repo_encoder(ctx.settings, full)
    vectors = stored_change_vectors(ctx.store, full, tag=encoder.tag, changes=changes)
    if not {encoder_text(change_of(c)) for c in changes} <= vectors.keys():
        return None
    vectors.update(issue_view_vectors(encoder, full, changes))
    return vectors


async def run_choose_matching(ctx: TaskContext, args: ChooseMatchingArgs) -> dict[str, Any]:
    """Choose the repository's matching settings by replaying its stored history."""
    full = args.full_name
    try:
        changes = ctx.store.changes_for(full)
        vectors = choice_vectors(ctx, full, changes)
        # Replayed as the bot ranks: when a pull request opens, before what merges while it
        # is open (RevFinder's protocol, at the merge, concentrates less and so would
        # choose too mild a discount).
        history = [change_of(c) for c in changes]
        choice = choose_settings(history, vectors=vectors, as_of="created")
        ctx.store.save_matching_choice(
            full, choice=choice.to_json(), n_changes=choice.n_changes, version=choice.version
        )
    finally:
        await ctx.redis.delete(pending_key(full))
    load = choice.reviewers.load
    log.info(
        "matching choice for %s from %d changes in %.1fs: per_request %s, encoder %s/%s",
        full,
        choice.n_changes,
        choice.seconds,
        None if load is None else load.per_request,
        choice.reviewers.encoder,
        choice.people.encoder,
    )
    return {
        "chosen": full,
        "changes": choice.n_changes,
        "per_request": None if load is None else load.per_request,
        "encoder": {"reviewers": choice.reviewers.encoder, "people": choice.people.encoder},
        "vectors": vectors is not None,
    }
