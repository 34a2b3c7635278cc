"""Reviewer suggestions for pull requests and people for new issues."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from gidgethub.abc import GitHubAPI

from app.store import ActionRecord
from models.reviewers import Change, Constraints, Load, rank_people_for_issue
from workers.flows.common import post_comment_once, record, repo_config
from workers.flows.history import pull_files, reviewer_index
from workers.github import graphql_endpoint
from workers.repo_config import fetch_file
from workers.reviewers import (
    PEOPLE_MARKER,
    REVIEWERS_MARKER,
    open_request_counts,
    people_comment,
    suggestion_comment,
    writers,
)
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


async def codeowners(gh: GitHubAPI, owner: str, repo: str) -> str | None:
    """The repository's CODEOWNERS text, from where GitHub looks for it."""
    for path in CODEOWNERS_PATHS:
        found = await fetch_file(gh, owner, repo, path)
        if found is not None:
            return found.text
    return None


async def eligible_people(gh: GitHubAPI, owner: str, repo: str) -> list[str]:
    """Collaborators with write access (the people a review can be requested from)."""
    people = [
        person
        async for person in gh.getiter(
            "/repos/{owner}/{repo}/collaborators{?per_page}",
            {"owner": owner, "repo": repo, "per_page": 100},
        )
    ]
    return writers(people)


async def current_load(gh: GitHubAPI, owner: str, repo: str) -> Load:
    """Open review requests per person across the repository's open pull requests."""
    pulls = [
        pull
        async for pull in gh.getiter(
            "/repos/{owner}/{repo}/pulls{?state,per_page}",
            {"owner": owner, "repo": repo, "state": "open", "per_page": 100},
        )
    ]
    return Load(open_requests=open_request_counts(pulls))


def busy_query(count: int) -> str:
    """One GraphQL query for the status of ``count`` people (aliases u0, u1, …)."""
    params = ", ".join(f"$l{i}: String!" for i in range(count))
    fields = " ".join(
        f"u{i}: user(login: $l{i}) {{ status {{ indicatesLimitedAvailability }} }}"
        for i in range(count)
    )
    return f"query Busy({params}) {{ {fields} }}"


async def busy_people(ctx: TaskContext, gh: GitHubAPI, logins: list[str]) -> frozenset[str]:
    """Who among ``logins`` set GitHub's busy status (limited availability)."""
    if not logins:
        return frozenset()
    data = await gh.graphql(
        busy_query(len(logins)),
        endpoint=graphql_endpoint(ctx.settings.github_api_url),
        **{f"l{i}": login for i, login in enumerate(logins)},
    )
    return frozenset(
        login.lower()
        for i, login in enumerate(logins)
        if ((data.get(f"u{i}") or {}).get("status") or {}).get("indicatesLimitedAvailability")
    )


def effect_key(full: str, number: int, what: str) -> str:
    """Audit-log key: one reviewer decision per pull request, one people decision per issue."""
    return f"{what}:{full}#{number}"


async def run_reviewers(
    ctx: TaskContext,
    *,
    installation_id: int,
    owner: str,
    repo: str,
    number: int,
    delivery_id: str | None = None,
) -> dict[str, Any]:
    """Request or suggest reviewers for a pull request that is ready for review."""
    full = f"{owner}/{repo}"
    key = effect_key(full, number, "reviewers")
    if ctx.store.has_action(key):
        return {"skipped": "already done"}
    gh = await ctx.client(installation_id)
    loaded = await repo_config(ctx, gh, owner, repo)
    config = loaded.config.reviewers
    if config.mode == "off":
        return {"skipped": "reviewers.mode is off"}
    pull = await gh.getitem(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        {"owner": owner, "repo": repo, "pull_number": number},
    )
    if pull.get("draft") and config.skip_drafts:
        return {"skipped": "draft"}
    if pull.get("requested_reviewers") or pull.get("requested_teams"):
        return {"skipped": "the author already requested reviewers"}
    author = str(pull["user"]["login"])
    files, allowed, load, owners = await asyncio.gather(
        pull_files(gh, owner, repo, number),
        eligible_people(gh, owner, repo),
        current_load(gh, owner, repo),
        codeowners(gh, owner, repo),
    )
    index = reviewer_index(ctx.store, full)
    if owners:
        index.set_codeowners(owners)
    change = Change(
        id=str(number),
        created_at=time.time(),
        merged_at=time.time(),
        author=author,
        reviewers=(),
        title=str(pull.get("title") or ""),
        body=str(pull.get("body") or ""),
        files=tuple(files),
    )
    constraints = Constraints.build(
        allowed=allowed, never=config.never, opted_out=ctx.store.opted_out()
    )
    # Availability is looked up only for the leading candidates, then the ranking is redone.
    leaders = index.suggest(change, k=config.count * 3, constraints=constraints, load=load)
    busy = await busy_people(ctx, gh, [s.login for s in leaders])
    load = Load(open_requests=load.open_requests, busy=busy)
    suggestions = index.suggest(change, k=config.count, constraints=constraints, load=load)
    mode = loaded.config.mode
    async with ctx.lock(key):
        if ctx.store.has_action(key):
            return {"skipped": "already done"}
        if mode == "live" and suggestions:
            await apply_reviewers(gh, owner, repo, number, config.mode, suggestions, config.teams)
        detail = {
            "mode": config.mode,
            "reviewers": [s.login for s in suggestions],
            "reasons": [s.reason for s in suggestions],
            "history": len(index),
        }
        record(
            ctx,
            ActionRecord(
                effect_key=key,
                repo=full,
                feature="reviewers",
                action=config.mode,
                number=number,
                delivery_id=delivery_id,
                installation_id=installation_id,
                detail=detail,
                mode=mode,
            ),
        )
    log.info("reviewers for %s#%d: %s", full, number, [s.login for s in suggestions])
    return {"reviewers": [s.login for s in suggestions], "mode": config.mode}


