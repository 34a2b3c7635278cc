"""REST handlers of the fake GitHub for labels: a repository's labels and those on an
issue or pull request, and :func:`label_names`, which reads label names from any body
shape GitHub accepts.
"""

from __future__ import annotations

from typing import Any

from fakegithub import serialize as ser
from fakegithub.http import HTTPError, Reply
from fakegithub.rest_context import Context, handles
from fakegithub.state import Issue, Label, Repo

# ----------------------------------------------------------------------------- labels


def label_names(raw: Any) -> list[str]:
    """Label names from any body shape GitHub accepts (strings or ``{"name": …}``)."""
    if isinstance(raw, dict):
        raw = raw.get("labels") or []
    names = []
    for entry in raw if isinstance(raw, list) else []:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if isinstance(name, str) and name:
            names.append(name)
    return names


def _labels_reply(ctx: Context, repo: Repo, item: Issue) -> Reply:
    found = [repo.label(n) for n in item.labels]
    return Reply([ser.label(ctx.urls, repo, lab) for lab in found if isinstance(lab, Label)])


@handles("issues/list-labels-for-repo")
async def list_repo_labels(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/labels."""
    repo = ctx.repo()
    return ctx.page([ser.label(ctx.urls, repo, lab) for lab in repo.labels.values()])


@handles("issues/create-label")
async def create_label(ctx: Context) -> Reply:
    """POST /repos/{owner}/{repo}/labels."""
    repo = ctx.repo()
    name = ctx.body["name"]
    if repo.label(name) is not None:
        raise HTTPError(
            422,
            "Validation Failed",
            errors=[{"resource": "Label", "code": "already_exists", "field": "name"}],
        )
    made = ctx.fake.add_label(
        repo.owner,
        repo.name,
        name,
        color=ctx.body.get("color", "ededed"),
        description=ctx.body.get("description"),
    )
    return Reply(ser.label(ctx.urls, repo, made), 201)


@handles("issues/list-labels-on-issue")
async def list_issue_labels(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/issues/{issue_number}/labels."""
    repo, item = ctx.issue()
    return _labels_reply(ctx, repo, item)


@handles("issues/add-labels")
async def add_labels(ctx: Context) -> Reply:
    """POST /repos/{owner}/{repo}/issues/{issue_number}/labels (creates unknown labels)."""
    repo, item = ctx.issue()
    wanted = item.labels + label_names(ctx.body or [])
    ctx.fake.set_labels(repo, item, wanted, ctx.actor)
    return _labels_reply(ctx, repo, item)


@handles("issues/set-labels")
async def set_labels(ctx: Context) -> Reply:
    """PUT /repos/{owner}/{repo}/issues/{issue_number}/labels."""
    repo, item = ctx.issue()
    ctx.fake.set_labels(repo, item, label_names(ctx.body or []), ctx.actor)
    return _labels_reply(ctx, repo, item)


@handles("issues/remove-label")
async def remove_label(ctx: Context) -> Reply:
    """DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}."""
    repo, item = ctx.issue()
    name = ctx.params["name"].lower()
    if name not in {n.lower() for n in item.labels}:
        raise HTTPError(404, "Label does not exist")
    ctx.fake.set_labels(repo, item, [n for n in item.labels if n.lower() != name], ctx.actor)
    return _labels_reply(ctx, repo, item)
