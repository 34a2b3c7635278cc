"""Reviewer suggestions for pull requests and people for new issues."""

from __future__ import annotations

import logging
from typing import Any

from core.tasks import IssueArgs, PullArgs
from models.reviewers import Suggestion
from workers.flow import Effect, RepoTask, open_repo
from workers.people import (
    PEOPLE_MARKER,
    apply_reviewers,
    people_comment,
    rank_people,
    rank_reviewers,
)
from workers.runtime import TaskContext

log = logging.getLogger(__name__)


def effect_key(full: str, number: int, what: str) -> str:
    """Audit-log key: one reviewer decision per pull request, one people decision per issue."""
    return f"{what}:{full}#{number}"


def waiting_reason(pull: dict[str, Any], *, skip_drafts: bool) -> str | None:
    """Why a pull request gets no suggestion now (a draft, or reviewers already asked)."""
    if pull.get("draft") and skip_drafts:
        return "draft"
    if pull.get("requested_reviewers") or pull.get("requested_teams"):
        return "the author already requested reviewers"
    return None


async def run_reviewers(ctx: TaskContext, args: PullArgs) -> dict[str, Any]:
    """Request or suggest reviewers for a pull request that is ready for review."""
    key = effect_key(args.full_name, args.number, "reviewers")
    if ctx.done(key):
        return {"skipped": "already done"}
    task = await open_repo(ctx, args)
    config = task.config.reviewers
    if config.mode == "off":
        return {"skipped": "reviewers.mode is off"}
    pull = await task.gh.getitem(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        {"owner": args.owner, "repo": args.repo, "pull_number": args.number},
    )
    reason = waiting_reason(pull, skip_drafts=config.skip_drafts)
    if reason:
        return {"skipped": reason}
    suggestions, history = await rank_reviewers(task, pull)

    async def apply() -> None:
        await apply_reviewers(task, args.number, mode=config.mode, suggestions=suggestions)

    detail = {
        "mode": config.mode,
        "reviewers": [s.login for s in suggestions],
        "reasons": [s.reason for s in suggestions],
        "history": history,
    }
    effect = Effect(key, "reviewers", config.mode, args.number, detail)
    if await task.apply_once(effect, apply if suggestions else None) is None:
        return {"skipped": "already done"}
    log.info("reviewers for %s#%d: %s", task.full_name, args.number, detail["reviewers"])
    return {"reviewers": detail["reviewers"], "mode": config.mode}


async def run_issue_people(ctx: TaskContext, args: IssueArgs) -> dict[str, Any]:
    """Rank who could help with a new issue; mention, assign or only record them."""
    key = effect_key(args.full_name, args.number, "people")
    if ctx.done(key):
        return {"skipped": "already done"}
    if not ctx.store.change_count(args.full_name):
        return {"skipped": "no review history yet"}
    task = await open_repo(ctx, args)
    how = task.config.reviewers.issues
    if how == "off":
        return {"skipped": "reviewers.issues is off"}
    people = await rank_people(task, args.number)

    async def apply() -> None:
        await apply_people(task, args.number, how=how, people=people)

    detail = {"people": [p.login for p in people], "reasons": [p.reason for p in people]}
    effect = Effect(key, "people", how, args.number, detail)
    acts = people and how in ("mention", "assign")
    if await task.apply_once(effect, apply if acts else None) is None:
        return {"skipped": "already done"}
    return {"people": detail["people"], "how": how}


async def apply_people(task: RepoTask, number: int, *, how: str, people: list[Suggestion]) -> None:
    """Assign the people, or mention them in one comment (marker-checked)."""
    ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "issue_number": number}
    if how == "assign":
        await task.gh.post(
            "/repos/{owner}/{repo}/issues/{issue_number}/assignees",
            ids,
            data={"assignees": [p.login for p in people]},
        )
        return
    await task.comment_once(number, body=people_comment(people), marker=PEOPLE_MARKER)