async def apply_reviewers(
    gh: GitHubAPI,
    owner: str,
    repo: str,
    number: int,
    mode: str,
    suggestions: list[Any],
    teams: list[str] | None = None,
) -> None:
    """Request the reviews, or post the one suggestion comment (marker-checked)."""
    ids: dict[str, Any] = {"owner": owner, "repo": repo, "pull_number": number}
    if mode == "request":
        data: dict[str, Any] = {"reviewers": [s.login for s in suggestions]}
        if teams:
            data["team_reviewers"] = teams
        await gh.post(
            "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", ids, data=data
        )
        return
    await post_comment_once(
        gh, owner, repo, number, suggestion_comment(suggestions), REVIEWERS_MARKER
    )


async def run_issue_people(
    ctx: TaskContext,
    *,
    installation_id: int,
    owner: str,
    repo: str,
    number: int,
    delivery_id: str | None = None,
) -> dict[str, Any]:
    """Rank who could help with a new issue; mention, assign or only record them."""
    full = f"{owner}/{repo}"
    key = effect_key(full, number, "people")
    if ctx.store.has_action(key):
        return {"skipped": "already done"}
    if not ctx.store.change_count(full):
        return {"skipped": "no review history yet"}
    gh = await ctx.client(installation_id)
    loaded = await repo_config(ctx, gh, owner, repo)
    how = loaded.config.reviewers.issues
    if how == "off":
        return {"skipped": "reviewers.issues is off"}
    issue = await gh.getitem(
        "/repos/{owner}/{repo}/issues/{issue_number}",
        {"owner": owner, "repo": repo, "issue_number": number},
    )
    author = str(issue["user"]["login"])
    text = f"{issue.get('title') or ''}\n{issue.get('body') or ''}"
    allowed = await eligible_people(gh, owner, repo)
    people = rank_people_for_issue(
        text,
        [],
        reviewer_index(ctx.store, full),
        k=loaded.config.reviewers.count,
        author=author,
        constraints=Constraints.build(allowed=allowed, never=loaded.config.reviewers.never),
    )
    mode = loaded.config.mode
    async with ctx.lock(key):
        if ctx.store.has_action(key):
            return {"skipped": "already done"}
        if mode == "live" and people and how in ("mention", "assign"):
            await apply_people(gh, owner, repo, number, how, people)
        record(
            ctx,
            ActionRecord(
                effect_key=key,
                repo=full,
                feature="people",
                action=how,
                number=number,
                delivery_id=delivery_id,
                installation_id=installation_id,
                mode=mode,
                detail={"people": [p.login for p in people], "reasons": [p.reason for p in people]},
            ),
        )
    return {"people": [p.login for p in people], "how": how}


async def apply_people(
    gh: GitHubAPI, owner: str, repo: str, number: int, how: str, people: list[Any]
) -> None:
    """Assign the people, or mention them in one comment (marker-checked)."""
    ids: dict[str, Any] = {"owner": owner, "repo": repo, "issue_number": number}
    if how == "assign":
        await gh.post(
            "/repos/{owner}/{repo}/issues/{issue_number}/assignees",
            ids,
            data={"assignees": [p.login for p in people]},
        )
        return
    await post_comment_once(gh, owner, repo, number, people_comment(people), PEOPLE_MARKER)
