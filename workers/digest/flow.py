"""The weekly digest: the dashboard's numbers as one post per week, edited in place.

``run_digest`` (Celery beat, every 6 hours) queues one ``steward.digest_repo`` per
active repository, in its installation's lane, so a repository that fails (its
installation uninstalled, the repository deleted) ends its own task only;
``run_digest_repo`` gives a repository whose ``digest`` config is on this ISO week's
numbers from the store
(:func:`core.community.reads.community_rows`) as an issue and/or a discussion in the
named category. The week's post is found first in the audit log (the creation is one
``apply_once`` under ``digest:{repo}:{week}:{issue|discussion}``, with the number in
its detail), then on GitHub by its hidden marker (issues updated since Monday; the
category's newest discussions), so a worker killed between creating and recording
never posts twice (only the App's own posts count: a person's or another bot's post
that quotes the marker is never taken). A post whose body is unchanged costs no
write. When a week's issue exists, the bot's previous digest issue is closed, once. A
post someone deleted is not posted again that week, and a deleted previous issue is not
closed: either is said in the result, and the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gidgethub import BadRequest, QueryError

from core.community.reads import community_rows, digest_records
from core.store import Store, now_utc
from core.tasks import DIGEST_REPO, DigestArgs, DigestRepoArgs, RepoArgs
from workers.digest import decide
from workers.digest.decide import Week
from workers.flow import Applied, Effect, RepoTask, gone, is_own_bot, open_repo
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

RECENT_DISCUSSIONS = """
query DigestRecent($owner: String!, $name: String!, $category: ID!) {
  repository(owner: $owner, name: $name) {
    discussions(
      first: 50, categoryId: $category, orderBy: {field: CREATED_AT, direction: DESC}
    ) {
      nodes { id number body author { __typename login } }
    }
  }
}
"""

CATEGORIES = """
query DigestCategories($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    id
    discussionCategories(first: 100) { nodes { id name } }
  }
}
"""

CREATE_DISCUSSION = """
mutation DigestCreate($repo: ID!, $category: ID!, $title: String!, $body: String!) {
  createDiscussion(
    input: {repositoryId: $repo, categoryId: $category, title: $title, body: $body}
  ) { discussion { id number } }
}
"""

DISCUSSION = """
query DigestDiscussion($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) { discussion(number: $number) { id body } }
}
"""

UPDATE_DISCUSSION = """
mutation DigestUpdate($id: ID!, $body: String!) {
  updateDiscussion(input: {discussionId: $id, body: $body}) { discussion { id } }
}
"""


class CategoryMissing(Exception):
    """The configured discussion category does not exist in the repository."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"category {name!r} not found (the repository has: {', '.join(known)})")
        self.name = name
        self.known = known


@dataclass(frozen=True)
class Post:
    """This week's digest for one repository: where it goes and what it says."""

    task: RepoTask
    week: Week
    title: str
    body: str
    records: list[dict[str, Any]]

    def key(self, where: str) -> str:
        """The audit-log key of this week's post in ``where`` (by the repository's mode)."""
        return decide.effect_key(self.task.full_name, self.week, where, live=self.task.live)


async def run_digest(ctx: TaskContext, args: DigestArgs) -> dict[str, Any]:
    """Queue ``steward.digest_repo`` for every active repository: ``{"queued": [...]}``."""
    queued = []
    for installation, full in ctx.store.all_active_repositories():
        owner, _, name = full.partition("/")
        repo_args = DigestRepoArgs(
            installation_id=installation, owner=owner, repo=name, now=args.now
        )
        ctx.runtime.enqueue(DIGEST_REPO, repo_args)
        queued.append(full)
    return {"queued": queued}


async def run_digest_repo(ctx: TaskContext, args: DigestRepoArgs) -> dict[str, Any]:
    """Write or edit this week's digest of one repository, if it enabled one:
    ``{"digest": {"owner/repo": {"issue": what happened, ...}}}`` (empty: off)."""
    now = decide.parse_moment(args.now) or now_utc()
    found = await digest_repo(ctx, args, now=now)
    return {"digest": {args.full_name: found} if found else {}}


