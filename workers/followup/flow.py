"""No question left unanswered: record first responses; route unanswered items once.

``run_first_response`` stores what one event says (no GitHub call). ``run_followup``
(Celery beat, hourly) reads the items neither answered nor routed and queues one
``steward.followup_repo`` per repository that has one due, in its installation's lane,
so a repository that fails (its installation uninstalled, the repository deleted) ends
its own task only. ``run_followup_repo`` reads the repository's config and, with
``followup.enabled``, routes each item past ``followup.after_hours`` to the
best-matched, least-loaded maintainer: one mention comment or one assignment, through
``apply_once`` with one key per item. Discussions are read and answered through
GraphQL and always get a mention (a discussion has no assignees). Closed items, and
items GitHub says are gone (deleted: 410, or 404), are settled without routing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gidgethub import BadRequest, QueryError

from core.store import now_utc
from core.tasks import FOLLOWUP_REPO, FirstResponseArgs, FollowupArgs, FollowupRepoArgs
from models.reviewers import Constraints, rank_people_for_issue
from workers.flow import Effect, RepoTask, gone, open_repo
from workers.followup.decide import (
    FOLLOWUP_MARKER,
    add_load,
    due_for_followup,
    effect_key,
    followup_comment,
    item_fact,
    least_loaded,
    maintainers,
    parse_time,
    pick,
    routed_load,
)
from workers.people import busy_people, current_load, people_index
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

Record = Mapping[str, Any]

DISCUSSION = """
query FollowupDiscussion($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    discussion(number: $number) { id number title body closed author { login } }
  }
}
"""


async def run_first_response(ctx: TaskContext, args: FirstResponseArgs) -> dict[str, Any]:
    """Store an item's opening or a maintainer's answer (the earliest answer wins)."""
    event = {
        "installation_id": args.installation_id,
        "author": args.author,
        "opened_at": args.opened_at,
        "actor": args.answerer,
        "association": args.association,
        "at": args.at,
    }
    fact = item_fact((args.full_name, args.number, args.kind), event)
    if fact is None:
        return {"skipped": "not a maintainer's answer"}
    if not ctx.store.note_item(fact):
        return {"skipped": "nothing new about this item"}
    return {"recorded": "answer" if fact.responded_at else "opened"}


async def run_followup(ctx: TaskContext, args: FollowupArgs) -> dict[str, Any]:
    """Queue ``steward.followup_repo`` for every repository with an item unanswered for
    an hour or more (``followup.after_hours`` is at least 1); an installation the store
    marks removed queues nothing. ``{"queued": [...], "removed": [...]}``, full names."""
    now = parse_time(args.now) or now_utc()
    repos = sorted(
        {
            (int(row["installation_id"]), str(row["repo"]))
            for row in due_for_followup(ctx.store.first_responses(unsettled=True), now, 1)
            if row.get("installation_id") is not None
        }
    )
    queued, removed = [], []
    for installation, full in repos:
        if _removed(ctx, installation):
            removed.append(full)
            continue
        owner, _, name = full.partition("/")
        repo_args = FollowupRepoArgs(
            installation_id=installation, owner=owner, repo=name, now=args.now
        )
        ctx.runtime.enqueue(FOLLOWUP_REPO, repo_args)
        queued.append(full)
    return {"queued": queued, "removed": removed}


def _removed(ctx: TaskContext, installation_id: int) -> bool:
    row = ctx.store.installation(installation_id)
    return row is not None and row.get("deleted_at") is not None


async def run_followup_repo(ctx: TaskContext, args: FollowupRepoArgs) -> dict[str, Any]:
    """Route one repository's due items, once each: ``{"routed": {"owner/repo#n":
    person or why not}}``. Nothing is fetched before the config says followup is on."""
    now = parse_time(args.now) or now_utc()
    rows = due_for_followup(ctx.store.first_responses(unsettled=True, repo=args.full_name), now, 1)
    if not rows:
        return {"routed": {}}
    task = await open_repo(ctx, args)
    config = task.config.followup
    if not config.enabled:
        return {"routed": {}}
    outcome: dict[str, Any] = {}
    for row in due_for_followup(rows, now, config.after_hours):
        outcome[f"{args.full_name}#{row['number']}"] = await route_item(task, row, now=now)
    return {"routed": outcome}


async def route_item(task: RepoTask, row: Record, *, now: datetime) -> str:
    """Route one unanswered item: its person's login, or why nobody was asked."""
    number, kind = int(row["number"]), str(row["kind"])
    key = effect_key(task.full_name, number)
    if task.ctx.done(key):  # routed, then stopped before it was noted: note it now
        done = [a for a in task.store.actions_for(task.full_name, number) if a["effect_key"] == key]
        to = str(((done[0].get("detail") or {}) if done else {}).get("to") or "")
        task.store.mark_routed(task.full_name, number, to=to, at=now)
        return "already routed"
    try:
        issue = await fetch_item(task, number, kind=kind)
    except (BadRequest, QueryError) as exc:
        why = gone(exc)
        if why is None:
            raise
        log.info("followup: %s#%d is gone (%s); settled", task.full_name, number, why)
        task.store.mark_routed(task.full_name, number, to="", at=now)
        return f"gone ({why})"
    if issue is None or issue.get("state") != "open":
        task.store.mark_routed(task.full_name, number, to="", at=now)
        return "closed"
    person = await choose(task, issue)
    if person is None:
        return "nobody to ask"
    await apply_followup(task, issue, person=person, kind=kind)
    task.store.mark_routed(task.full_name, number, to=person, at=now)
    return person


