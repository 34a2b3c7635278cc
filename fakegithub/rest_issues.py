"""REST handlers of the fake GitHub for issues: listing (with GitHub's filters and
orders), creating, reading and updating them, their assignees and timeline events,
and ``GET /search/issues``.
"""

from __future__ import annotations

from typing import Any

from fakegithub import search
from fakegithub import serialize as ser
from fakegithub.http import Reply, not_found
from fakegithub.rest_context import Context, handles
from fakegithub.rest_labels import label_names
from fakegithub.state import Issue, Repo, iso

# ----------------------------------------------------------------------------- issues


def _filter_issues(ctx: Context, items: list[Issue]) -> list[Issue]:
    state = ctx.query.get("state", "open")
    creator = ctx.query.get("creator")
    labels = [x.strip().lower() for x in ctx.query.get("labels", "").split(",") if x.strip()]
    assignee = ctx.query.get("assignee")
    kept = []
    for item in items:
        names = {n.lower() for n in item.labels}
        if state != "all" and item.state != state:
            continue
        if creator and item.user.lower() != creator.lower():
            continue
        if any(label not in names for label in labels):
            continue
        if assignee and not _assignee_ok(item, assignee):
            continue
        kept.append(item)
    return kept


def _assignee_ok(item: Issue, wanted: str) -> bool:
    if wanted == "none":
        return not item.assignees
    if wanted == "*":
        return bool(item.assignees)
    return wanted.lower() in {a.lower() for a in item.assignees}


def sort_issues(items: list[Issue], sort: str, direction: str) -> list[Issue]:
    """``items`` ordered by ``sort`` (``created``, ``updated`` or ``comments``), then by
    number; newest first unless ``direction`` is ``asc``."""

    def key(item: Issue) -> Any:
        if sort == "updated":
            return (item.updated_at, item.number)
        if sort == "comments":
            return (len(item.comments), item.number)
        return (item.created_at, item.number)

    return sorted(items, key=key, reverse=direction != "asc")


@handles("issues/list-for-repo")
async def list_issues(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/issues (includes PRs, as GitHub does)."""
    repo = ctx.repo()
    items = _filter_issues(ctx, list(repo.issues.values()))
    since = ctx.query.get("since")
    if since:
        items = [i for i in items if (iso(i.updated_at) or "") >= since]
    ordered = sort_issues(
        items, ctx.query.get("sort", "created"), ctx.query.get("direction", "desc")
    )
    return ctx.page([ctx.issue_json(repo, i) for i in ordered])


@handles("issues/create")
async def create_issue(ctx: Context) -> Reply:
    """POST /repos/{owner}/{repo}/issues."""
    repo = ctx.repo()
    body = ctx.body
    item = ctx.fake.add_issue(
        repo.owner,
        repo.name,
        title=str(body["title"]),
        body=body.get("body") or "",
        user=ctx.actor,
        labels=label_names(body.get("labels") or []),
    )
    item.assignees = [a for a in body.get("assignees") or [] if a in repo.collaborators]
    return Reply(ctx.issue_json(repo, item), 201)


@handles("issues/get")
async def get_issue(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/issues/{issue_number}."""
    repo, item = ctx.issue()
    return Reply(ctx.issue_json(repo, item))


@handles("issues/update")
async def update_issue(ctx: Context) -> Reply:
    """PATCH /repos/{owner}/{repo}/issues/{issue_number}."""
    repo, item = ctx.issue()
    body = ctx.body or {}
    if "title" in body:
        item.title = str(body["title"])
    if "body" in body:
        item.body = body["body"]
    if "labels" in body:
        ctx.fake.set_labels(repo, item, label_names(body["labels"] or []), ctx.actor)
    if "assignees" in body:
        item.assignees = [a for a in body["assignees"] or [] if isinstance(a, str)]
    if body.get("state") in {"open", "closed"}:
        ctx.fake.set_state(repo, item, body["state"], body.get("state_reason"), ctx.actor)
    item.updated_at = ctx.fake.now()
    return Reply(ctx.issue_json(repo, item))


@handles("issues/add-assignees")
async def add_assignees(ctx: Context) -> Reply:
    """POST /repos/{owner}/{repo}/issues/{issue_number}/assignees."""
    repo, item = ctx.issue()
    for login in (ctx.body or {}).get("assignees") or []:
        # GitHub silently drops people who cannot be assigned.
        if isinstance(login, str) and login in repo.collaborators and login not in item.assignees:
            item.assignees.append(login)
            ctx.fake.log_event(item, "assigned", ctx.actor, assignee=login)
    return Reply(ctx.issue_json(repo, item), 201)


@handles("issues/remove-assignees")
async def remove_assignees(ctx: Context) -> Reply:
    """DELETE /repos/{owner}/{repo}/issues/{issue_number}/assignees."""
    repo, item = ctx.issue()
    for login in (ctx.body or {}).get("assignees") or []:
        kept = [a for a in item.assignees if a.lower() != str(login).lower()]
        for gone in set(item.assignees) - set(kept):
            ctx.fake.log_event(item, "unassigned", ctx.actor, assignee=gone)
        item.assignees = kept
    return Reply(ctx.issue_json(repo, item))


@handles("issues/check-user-can-be-assigned")
async def check_assignee(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/assignees/{assignee}: 204 if assignable, else 404."""
    repo = ctx.repo()
    login = ctx.params["assignee"].lower()
    if login not in {c.lower() for c in repo.collaborators}:
        raise not_found()
    return Reply(None, 204)


@handles("issues/list-events")
async def list_events(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/issues/{issue_number}/events."""
    repo, item = ctx.issue()
    return ctx.page([ser.issue_event(ctx.urls, repo, e, ctx.fake.users) for e in item.events])


# ----------------------------------------------------------------------------- search


@handles("search/issues-and-pull-requests")
async def search_issues(ctx: Context) -> Reply:
    """GET /search/issues: ``repo: author: is: type: state: label:`` and free text."""
    query = search.parse(ctx.query.get("q", ""))
    found: list[tuple[Repo, Issue]] = []
    for repo in ctx.fake.repos.values():
        if ctx.installation and not ctx.installation.covers(repo.full_name):
            continue
        found += [(repo, i) for i in repo.issues.values() if search.matches_issue(query, repo, i)]
    reverse = ctx.query.get("order", "desc") != "asc"
    found.sort(key=lambda pair: (pair[1].created_at, pair[1].number), reverse=reverse)
    rows = [{**ctx.issue_json(repo, item), "score": 1.0} for repo, item in found]
    page = ctx.page(rows)
    page.payload = {
        "total_count": len(rows),
        "incomplete_results": False,
        "search_type": "lexical",
        "items": page.payload,
    }
    return page