async def digest_repo(ctx: TaskContext, args: RepoArgs, *, now: datetime) -> dict[str, str]:
    """This week's digest of one repository: ``{"issue": what happened, ...}``."""
    task = await open_repo(ctx, args)
    config = task.config.digest
    if not config.issue and not config.discussion.strip():
        return {}
    week = decide.week_of(now)
    post = Post(
        task=task,
        week=week,
        title=decide.title(task.full_name, week),
        body=preview(task.store, task.full_name, now=now),
        records=digest_records(task.store, task.full_name),
    )
    outcome: dict[str, str] = {}
    if config.issue:
        outcome["issue"] = await post_issue(post)
    if config.discussion.strip():
        outcome["discussion"] = await post_discussion(post, config.discussion.strip())
    log.info("digest for %s, %s: %s", task.full_name, week.label, outcome)
    return outcome


def preview(store: Store, full_name: str, *, now: datetime) -> str:
    """The digest body the bot would post for ``full_name`` at ``now`` (store only)."""
    week = decide.week_of(now)
    rows = community_rows(store, full_name, since=decide.rows_since(week))
    return decide.body(full_name, decide.digest_numbers(rows, now=now), week=week)


async def post_once(
    post: Post, where: str, apply: Callable[[], Awaitable[Applied]]
) -> tuple[dict[str, Any] | None, bool]:
    """This week's record of ``where`` (created through ``apply`` when missing) and
    whether this run made (or adopted) it; None when nothing was recorded.
    """
    key = post.key(where)
    found = decide.recorded(post.records, key)
    if found is not None:
        return dict(found), False
    detail = {"week": post.week.label, "title": post.title}
    made = await post.task.apply_once(Effect(key, "digest", where, 0, detail), apply)
    if made is None:  # another run recorded it first: read what it recorded
        again = decide.recorded(digest_records(post.task.store, post.task.full_name), key)
        return (dict(again) if again is not None else None), False
    return made, True


# ------------------------------------------------------------------------- issues


async def post_issue(post: Post) -> str:
    """Open this week's issue (or adopt the one a killed run made), edit it when its
    numbers changed, and close the bot's previous digest issue.
    """
    task = post.task
    found, made = await post_once(post, "issue", lambda: open_issue(post))
    if not task.live:
        return "recorded (shadow)"
    if found is None or not found.get("number"):
        return "recorded without a number"
    number = int(found["number"])
    what = f"opened #{number}"
    if not made or found.get("adopted"):  # an adopted post may carry older numbers
        what = await edit_unless_gone(
            edit_issue(task, number, post.body), task, number, adopted=made
        )
    await close_previous(post)
    return what


async def edit_unless_gone(
    edit: Awaitable[bool], task: RepoTask, number: int, *, adopted: bool
) -> str:
    """What ``edit`` of post ``number`` did; a post someone deleted is left deleted (it
    is not posted again this week) and the run goes on."""
    try:
        edited = await edit
    except (BadRequest, QueryError) as exc:
        why = gone(exc)
        if why is None:
            raise
        log.info("digest for %s: #%d is gone (%s); not posted again", task.full_name, number, why)
        return f"#{number} is gone ({why}): not posted again this week"
    first = f"adopted #{number}" if adopted else f"#{number}"
    return f"{first} {'edited' if edited else 'unchanged'}"


async def open_issue(post: Post) -> Applied:
    """The marked issue a killed run made this week, else a new one: ``{"number": n}``."""
    task = post.task
    login = await task.bot_login()
    candidates = [
        {
            "number": i["number"],
            "body": i.get("body"),
            "bot": is_own_bot(i.get("user"), bot_login=login),
        }
        async for i in task.gh.getiter(
            "/repos/{owner}/{repo}/issues{?state,since,per_page}",
            {
                "owner": task.owner,
                "repo": task.repo,
                "state": "all",
                "since": post.week.monday.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "per_page": 100,
            },
        )
    ]
    found = decide.find_marked(candidates, post.week)
    if found is not None:
        log.info("digest: adopting %s#%s from a run that stopped", task.full_name, found["number"])
        return {"number": int(found["number"]), "adopted": True}
    made = await task.gh.post(
        "/repos/{owner}/{repo}/issues",
        {"owner": task.owner, "repo": task.repo},
        data={"title": post.title, "body": post.body},
    )
    return {"number": int(made["number"])}


async def edit_issue(task: RepoTask, number: int, body: str) -> bool:
    """Put ``body`` on issue ``number`` unless it is there already; True if edited."""
    ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "issue_number": number}
    issue = await task.gh.getitem("/repos/{owner}/{repo}/issues/{issue_number}", ids)
    if not decide.needs_edit(issue.get("body"), body):
        return False
    await task.gh.patch("/repos/{owner}/{repo}/issues/{issue_number}", ids, data={"body": body})
    return True


