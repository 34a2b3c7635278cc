"""REST handlers of the fake GitHub for issue and pull request comments and the
reactions to them.
"""

from __future__ import annotations

from typing import Any

from fakegithub import serialize as ser
from fakegithub.http import Reply, not_found
from fakegithub.rest_context import Context, handles
from fakegithub.state import Repo

# --------------------------------------------------------------------------- comments


@handles("issues/list-comments")
async def list_comments(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/issues/{issue_number}/comments."""
    repo, item = ctx.issue()
    rows = [
        ser.comment(ctx.urls, repo, item.number, c, ctx.fake.user(c.user)) for c in item.comments
    ]
    return ctx.page(rows)


@handles("issues/create-comment")
async def create_comment(ctx: Context) -> Reply:
    """POST /repos/{owner}/{repo}/issues/{issue_number}/comments."""
    repo, item = ctx.issue()
    made = ctx.fake.add_comment(
        repo.owner, repo.name, item.number, body=ctx.body["body"], user=ctx.actor
    )
    return Reply(ser.comment(ctx.urls, repo, item.number, made, ctx.fake.user(made.user)), 201)


def _find_comment(ctx: Context) -> tuple[Repo, int, Any]:
    repo = ctx.repo()
    wanted = int(ctx.params["comment_id"])
    for item in repo.issues.values():
        for found in item.comments:
            if found.id == wanted:
                return repo, item.number, found
    raise not_found()


@handles("issues/get-comment")
async def get_comment(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/issues/comments/{comment_id}."""
    repo, number, found = _find_comment(ctx)
    return Reply(ser.comment(ctx.urls, repo, number, found, ctx.fake.user(found.user)))


@handles("issues/update-comment")
async def update_comment(ctx: Context) -> Reply:
    """PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}."""
    repo, number, found = _find_comment(ctx)
    found.body = ctx.body["body"]
    found.updated_at = ctx.fake.now()
    return Reply(ser.comment(ctx.urls, repo, number, found, ctx.fake.user(found.user)))


@handles("reactions/list-for-issue-comment")
async def list_comment_reactions(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions."""
    _repo, _number, found = _find_comment(ctx)
    wanted = ctx.query.get("content")
    given = [r for r in found.reactions if wanted is None or r.content == wanted]
    return ctx.page([ser.reaction(ctx.urls, r, ctx.fake.user(r.user)) for r in given])


@handles("reactions/create-for-issue-comment")
async def create_comment_reaction(ctx: Context) -> Reply:
    """POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions: 201, or 200
    with the existing reaction when this account already reacted so.
    """
    _repo, _number, found = _find_comment(ctx)
    made, new = ctx.fake.react(found.reactions, user=ctx.actor, content=ctx.body["content"])
    return Reply(ser.reaction(ctx.urls, made, ctx.fake.user(made.user)), 201 if new else 200)
