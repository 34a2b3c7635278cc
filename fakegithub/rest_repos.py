"""REST handlers of the fake GitHub for repositories: the repository, its files on the
default branch and its collaborators with their permissions.
"""

from __future__ import annotations

from fakegithub import serialize as ser
from fakegithub.http import HTTPError, Reply, not_found
from fakegithub.rest_context import Context, handles

# ---------------------------------------------------------------------------- repos


@handles("repos/get")
async def get_repo(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}."""
    repo = ctx.repo()
    opened = sum(1 for i in repo.issues.values() if i.state == "open")
    return Reply(ser.repository(ctx.urls, repo, ctx.fake.user(repo.owner), opened))


@handles("repos/get-content")
async def get_content(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/contents/{path} (default branch only)."""
    repo = ctx.repo()
    ref = ctx.query.get("ref")
    if ref not in (None, repo.default_branch, f"refs/heads/{repo.default_branch}"):
        raise HTTPError(404, f"No commit found for the ref {ref}")
    file = repo.files.get(ctx.params["path"].strip("/"))
    if file is None:
        raise not_found()
    return Reply(ser.content_file(ctx.urls, repo, file))


@handles("repos/list-collaborators")
async def list_collaborators(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/collaborators."""
    repo = ctx.repo()
    wanted = ctx.query.get("permission")
    rows = [
        ctx.fake.collaborator_json(repo, login)
        for login, perm in sorted(repo.collaborators.items())
        if wanted is None or _at_least(perm, wanted)
    ]
    return ctx.page(rows)


_RANKS = {"read": 0, "pull": 0, "triage": 1, "write": 2, "push": 2, "maintain": 3, "admin": 4}


def _at_least(permission: str, wanted: str) -> bool:
    return _RANKS.get(permission, -1) >= _RANKS.get(wanted, 0)


@handles("repos/get-collaborator-permission-level")
async def collaborator_permission(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/collaborators/{username}/permission."""
    repo = ctx.repo()
    login = ctx.params["username"]
    if ctx.fake.find_user(login) is None:
        raise not_found()
    role = repo.collaborators.get(login) or ("none" if repo.private else "read")
    # GitHub folds maintain into write and triage into read; role_name keeps detail.
    legacy = {"maintain": "write", "triage": "read"}.get(role, role)
    data = ctx.fake.collaborator_json(repo, login)
    return Reply({"permission": legacy, "role_name": role, "user": data})
