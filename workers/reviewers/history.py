"""Review history: backfilled on installation, kept current from pull request events.

Stored in the project's database (``review_changes``), so a restart or a new worker
rebuilds nothing from GitHub; the in-memory ``ReviewerIndex`` is rebuilt from the
database once per process and extended as changes arrive.
"""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from core.store import Store
from core.tasks import (
    CALIBRATE_DUPLICATES,
    INDEX,
    BackfillArgs,
    CalibrateDuplicatesArgs,
    IndexArgs,
    PullArgs,
)
from models.reviewers.requests import (
    change_record,
    closing_references,
    reviewers_from,
)
from workers.github import pull_files
from workers.reviewers.matching import queue_choice
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

#: A backfill reads at most this many merged pull requests, newest first.
BACKFILL_LIMIT = 1000
PAGE_SIZE = 100


async def pull_reviews(
    gh: GitHubAPI, owner: str, repo: str, *, number: int
) -> list[dict[str, Any]]:
    """Every review of a pull request (all pages)."""
    return [
        review
        async for review in gh.getiter(
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews{?per_page}",
            {"owner": owner, "repo": repo, "pull_number": number, "per_page": 100},
        )
    ]


async def record_pull(
    gh: GitHubAPI, store: Store, *, owner: str, repo: str, pull: dict[str, Any]
) -> bool:
    """Store one merged pull request with its reviewers and paths; False if not merged."""
    if not pull.get("merged_at"):
        return False
    number = int(pull["number"])
    author = str((pull.get("user") or {}).get("login") or "")
    reviews = await pull_reviews(gh, owner, repo, number=number)
    files = await pull_files(gh, owner, repo, number=number)
    fixes = await fixed_issues(gh, owner=owner, repo=repo, pull=pull)
    record = change_record(
        pull, reviewers=reviewers_from(reviews, author), files=files, fixes=fixes
    )
    store.upsert_change(f"{owner}/{repo}", record)
    return True


async def fixed_issues(
    gh: GitHubAPI, *, owner: str, repo: str, pull: dict[str, Any]
) -> list[dict[str, Any]]:
    """The issues a merged pull request closed (``Fixes #12``), with their titles."""
    text = f"{pull.get('title') or ''}\n{pull.get('body') or ''}"
    fixes = []
    for number in closing_references(text, f"{owner}/{repo}")[:10]:
        try:
            issue = await gh.getitem(
                "/repos/{owner}/{repo}/issues/{issue_number}",
                {"owner": owner, "repo": repo, "issue_number": number},
            )
        except BadRequest as exc:
            if exc.status_code in (404, 410):
                continue
            raise
        if "pull_request" not in issue:
            fixes.append({"number": number, "title": str(issue.get("title") or "")})
    return fixes


async def run_record_pull(ctx: TaskContext, args: PullArgs) -> dict[str, Any]:
    """Keep the history current after a merge or a review of a merged pull request."""
    gh = await ctx.client(args.installation())
    pull = await gh.getitem(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        {"owner": args.owner, "repo": args.repo, "pull_number": args.number},
    )
    recorded = await record_pull(gh, ctx.store, owner=args.owner, repo=args.repo, pull=pull)
    if recorded:  # enough new history chooses the matching settings again
        await queue_choice(ctx, args)
    return {"recorded": recorded}


async def run_backfill(ctx: TaskContext, args: BackfillArgs) -> dict[str, Any]:
    """Collect merged pull requests, newest first, page by page; resumes where it stopped."""
    full, owner, repo = args.full_name, args.owner, args.repo
    state = ctx.store.backfill_state(full, "pulls") or {}
    if state.get("done"):
        return {"skipped": "already backfilled", "count": state.get("count", 0)}
    page = int(state.get("cursor") or 1)
    count = int(state.get("count") or 0)
    gh = await ctx.client(args.installation())
    while count < BACKFILL_LIMIT:
        pulls = await gh.getitem(
            "/repos/{owner}/{repo}/pulls{?state,sort,direction,per_page,page}",
            {
                "owner": owner,
                "repo": repo,
                "state": "closed",
                "sort": "created",
                "direction": "desc",
                "per_page": PAGE_SIZE,
                "page": page,
            },
        )
        for pull in pulls:
            count += await record_pull(gh, ctx.store, owner=owner, repo=repo, pull=pull)
        done = len(pulls) < PAGE_SIZE
        page += 1
        # Progress is saved per page: a rate limit or a restart continues from here.
        ctx.store.save_backfill_state(full, "pulls", cursor=str(page), done=done, count=count)
        if done:
            break
    ctx.store.save_backfill_state(full, "pulls", cursor=str(page), done=True, count=count)
    log.info("backfilled %d merged pull requests of %s", count, full)
    # The semantic index is built from what the backfill stored, on the inference queue;
    # then the matching settings are chosen from the history and the possible duplicates
    # calibrated on the issues people closed as duplicates (both on the inference queue).
    installation = args.installation_id
    ctx.runtime.enqueue(INDEX, IndexArgs(installation_id=installation, owner=owner, repo=repo))
    await queue_choice(ctx, args, force=True)
    ctx.runtime.enqueue(
        CALIBRATE_DUPLICATES,
        CalibrateDuplicatesArgs(installation_id=installation, owner=owner, repo=repo),
    )
    return {"backfilled": count}
