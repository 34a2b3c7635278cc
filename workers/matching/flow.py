"""The semantic index kept current, and work suggested to returning contributors.

* ``steward.embed`` (issue opened/edited/reopened, discussion created/edited, pull
  request merged): embeds that one item.
* ``steward.index`` (after the review-history backfill, or when the encoder changed):
  embeds the stored history and the open issues in batches, drops the old encoder's rows.
* ``steward.recommend`` (a returning contributor's pull request merged): with
  ``recommend.after_merge: comment``, one comment listing up to three open issues that
  match what they worked on; ``record`` only writes the audit log; ``off`` (the default)
  does nothing.
All three run on the inference queue.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from gidgethub.abc import GitHubAPI

from core.settings import Settings
from core.store import Store
from core.tasks import EmbedArgs, IndexArgs, PullArgs
from models.matching import embedding_text
from models.reviewers import Change
from workers.flow import Effect, RepoTask, open_repo
from workers.matching.decide import (
    MAX_OPEN_ISSUES,
    RECOMMEND_MARKER,
    can_receive,
    history_texts,
    involved_changes,
    is_open_work,
    is_returning,
    recommend_comment,
)
from workers.runtime import TaskContext
from workers.semantic import ensure_vectors, issue_text, item_key, min_similarity, repo_encoder

log = logging.getLogger(__name__)

DISCUSSION_TEXT = """
query DiscussionText($id: ID!) {
  node(id: $id) { ... on Discussion { title body category { name } } }
}
"""


async def fetch_item_text(task: RepoTask, args: EmbedArgs) -> str | None:
    """The text ``args``'s item is embedded from (None: the item is gone)."""
    if args.kind == "discussion":
        node = (await task.graphql(DISCUSSION_TEXT, id=args.node_id))["node"]
        if not node:
            return None
        category = str((node.get("category") or {}).get("name") or "")
        title = f"[{category}] {node['title']}" if category else str(node["title"])
        return embedding_text(title, str(node.get("body") or ""))
    issue = await task.issue(args.number)
    paths = await task.pull_files(args.number) if args.kind == "pull_request" else []
    return embedding_text(str(issue.get("title") or ""), str(issue.get("body") or ""), paths)


async def run_embed(ctx: TaskContext, args: EmbedArgs) -> dict[str, Any]:
    """Embed one new or edited item into the repository's index."""
    task = await open_repo(ctx, args)
    text = await fetch_item_text(task, args)
    if text is None:
        return {"skipped": "the item is gone"}
    encoder = repo_encoder(ctx.settings, args.full_name)
    ensure_vectors(
        ctx.store, args.full_name, encoder, texts={item_key(args.kind, args.number): text}
    )
    return {"embedded": item_key(args.kind, args.number), "encoder": encoder.tag}


async def open_issues(gh: GitHubAPI, owner: str, repo: str) -> list[dict[str, Any]]:
    """The repository's open issues (not pull requests), newest first, at most 500."""
    found: list[dict[str, Any]] = []
    async for issue in gh.getiter(
        "/repos/{owner}/{repo}/issues{?state,per_page}",
        {"owner": owner, "repo": repo, "state": "open", "per_page": 100},
    ):
        if "pull_request" not in issue:
            found.append(issue)
        if len(found) >= MAX_OPEN_ISSUES:
            break
    return found


async def run_index(ctx: TaskContext, args: IndexArgs) -> dict[str, Any]:
    """Embed the stored history and the open issues with the repository's encoder."""
    gh = await ctx.client(args.installation())
    encoder = repo_encoder(ctx.settings, args.full_name)
    texts = history_texts(ctx.store.changes_for(args.full_name))
    issues = await open_issues(gh, args.owner, args.repo)
    texts.update({item_key("issue", int(i["number"])): issue_text(i) for i in issues})
    ensure_vectors(ctx.store, args.full_name, encoder, texts=texts)
    dropped = ctx.store.prune_vectors(args.full_name, keep_model=encoder.tag)
    return {"indexed": len(texts), "encoder": encoder.tag, "dropped": dropped}