async def fetch_item(task: RepoTask, number: int, *, kind: str) -> dict[str, Any] | None:
    """The item as the REST issue shape (``number``, ``state``, ``user``, ``title``,
    ``body``, plus ``node_id`` for a discussion); None for a discussion that is gone."""
    if kind != "discussion":
        ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "issue_number": number}
        found: dict[str, Any] = await task.gh.getitem(
            "/repos/{owner}/{repo}/issues/{issue_number}", ids
        )
        return found
    data = await task.graphql(DISCUSSION, owner=task.owner, name=task.repo, number=number)
    item = (data.get("repository") or {}).get("discussion")
    if not item:
        return None
    author = (item.get("author") or {}).get("login") or ""
    return {
        "number": item["number"],
        "node_id": item["id"],
        "state": "closed" if item.get("closed") else "open",
        "user": {"login": author},
        "title": item.get("title") or "",
        "body": item.get("body") or "",
    }


async def choose(task: RepoTask, issue: Mapping[str, Any]) -> str | None:
    """The best-matched, least-loaded maintainer for ``issue`` (never its author):
    the people-for-issues ranking with opt-outs, the never list and busy people."""
    collaborators, load = await asyncio.gather(_collaborators(task), current_load(task))
    allowed = maintainers(collaborators)
    routed = routed_load(task.store.first_responses(), repo=task.full_name)
    load = load.with_requests(add_load(load.open_requests, routed), load.busy)
    author = str(issue["user"]["login"])
    opted_out = task.store.opted_out()
    constraints = Constraints.build(
        allowed=allowed, never=task.config.reviewers.never, opted_out=opted_out
    )
    text = f"{issue.get('title') or ''}\n{issue.get('body') or ''}"
    index = people_index(task.store, task.full_name, settings=task.settings)
    leaders = rank_people_for_issue(
        text, [], index, k=3, author=author, constraints=constraints, load=load
    )
    busy = await busy_people(task, [s.login for s in leaders] or allowed[:20])
    load = load.with_requests(load.open_requests, busy)
    ranked = rank_people_for_issue(
        text, [], index, k=3, author=author, constraints=constraints, load=load
    )
    excluded = {author, *opted_out, *busy, *task.config.reviewers.never}
    return pick([s.login for s in ranked], author=author) or least_loaded(
        allowed, load=load.open_requests, excluded=excluded
    )


async def _collaborators(task: RepoTask) -> list[dict[str, Any]]:
    """The repository's collaborators with their permissions (all pages)."""
    return [
        person
        async for person in task.gh.getiter(
            "/repos/{owner}/{repo}/collaborators{?per_page}",
            {"owner": task.owner, "repo": task.repo, "per_page": 100},
        )
    ]


async def apply_followup(
    task: RepoTask, issue: Mapping[str, Any], *, person: str, kind: str
) -> None:
    """Mention ``person`` in one comment (marker-checked) or assign them, once.

    A discussion cannot be assigned: it always gets the mention."""
    number, config = int(issue["number"]), task.config.followup
    ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "issue_number": number}
    how = "mention" if kind == "discussion" else config.how

    async def apply() -> None:
        body = followup_comment(person, hours=config.after_hours, kind=kind)
        if how == "assign":
            await task.gh.post(
                "/repos/{owner}/{repo}/issues/{issue_number}/assignees",
                ids,
                data={"assignees": [person]},
            )
            return
        node = str(issue["node_id"]) if kind == "discussion" else ""
        await task.comment_once(number, body=body, marker=FOLLOWUP_MARKER, node_id=node)

    detail = {"to": person, "after_hours": config.after_hours}
    effect = Effect(effect_key(task.full_name, number), "followup", how, number, detail)
    if await task.apply_once(effect, apply) is not None:
        log.info("followup for %s#%d: %s (%s)", task.full_name, number, person, how)
