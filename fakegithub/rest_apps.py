"""REST handlers of the fake GitHub for the App itself: the authenticated App, its
installations and their access tokens, its webhook delivery log, the manifest flow and
``GET /rate_limit``.
"""

from __future__ import annotations

from typing import Any

from fakegithub import serialize as ser
from fakegithub.hookshot import page_deliveries
from fakegithub.http import HTTPError, Reply, not_found
from fakegithub.rest_context import Context, handles
from fakegithub.state import Installation, iso

# ----------------------------------------------------------------------------- apps


@handles("apps/get-authenticated")
async def get_app(ctx: Context) -> Reply:
    """GET /app."""
    app = ctx.fake.apps[ctx.app_id or 0]
    return Reply(ser.app(ctx.urls, app, ctx.fake.user(app.owner)))


@handles("apps/list-installations")
async def list_installations(ctx: Context) -> Reply:
    """GET /app/installations."""
    found = [i for i in ctx.fake.installations.values() if i.app_id == ctx.app_id]
    return ctx.page([ctx.fake.installation_json(i) for i in found])


@handles("apps/get-repo-installation")
async def get_repo_installation(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/installation."""
    repo = ctx.repo()
    for inst in ctx.fake.installations.values():
        if inst.app_id == ctx.app_id and inst.covers(repo.full_name):
            return Reply(ctx.fake.installation_json(inst))
    raise not_found()


@handles("apps/create-installation-access-token")
async def create_token(ctx: Context) -> Reply:
    """POST /app/installations/{installation_id}/access_tokens."""
    inst = ctx.fake.installations.get(int(ctx.params["installation_id"]))
    if inst is None or inst.app_id != ctx.app_id:
        raise not_found()
    body = ctx.body if isinstance(ctx.body, dict) else {}
    repos = _token_repositories(ctx, inst, body)
    asked = body.get("permissions")
    if isinstance(asked, dict) and any(k not in inst.permissions for k in asked):
        raise HTTPError(422, "The permissions requested are not granted to this installation.")
    token = ctx.fake.mint_token(inst.id)
    made = ctx.fake.tokens[token]
    made.repositories = repos
    made.permissions = dict(asked) if isinstance(asked, dict) else None
    scoped = made.scope(inst)
    payload: dict[str, Any] = {
        "token": token,
        "expires_at": iso(made.expires_at),
        "permissions": dict(scoped.permissions),
        "repository_selection": "all" if scoped.repositories is None else "selected",
    }
    return Reply(payload, 201)


def _token_repositories(ctx: Context, inst: Installation, body: dict[str, Any]) -> list[str] | None:
    """``repositories`` (names, in the installation's account) or ``repository_ids`` of a
    token request; 422 for one the installation does not cover, as GitHub answers."""
    names = [f"{inst.account}/{n}" for n in body.get("repositories") or []]
    for repo_id in body.get("repository_ids") or []:
        found = next((r for r in ctx.fake.repos.values() if r.id == repo_id), None)
        names.append(found.full_name if found else f"#{repo_id}")
    if not names:
        return None
    if not all(inst.covers(n) for n in names):
        raise HTTPError(
            422,
            "There is at least one repository that does not exist or is not accessible "
            "to the parent installation.",
        )
    return names


@handles("apps/list-webhook-deliveries")
async def list_hook_deliveries(ctx: Context) -> Reply:
    """GET /app/hook/deliveries: the App's delivery log, newest first, cursor-paged."""
    rows = ctx.fake.hooks.log(ctx.app_id or 0)
    page, link = page_deliveries(rows, ctx.query, f"{ctx.urls.api}{ctx.path}")
    return Reply(page, 200, {"Link": link} if link else {})


@handles("apps/get-webhook-delivery")
async def get_hook_delivery(ctx: Context) -> Reply:
    """GET /app/hook/deliveries/{delivery_id}: one attempt with its request and response."""
    row = ctx.fake.hooks.find(ctx.app_id or 0, int(ctx.params["delivery_id"]))
    if row is None:
        raise not_found()
    return Reply(row.detail_json())


@handles("apps/redeliver-webhook-delivery")
async def redeliver_hook_delivery(ctx: Context) -> Reply:
    """POST /app/hook/deliveries/{delivery_id}/attempts: 202, then send it again."""
    delivery_id = int(ctx.params["delivery_id"])
    if ctx.fake.hooks.find(ctx.app_id or 0, delivery_id) is None:
        raise not_found()
    ctx.fake.hooks.schedule_redelivery(delivery_id)
    return Reply({}, 202)


@handles("apps/create-from-manifest")
async def convert_manifest(ctx: Context) -> Reply:
    """POST /app-manifests/{code}/conversions (no auth; each code works once)."""
    return Reply(ctx.fake.convert_manifest(ctx.params["code"]), 201)


@handles("rate-limit/get")
async def rate_limit(ctx: Context) -> Reply:
    """GET /rate_limit."""
    return Reply(ctx.fake.rate_limit_json(ctx.installation))
