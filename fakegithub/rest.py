"""REST handlers of the fake GitHub, one per OpenAPI ``operationId``.

The server has already resolved the operation, checked the contract and the
credentials; a handler reads and changes state and returns a :class:`Reply`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fakegithub import search
from fakegithub import serialize as ser
from fakegithub.hookshot import page_deliveries
from fakegithub.http import HTTPError, Reply, not_found
from fakegithub.paging import paginate
from fakegithub.state import Installation, Issue, Label, Repo, iso

if TYPE_CHECKING:
    from fakegithub.fake import FakeGitHub


@dataclass
class Context:
    """Everything a handler may use about the current request."""

    fake: FakeGitHub
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    installation: Installation | None
    app_id: int | None = None
    #: The person behind a user (OAuth) token, for the ``/user`` operations.
    user: str | None = None

    @property
    def urls(self) -> ser.Urls:
        """The fake's API and web base URLs."""
        return self.fake.urls

    @property
    def actor(self) -> str:
        """The login acting for this request: the app's bot for installation tokens."""
        return self.fake.bot_login(self.installation)

    def repo(self) -> Repo:
        """The repository in the path, if this installation may see it (else 404)."""
        repo = self.fake.find_repo(self.params["owner"], self.params["repo"])
        if repo is None:
            raise not_found()
        if self.installation and not self.installation.covers(repo.full_name):
            raise not_found()
        return repo

    def issue(self, key: str = "issue_number", pulls_only: bool = False) -> tuple[Repo, Issue]:
        """The repository and the issue (or PR) numbered in the path."""
        repo = self.repo()
        item = repo.issues.get(int(self.params[key]))
        if item is None or (pulls_only and item.pull is None):
            raise not_found()
        return repo, item

    def page(self, items: list[Any], status: int = 200) -> Reply:
        """Paginate ``items`` with GitHub's ``Link`` header."""
        chunk, link = paginate(items, f"{self.urls.api}{self.path}", self.query)
        return Reply(chunk, status, {"Link": link} if link else {})

    def issue_json(self, repo: Repo, item: Issue) -> dict[str, Any]:
        """Render an issue."""
        return ser.issue(self.urls, repo, item, self.fake.users, self.fake.user(repo.owner))

    def pull_json(self, repo: Repo, item: Issue) -> dict[str, Any]:
        """Render a pull request."""
        return ser.pull(self.urls, repo, item, self.fake.users, self.fake.user(repo.owner))


Handler = Callable[[Context], Awaitable[Reply]]
HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    """Register a handler for an OpenAPI operation id."""

    def register(func: Handler) -> Handler:
        HANDLERS[operation_id] = func
        return func

    return register


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


def _sorted(items: list[Issue], sort: str, direction: str) -> list[Issue]:
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
    ordered = _sorted(items, ctx.query.get("sort", "created"), ctx.query.get("direction", "desc"))
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
        labels=_label_names(body.get("labels") or []),
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
        ctx.fake.set_labels(repo, item, _label_names(body["labels"] or []), ctx.actor)
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


# ----------------------------------------------------------------------------- labels


def _label_names(raw: Any) -> list[str]:
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
    wanted = item.labels + _label_names(ctx.body or [])
    ctx.fake.set_labels(repo, item, wanted, ctx.actor)
    return _labels_reply(ctx, repo, item)


@handles("issues/set-labels")
async def set_labels(ctx: Context) -> Reply:
    """PUT /repos/{owner}/{repo}/issues/{issue_number}/labels."""
    repo, item = ctx.issue()
    ctx.fake.set_labels(repo, item, _label_names(ctx.body or []), ctx.actor)
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


# ------------------------------------------------------------------------------ pulls


@handles("pulls/list")
async def list_pulls(ctx: Context) -> Reply:
    """GET /repos/{owner}/{repo}/pulls."""
    repo = ctx.repo()
    state = ctx.query.get("state", "open")
    items = [i for i in repo.issues.values() if i.pull and (state == "all" or i.state == state)]
    sort = ctx.query.get("sort", "created")
    default_direction = "desc" if sort == "created" else "asc"
    ordered = _sorted(items, sort, ctx.query.get("direction", default_direction))
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