async def suggest_work(
    gh: GitHubAPI,
    store: Store,
    settings: Settings,
    *,
    full_name: str,
    login: str,
    current: Mapping[str, Any] | None = None,
    k: int = 3,
) -> list[Any]:
    """Open issues that match what ``login`` worked on (``models.reviewers.work.WorkMatch``).

    ``current`` is a just-merged change (history format) that may not be stored yet.
    """
    from models.reviewers.work import contributor_profile, rank_work

    owner, repo = full_name.split("/", 1)
    changes = store.changes_for(full_name)
    if current is not None and all(c["id"] != current["id"] for c in changes):
        changes.append(dict(current))
    mine = involved_changes(changes, login)
    issues = [i for i in await open_issues(gh, owner, repo) if is_open_work(i, login)]
    if not mine or not issues:
        return []
    encoder = repo_encoder(settings, full_name)
    texts = history_texts(mine)
    texts.update({item_key("issue", int(i["number"])): issue_text(i) for i in issues})
    vectors = ensure_vectors(store, full_name, encoder, texts=texts)
    profile = contributor_profile(
        [Change.from_dict(dict(c)) for c in mine],
        login,
        vectors={str(c["id"]): vectors[item_key("pull_request", int(c["id"]))] for c in mine},
    )
    items = [work_item(i, vectors.get(item_key("issue", int(i["number"])))) for i in issues]
    threshold = min_similarity(store, full_name, encoder)
    return list(rank_work(profile, items, k=k, min_similarity=threshold))


def work_item(issue: Mapping[str, Any], vector: np.ndarray | None) -> Any:
    """An open issue as ``rank_work`` reads it."""
    from models.reviewers.issues import extract_paths
    from models.reviewers.work import WorkItem

    body = str(issue.get("body") or "")
    return WorkItem(
        number=int(issue["number"]),
        title=str(issue.get("title") or ""),
        body=body,
        labels=tuple(str(label.get("name") or "") for label in issue.get("labels") or []),
        assignees=tuple(str(a.get("login") or "") for a in issue.get("assignees") or []),
        paths=tuple(extract_paths(body)),
        vector=vector,
    )


async def merged_elsewhere(task: RepoTask, author: str) -> list[int]:
    """Numbers of ``author``'s merged pull requests in the repository (search, one page)."""
    found = await task.gh.getitem(
        "/search/issues{?q,per_page}",
        {"q": f"repo:{task.full_name} is:pr is:merged author:{author}", "per_page": 5},
    )
    return [int(item["number"]) for item in found.get("items") or []]


async def run_recommend(ctx: TaskContext, args: PullArgs) -> dict[str, Any]:
    """After a returning contributor's merge: suggest open issues that match their work."""
    key = f"recommend:{args.full_name}#{args.number}"
    if ctx.done(key):
        return {"skipped": "already done"}
    task = await open_repo(ctx, args)
    config = task.config.recommend
    if config.after_merge == "off":
        return {"skipped": "recommend.after_merge is off"}
    pull = await task.gh.getitem(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        {"owner": args.owner, "repo": args.repo, "pull_number": args.number},
    )
    user = pull.get("user") or {}
    author = str(user.get("login") or "")
    if not pull.get("merged_at"):
        return {"skipped": "not merged"}
    if not can_receive(author, str(user.get("type") or "User"), task.store.opted_out()):
        return {"skipped": "a bot or opted out"}
    if not is_returning(author, await merged_elsewhere(task, author), args.number):
        return {"skipped": "a first contribution (the welcome covers it)"}
    current = await _current_change(task, pull)
    matches = await suggest_work(
        task.gh,
        task.store,
        task.settings,
        full_name=task.full_name,
        login=author,
        current=current,
        k=config.count,
    )
    lines = [(m.item.number, m.item.title, m.reason) for m in matches]

    async def apply() -> None:
        await task.comment_once(
            args.number, body=recommend_comment(author, lines), marker=RECOMMEND_MARKER
        )

    detail = {
        "author": author,
        "issues": [n for n, _, _ in lines],
        "scores": [round(float(m.score), 3) for m in matches],
    }
    effect = Effect(key, "recommend", config.after_merge, args.number, detail)
    acts = bool(lines) and config.after_merge == "comment"
    if await task.apply_once(effect, apply if acts else None) is None:
        return {"skipped": "already done"}
    return {"recommended": detail["issues"], "how": config.after_merge}


async def _current_change(task: RepoTask, pull: Mapping[str, Any]) -> dict[str, Any]:
    """The merged pull request in the history format (files read from the API)."""
    from models.reviewers.requests import change_record

    files = await task.pull_files(int(pull["number"]))
    return change_record(pull, reviewers=(), files=files)
