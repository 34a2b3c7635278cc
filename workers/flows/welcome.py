"""The welcome flow: confirm a first-timer through the API and post exactly one welcome."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub.abc import GitHubAPI

from app.store import ActionRecord
from workers.flows.common import post_comment_once, record, repo_config
from workers.github import graphql_endpoint
from workers.repo_config import fetch_file
from workers.runtime import TaskContext
from workers.welcome import (
    KINDS,
    WelcomeKind,
    effect_key,
    has_marker,
    is_prior,
    kind_enabled,
    marker,
    render_welcome,
    skip_reason,
)

log = logging.getLogger(__name__)

DISCUSSION_COMMENTS = """
query DiscussionComments($id: ID!, $cursor: String) {
  node(id: $id) {
    ... on Discussion {
      comments(first: 100, after: $cursor) {
        nodes { body }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""

ADD_DISCUSSION_COMMENT = """
mutation AddDiscussionComment($id: ID!, $body: String!) {
  addDiscussionComment(input: {discussionId: $id, body: $body}) {
    comment { id url }
  }
}
"""

AUTHOR_DISCUSSIONS = """
query AuthorDiscussions($q: String!) {
  search(query: $q, type: DISCUSSION, first: 10) {
    discussionCount
    nodes { ... on Discussion { number } }
  }
}
"""


async def is_first_item(
    gh: GitHubAPI, kind: WelcomeKind, owner: str, repo: str, author: str, number: int
) -> bool:
    """Page through the author's issues and PRs until one disqualifies a first-time welcome.

    All pages are read when needed (the first page alone misses older items), but the
    walk stops at the first disqualifying item.
    """
    async for item in gh.getiter(
        "/repos/{owner}/{repo}/issues{?creator,state,per_page}",
        {"owner": owner, "repo": repo, "creator": author, "state": "all", "per_page": 100},
    ):
        if is_prior(kind, item, number):
            return False
    return True


async def is_first_discussion(
    ctx: TaskContext, gh: GitHubAPI, owner: str, repo: str, author: str, number: int
) -> bool:
    """True when the author has no other discussion in the repository."""
    data = await gh.graphql(
        AUTHOR_DISCUSSIONS,
        endpoint=graphql_endpoint(ctx.settings.github_api_url),
        q=f"repo:{owner}/{repo} author:{author}",
    )
    nodes = data["search"]["nodes"] or []
    return not any(node and node.get("number") != number for node in nodes)


async def discussion_comment_bodies(ctx: TaskContext, gh: GitHubAPI, node_id: str) -> list[str]:
    """Every comment body of a discussion (all pages)."""
    bodies: list[str] = []
    cursor: str | None = None
    while True:
        data = await gh.graphql(
            DISCUSSION_COMMENTS,
            endpoint=graphql_endpoint(ctx.settings.github_api_url),
            id=node_id,
            cursor=cursor,
        )
        comments = data["node"]["comments"]
        bodies.extend(str(n.get("body") or "") for n in comments["nodes"] if n)
        if not comments["pageInfo"]["hasNextPage"]:
            return bodies
        cursor = comments["pageInfo"]["endCursor"]


async def contributing_url(gh: GitHubAPI, owner: str, repo: str, path: str) -> str | None:
    """The web URL of the contributing guide, if the repository has one."""
    for candidate in (path, f".github/{path}", f"docs/{path}"):
        found = await fetch_file(gh, owner, repo, candidate)
        if found is not None:
            return found.html_url or None
    return None


async def good_first_issues(
    gh: GitHubAPI, owner: str, repo: str, number: int, limit: int
) -> list[dict[str, Any]]:
    """Open newcomer-labelled issues most similar to what the newcomer wrote."""
    from models.reviewers import OpenIssue, match_good_first_issues
    from models.reviewers.issues import is_newcomer_issue

    if limit <= 0:
        return []
    ids: dict[str, Any] = {"owner": owner, "repo": repo, "issue_number": number}
    mine = await gh.getitem("/repos/{owner}/{repo}/issues/{issue_number}", ids)
    pool = []
    async for item in gh.getiter(
        "/repos/{owner}/{repo}/issues{?state,per_page}",
        {"owner": owner, "repo": repo, "state": "open", "per_page": 100},
    ):
        labels = tuple(str(label["name"]) for label in item.get("labels") or [])
        if item["number"] != number and "pull_request" not in item and is_newcomer_issue(labels):
            pool.append(
                OpenIssue(
                    int(item["number"]),
                    str(item.get("title") or ""),
                    str(item.get("body") or ""),
                    labels,
                )
            )
    text = f"{mine.get('title') or ''}\n{mine.get('body') or ''}"
    matches = match_good_first_issues(text, pool, k=limit)
    return [{"number": m.issue.number, "title": m.issue.title} for m in matches]


async def post_welcome(
    ctx: TaskContext,
    gh: GitHubAPI,
    kind: WelcomeKind,
    owner: str,
    repo: str,
    number: int,
    node_id: str,
    body: str,
) -> bool:
    """Post the welcome unless an earlier run already did (marker check); True if posted."""
    if kind == "discussion":
        if has_marker(await discussion_comment_bodies(ctx, gh, node_id), kind):
            return False
        await gh.graphql(
            ADD_DISCUSSION_COMMENT,
            endpoint=graphql_endpoint(ctx.settings.github_api_url),
            id=node_id,
            body=body,
        )
        return True
    return await post_comment_once(gh, owner, repo, number, body, marker(kind))


async def run_welcome(
    ctx: TaskContext,
    *,
    installation_id: int,
    owner: str,
    repo: str,
    number: int,
    kind: str,
    author: str,
    author_type: str = "User",
    association: str = "NONE",
    node_id: str = "",
    delivery_id: str | None = None,
) -> dict[str, Any]:
    """Welcome ``author`` on ``owner/repo#number`` if it is their first of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown welcome kind {kind!r}")
    welcome_kind: WelcomeKind = kind
    full = f"{owner}/{repo}"
    key = effect_key(full, number, welcome_kind)
    if ctx.store.has_action(key):
        return {"skipped": "already welcomed"}
    gh = await ctx.client(installation_id)
    loaded = await repo_config(ctx, gh, owner, repo)
    config = loaded.config.welcome
    if not kind_enabled(config, welcome_kind):
        return {"skipped": f"welcome.{kind} is off"}
    reason = skip_reason(config, login=author, account_type=author_type, association=association)
    if reason:
        return {"skipped": reason}
    if kind == "discussion":
        first = await is_first_discussion(ctx, gh, owner, repo, author, number)
    else:
        first = await is_first_item(gh, welcome_kind, owner, repo, author, number)
    if not first:
        return {"skipped": "not a first-timer"}
    context = {
        "author": author,
        "repo": full,
        "number": number,
        "contributing_url": await contributing_url(gh, owner, repo, config.contributing_path),
        "good_first_issues": (
            await good_first_issues(gh, owner, repo, number, config.good_first_issues)
            if kind == "issue"
            else []
        ),
    }
    body, template_error = render_welcome(config, welcome_kind, context)
    mode = loaded.config.mode
    # Only the check-and-post is serialised: a worker killed outside it leaves no lock behind.
    async with ctx.lock(key):
        if ctx.store.has_action(key):
            return {"skipped": "already welcomed"}
        posted = mode == "live" and await post_welcome(
            ctx, gh, welcome_kind, owner, repo, number, node_id, body
        )
        detail = {
            "kind": kind,
            "author": author,
            "template_error": template_error,
            "posted": posted,
        }
        record(
            ctx,
            ActionRecord(
                effect_key=key,
                repo=full,
                feature="welcome",
                action="comment",
                number=number,
                delivery_id=delivery_id,
                installation_id=installation_id,
                detail=detail,
                mode=mode,
            ),
        )
    log.info("welcome %s: %s", kind, "posted" if posted else f"not posted ({mode})")
    return {"welcomed": kind, "posted": posted, "mode": mode}
