"""The welcome flow: confirm a first-timer through the API and post exactly one welcome."""

from __future__ import annotations

import logging
from typing import Any

from core.tasks import WelcomeArgs
from workers.flow import Effect, RepoTask, open_repo
from workers.repo_config import fetch_file
from workers.runtime import TaskContext
from workers.welcome.decide import (
    KINDS,
    WelcomeKind,
    effect_key,
    is_prior,
    kind_enabled,
    marker,
    render_welcome,
    skip_reason,
)

log = logging.getLogger(__name__)

AUTHOR_DISCUSSIONS = """
query AuthorDiscussions($q: String!) {
  search(query: $q, type: DISCUSSION, first: 10) {
    discussionCount
    nodes { ... on Discussion { number } }
  }
}
"""


async def is_first_item(task: RepoTask, kind: WelcomeKind, *, author: str, number: int) -> bool:
    """Page through the author's issues and PRs until one disqualifies a first-time welcome.

    All pages are read when needed (the first page alone misses older items), but the
    walk stops at the first disqualifying item.
    """
    async for item in task.gh.getiter(
        "/repos/{owner}/{repo}/issues{?creator,state,per_page}",
        {
            "owner": task.owner,
            "repo": task.repo,
            "creator": author,
            "state": "all",
            "per_page": 100,
        },
    ):
        if is_prior(kind, item, number):
            return False
    return True


async def is_first_discussion(task: RepoTask, *, author: str, number: int) -> bool:
    """True when the author has no other discussion in the repository."""
    data = await task.graphql(AUTHOR_DISCUSSIONS, q=f"repo:{task.full_name} author:{author}")
    nodes = data["search"]["nodes"] or []
    return not any(node and node.get("number") != number for node in nodes)


async def contributing_url(task: RepoTask, path: str) -> str | None:
    """The web URL of the contributing guide, if the repository has one."""
    for candidate in (path, f".github/{path}", f"docs/{path}"):
        found = await fetch_file(task.gh, task.owner, task.repo, path=candidate)
        if found is not None:
            return found.html_url or None
    return None


async def good_first_issues(task: RepoTask, number: int, *, limit: int) -> list[dict[str, Any]]:
    """Open newcomer-labelled issues most similar to what the newcomer wrote, from the
    semantic index, and only those above the repository's calibrated minimum similarity."""
    from models.reviewers import OpenIssue, match_good_first_issues
    from models.reviewers.issues import is_newcomer_issue

    if limit <= 0:
        return []
    ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "issue_number": number}
    mine = await task.gh.getitem("/repos/{owner}/{repo}/issues/{issue_number}", ids)
    found = []
    async for item in task.gh.getiter(
        "/repos/{owner}/{repo}/issues{?state,per_page}",
        {"owner": task.owner, "repo": task.repo, "state": "open", "per_page": 100},
    ):
        labels = tuple(str(label["name"]) for label in item.get("labels") or [])
        if item["number"] != number and "pull_request" not in item and is_newcomer_issue(labels):
            found.append(item)
    if not found:
        return []
    pool = [
        OpenIssue(
            int(i["number"]),
            str(i.get("title") or ""),
            str(i.get("body") or ""),
            tuple(str(label["name"]) for label in i.get("labels") or []),
        )
        for i in found
    ]
    vectors, threshold = newcomer_vectors(task, [mine, *found])
    matches = match_good_first_issues(
        f"{mine.get('title') or ''}\n{mine.get('body') or ''}",
        pool,
        k=limit,
        min_similarity=threshold,
        vectors={n: v for n, v in vectors.items() if n != number},
        newcomer_vector=vectors[number],
    )
    return [{"number": m.issue.number, "title": m.issue.title} for m in matches]


def newcomer_vectors(task: RepoTask, issues: list[dict[str, Any]]) -> tuple[dict[int, Any], float]:
    """The issues' vectors from the semantic index (embedded now when missing) and the
    repository's minimum similarity for a suggestion."""
    from workers.semantic import ensure_vectors, issue_text, item_key, min_similarity, repo_encoder

    encoder = repo_encoder(task.settings, task.full_name)
    texts = {item_key("issue", int(i["number"])): issue_text(i) for i in issues}
    stored = ensure_vectors(task.store, task.full_name, encoder, texts=texts)
    vectors = {int(i["number"]): stored[item_key("issue", int(i["number"]))] for i in issues}
    return vectors, min_similarity(task.store, task.full_name, encoder)


async def post_welcome(task: RepoTask, args: WelcomeArgs, body: str) -> bool:
    """Post the welcome unless an earlier run already did (marker check); True if posted."""
    kind = welcome_kind(args.kind)
    node = args.node_id if kind == "discussion" else ""
    return await task.comment_once(args.number, body=body, marker=marker(kind), node_id=node)


def welcome_kind(kind: str) -> WelcomeKind:
    """The task's ``kind`` as a welcome kind (a message with another one is refused)."""
    if kind not in KINDS:
        raise ValueError(f"unknown welcome kind {kind!r}")
    return kind


async def is_first_timer(task: RepoTask, args: WelcomeArgs) -> bool:
    """Whether the API confirms this is the author's first item of its kind."""
    kind = welcome_kind(args.kind)
    if kind == "discussion":
        return await is_first_discussion(task, author=args.author, number=args.number)
    return await is_first_item(task, kind, author=args.author, number=args.number)


async def template_context(task: RepoTask, args: WelcomeArgs) -> dict[str, Any]:
    """What the welcome template may use."""
    config = task.config.welcome
    newcomer_issues = (
        await good_first_issues(task, args.number, limit=config.good_first_issues)
        if args.kind == "issue"
        else []
    )
    return {
        "author": args.author,
        "repo": task.full_name,
        "number": args.number,
        "contributing_url": await contributing_url(task, config.contributing_path),
        "good_first_issues": newcomer_issues,
    }


async def run_welcome(ctx: TaskContext, args: WelcomeArgs) -> dict[str, Any]:
    """Welcome the author of ``owner/repo#number`` if it is their first of its kind."""
    kind = welcome_kind(args.kind)
    key = effect_key(args.full_name, args.number, kind)
    if ctx.done(key):
        return {"skipped": "already welcomed"}
    task = await open_repo(ctx, args)
    config = task.config.welcome
    if not kind_enabled(config, kind):
        return {"skipped": f"welcome.{kind if config.enabled else 'enabled'} is off"}
    reason = skip_reason(
        config, login=args.author, account_type=args.author_type, association=args.association
    )
    if reason:
        return {"skipped": reason}
    if not await is_first_timer(task, args):
        return {"skipped": "not a first-timer"}
    body, template_error = render_welcome(config, kind, await template_context(task, args))

    async def post() -> dict[str, Any]:
        return {"posted": await post_welcome(task, args, body)}

    detail = {"kind": kind, "author": args.author, "template_error": template_error}
    effect = Effect(key, "welcome", "comment", args.number, {**detail, "posted": False})
    recorded = await task.apply_once(effect, post)
    if recorded is None:
        return {"skipped": "already welcomed"}
    posted = bool(recorded["posted"])
    mode = task.config.mode
    log.info("welcome %s: %s", kind, "posted" if posted else f"not posted ({mode})")
    return {"welcomed": kind, "posted": posted, "mode": mode}
