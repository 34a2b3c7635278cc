"""Reviewer suggestions for pull requests and people for new issues."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from core.tasks import IssueArgs, PullArgs
from models.reviewers import Change, Constraints, Load, Suggestion, rank_people_for_issue
from models.reviewers.constraints import bot_load, workload
from workers.flow import Effect, RepoTask, open_repo
from workers.repo_config import fetch_file
from workers.reviewers.decide import (
    PEOPLE_MARKER,
    REVIEWERS_MARKER,
    people_comment,
    review_requests,
    suggestion_comment,
    writers,
)
from workers.reviewers.history import people_index, reviewer_index
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


async def codeowners(task: RepoTask) -> str | None:
    """The repository's CODEOWNERS text, from where GitHub looks for it."""
    for path in CODEOWNERS_PATHS:
        found = await fetch_file(task.gh, task.owner, task.repo, path=path)
        if found is not None:
            return found.text
    return None


async def eligible_people(task: RepoTask) -> list[str]:
    """Collaborators with write access (the people a review can be requested from)."""
    people = [
        person
        async for person in task.gh.getiter(
            "/repos/{owner}/{repo}/collaborators{?per_page}",
            {"owner": task.owner, "repo": task.repo, "per_page": 100},
        )
    ]
    return writers(people)


async def current_load(task: RepoTask) -> Load:
    """Everyone's workload now — open review requests count 1, past reviews fade with a
    60-day half-life — under the one load rule the replay measures (``bot_load``: relative
    to the average loaded person; only load above the average discounts)."""
    pulls = [
        pull
        async for pull in task.gh.getiter(
            "/repos/{owner}/{repo}/pulls{?state,per_page}",
            {"owner": task.owner, "repo": task.repo, "state": "open", "per_page": 100},
        )
    ]
    requests = review_requests(pulls, task.store.changes_for(task.full_name))
    return bot_load(workload(requests, time.time()))


def busy_query(count: int) -> str:
    """One GraphQL query for the status of ``count`` people (aliases u0, u1, …)."""
    params = ", ".join(f"$l{i}: String!" for i in range(count))
    fields = " ".join(
        f"u{i}: user(login: $l{i}) {{ status {{ indicatesLimitedAvailability }} }}"
        for i in range(count)
    )
    return f"query Busy({params}) {{ {fields} }}"


async def busy_people(task: RepoTask, logins: list[str]) -> frozenset[str]:
    """Who among ``logins`` set GitHub's busy status (limited availability)."""
    if not logins:
        return frozenset()
    data = await task.graphql(
        busy_query(len(logins)), **{f"l{i}": login for i, login in enumerate(logins)}
    )
    return frozenset(
        login.lower()
        for i, login in enumerate(logins)
        if ((data.get(f"u{i}") or {}).get("status") or {}).get("indicatesLimitedAvailability")
    )


def effect_key(full: str, number: int, what: str) -> str:
    """Audit-log key: one reviewer decision per pull request, one people decision per issue."""
    return f"{what}:{full}#{number}"


def pull_change(pull: dict[str, Any], files: list[str]) -> Change:
    """An open pull request as the ranker reads it."""
    return Change(
        id=str(pull["number"]),
        created_at=time.time(),
        merged_at=time.time(),
        author=str(pull["user"]["login"]),
        reviewers=(),
        title=str(pull.get("title") or ""),
        body=str(pull.get("body") or ""),
        files=tuple(files),
    )


async def rank_reviewers(task: RepoTask, pull: dict[str, Any]) -> tuple[list[Suggestion], int]:
    """The reviewers to ask for ``pull``, and the size of the history they came from."""
    config = task.config.reviewers
    files, allowed, load, owners = await asyncio.gather(
        task.pull_files(int(pull["number"])),
        eligible_people(task),
        current_load(task),
        codeowners(task),
    )
    index = reviewer_index(task.store, task.full_name)
    if owners:
        index.set_codeowners(owners)
    change = pull_change(pull, files)
    constraints = Constraints.build(
        allowed=allowed, never=config.never, opted_out=task.store.opted_out()
    )
    # Availability is looked up only for the leading candidates, then the ranking is redone.
    leaders = index.suggest(change, k=config.count * 3, constraints=constraints, load=load)
    busy = await busy_people(task, [s.login for s in leaders])
    load = load.with_requests(load.open_requests, busy)
    return index.suggest(change, k=config.count, constraints=constraints, load=load), len(index)


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


async def apply_reviewers(
    task: RepoTask, number: int, *, mode: str, suggestions: list[Suggestion]
) -> None:
    """Request the reviews, or post the one suggestion comment (marker-checked)."""
    ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "pull_number": number}
    if mode == "request":
        data: dict[str, Any] = {"reviewers": [s.login for s in suggestions]}
        if task.config.reviewers.teams:
            data["team_reviewers"] = task.config.reviewers.teams
        await task.gh.post(
            "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", ids, data=data
        )
        return
    await task.comment_once(number, body=suggestion_comment(suggestions), marker=REVIEWERS_MARKER)


async def rank_people(task: RepoTask, number: int) -> list[Suggestion]:
    """People likely to resolve issue ``number``: who authored and reviewed changes about
    what it says, with the reviewers' constraints, load and busy rules."""
    issue, allowed, load = await asyncio.gather(
        task.gh.getitem(
            "/repos/{owner}/{repo}/issues/{issue_number}",
            {"owner": task.owner, "repo": task.repo, "issue_number": number},
        ),
        eligible_people(task),
        current_load(task),
    )
    config = task.config.reviewers
    text = f"{issue.get('title') or ''}\n{issue.get('body') or ''}"
    index = people_index(task.store, task.full_name)
    constraints = Constraints.build(
        allowed=allowed, never=config.never, opted_out=task.store.opted_out()
    )
    author = str(issue["user"]["login"])

    def ranked(current: Load, k: int) -> list[Suggestion]:
        return rank_people_for_issue(
            text, [], index, k=k, author=author, constraints=constraints, load=current
        )

    # As for reviewers: availability only for the leading candidates, then rank again.
    busy = await busy_people(task, [s.login for s in ranked(load, config.count * 3)])
    return ranked(load.with_requests(load.open_requests, busy), config.count)


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
