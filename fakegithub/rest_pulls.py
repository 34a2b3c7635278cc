"""REST handlers of the fake GitHub for pull requests: listing and reading them, their
files and reviews, and requesting reviewers.
"""

from __future__ import annotations

from fakegithub import serialize as ser
from fakegithub.http import HTTPError, Reply
from fakegithub.rest_context import Context, handles
from fakegithub.rest_issues import sort_issues

# ------------------------------------------------------------------------------ pulls


@handles("pulls/list")
async def list_pulls(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/pulls."""
    repo = ctx.repo()
    state = ctx.query.get("state", "open")
    items = [i for i in repo.issues.values() if i.pull and (state == "all" or i.state == state)]
    sort = ctx.query.get("sort", "created")
    default_direction = "desc" if sort == "created" else "asc"
    ordered = sort_issues(items, sort, ctx.query.get("direction", default_direction))
    return ctx.page([ser.pull_summary(ctx.pull_json(repo, i)) for i in ordered])


@handles("pulls/get")
async def get_pull(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}."""
    repo, item = ctx.issue("pull_number", pulls_only=True)
    return Reply(ctx.pull_json(repo, item))


@handles("pulls/list-files")
async def list_pull_files(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}/files."""
    repo, item = ctx.issue("pull_number", pulls_only=True)
    assert item.pull is not None
    sha = item.pull.head_sha
    return ctx.page([ser.pull_file(ctx.urls, repo, sha, f) for f in item.pull.files])


@handles("pulls/list-reviews")
async def list_reviews(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews."""
    repo, item = ctx.issue("pull_number", pulls_only=True)
    assert item.pull is not None
    rows = [
        ser.review(ctx.urls, repo, item.number, r, ctx.fake.user(r.user)) for r in item.pull.reviews
    ]
    return ctx.page(rows)


@handles("pulls/list-requested-reviewers")
async def list_requested(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers."""
    _repo, item = ctx.issue("pull_number", pulls_only=True)
    assert item.pull is not None
    users = [ser.user(ctx.urls, ctx.fake.user(r)) for r in item.pull.requested_reviewers]
    return Reply({"users": users, "teams": []})


@handles("pulls/request-reviewers")
async def request_reviewers(ctx: Context) -> Reply:
    """POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers."""
    repo, item = ctx.issue("pull_number", pulls_only=True)
    assert item.pull is not None
    wanted = list((ctx.body or {}).get("reviewers") or [])
    if item.user in wanted:
        raise HTTPError(422, "Review cannot be requested from pull request author.")
    if any(login not in repo.collaborators for login in wanted):
        raise HTTPError(
            422,
            "Reviews may only be requested from collaborators. One or more of the users "
            f"or teams you specified is not a collaborator of the {repo.full_name} "
            "repository.",
        )
    for login in wanted:
        if login not in item.pull.requested_reviewers:
            item.pull.requested_reviewers.append(login)
            ctx.fake.log_event(item, "review_requested", ctx.actor, requested_reviewer=login)
    return Reply(ser.pull_summary(ctx.pull_json(repo, item)), 201)


@handles("pulls/remove-requested-reviewers")
async def remove_reviewers(ctx: Context) -> Reply:
    """DELETE /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers."""
    repo, item = ctx.issue("pull_number", pulls_only=True)
    assert item.pull is not None
    dropped = set((ctx.body or {}).get("reviewers") or [])
    for login in dropped & set(item.pull.requested_reviewers):
        item.pull.requested_reviewers.remove(login)
        ctx.fake.log_event(item, "review_request_removed", ctx.actor, requested_reviewer=login)
    return Reply(ser.pull_summary(ctx.pull_json(repo, item)))