async def close_previous(post: Post) -> None:
    """Close the newest earlier digest issue, once, if it is still open and still ours."""
    task = post.task
    previous = decide.previous_issue(post.records, task.full_name, post.week)
    if previous is None:
        return
    week, number = previous
    key = decide.close_key(task.full_name, week)
    if task.ctx.done(key):
        return
    ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "issue_number": number}

    async def apply() -> Applied:
        try:
            issue = await task.gh.getitem("/repos/{owner}/{repo}/issues/{issue_number}", ids)
        except BadRequest as exc:
            why = gone(exc)
            if why is None:
                raise
            return {"closed": False, "gone": why}  # deleted: nothing to close, ever
        if issue.get("state") != "open" or decide.marker(week) not in str(issue.get("body")):
            return {"closed": False}  # closed by someone, or no longer the bot's digest
        data = {"state": "closed", "state_reason": "completed"}
        await task.gh.patch("/repos/{owner}/{repo}/issues/{issue_number}", ids, data=data)
        return {"closed": True}

    detail = {"week": week.label, "number": number, "by": post.week.label}
    await task.apply_once(Effect(key, "digest", "close", number, detail), apply)


# -------------------------------------------------------------------- discussions


async def post_discussion(post: Post, category: str) -> str:
    """Start this week's discussion in ``category`` (or adopt the one a killed run
    made) and edit it when its numbers changed; an unknown category posts nothing.
    """
    task = post.task
    try:
        found, made = await post_once(post, "discussion", lambda: open_discussion(post, category))
    except CategoryMissing as exc:
        log.warning("digest for %s: %s; no discussion posted", task.full_name, exc)
        key = f"{post.key('discussion')}:no-category:{category.lower()}"
        detail = {"week": post.week.label, "category": category, "known": exc.known}
        task.record(Effect(key, "digest", "category_missing", 0, detail))
        return f"category {category!r} not found"
    if not task.live:
        return "recorded (shadow)"
    if found is None or not found.get("number"):
        return "recorded without a number"
    number = int(found["number"])
    if made and not found.get("adopted"):
        return f"started #{number}"
    return await edit_unless_gone(
        edit_discussion(task, number, post.body), task, number, adopted=made
    )


async def open_discussion(post: Post, category: str) -> Applied:
    """The marked discussion a killed run made this week, else a new one in
    ``category``: ``{"number", "id", "category"}``; :class:`CategoryMissing` when the
    repository has no such category.
    """
    task = post.task
    data = await task.graphql(CATEGORIES, owner=task.owner, name=task.repo)
    repository = data["repository"]
    nodes = repository["discussionCategories"]["nodes"] or []
    chosen = decide.find_category(nodes, category)
    if chosen is None:
        raise CategoryMissing(category, [str(n["name"]) for n in nodes])
    # The category's newest discussions, read directly (a search could lag behind a
    # discussion created moments ago); the marker in the body decides.
    recent = await task.graphql(
        RECENT_DISCUSSIONS, owner=task.owner, name=task.repo, category=chosen["id"]
    )
    hits = recent["repository"]["discussions"]["nodes"] or []
    login = await task.bot_login()
    candidates = [{**h, "bot": is_own_bot(h.get("author"), bot_login=login)} for h in hits if h]
    found = decide.find_marked(candidates, post.week)
    if found is not None:
        log.info("digest: adopting discussion %s#%s", task.full_name, found["number"])
        return {"number": int(found["number"]), "id": found["id"], "adopted": True}
    made = await task.graphql(
        CREATE_DISCUSSION,
        repo=repository["id"],
        category=chosen["id"],
        title=post.title,
        body=post.body,
    )
    discussion = made["createDiscussion"]["discussion"]
    return {"number": int(discussion["number"]), "id": discussion["id"], "category": chosen["name"]}


async def edit_discussion(task: RepoTask, number: int, body: str) -> bool:
    """Put ``body`` on discussion ``number`` unless it is there already; True if edited."""
    data = await task.graphql(DISCUSSION, owner=task.owner, name=task.repo, number=number)
    discussion = data["repository"]["discussion"]
    if not decide.needs_edit(discussion.get("body"), body):
        return False
    await task.graphql(UPDATE_DISCUSSION, id=discussion["id"], body=body)
    return True
