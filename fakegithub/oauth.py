"""The OAuth web flow of a GitHub App's "Sign in with GitHub", as github.com runs it.

``GET /login/oauth/authorize`` approves at once as ``fake.oauth.approve_as`` (the test
user) and redirects to ``redirect_uri`` with ``code`` and ``state``;
``POST /login/oauth/access_token`` trades the code (with the App's client id and
secret) for a user token (``ghu_…``). With that token, ``GET /user``,
``GET /user/installations`` and ``GET /user/installations/{id}/repositories`` answer
what this person can reach: the installations covering a repository the person owns
or collaborates on (REST calls go through the contract check like every other call).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from fakegithub import auth
from fakegithub.http import HTTPError, Reply
from fakegithub.rest import Context, handles
from fakegithub.state import Installation, Repo

if TYPE_CHECKING:
    from fakegithub.fake import FakeGitHub

#: REST operations authenticated with a user's OAuth token.
USER_OPERATIONS = frozenset(
    {
        "users/get-authenticated",
        "apps/list-installations-for-authenticated-user",
        "apps/list-installation-repos-for-authenticated-user",
    }
)


@dataclass
class OAuthState:
    """Who signs in, and the codes and user tokens handed out so far."""

    #: The login the authorize page approves as (None: it answers 404 like a logged-out page).
    approve_as: str | None = None
    #: ``client_id`` → ``client_secret`` of the Apps that may run the flow (empty: any).
    clients: dict[str, str] = field(default_factory=dict)
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code → (login, client)
    tokens: dict[str, str] = field(default_factory=dict)  # ghu_ token → login


def state_of(fake: FakeGitHub) -> OAuthState:
    """The fake's OAuth state."""
    return fake.oauth


async def authorize(request: web.Request) -> web.StreamResponse:
    """GET /login/oauth/authorize: approve as the configured user and redirect back."""
    from fakegithub.server import FAKE_KEY

    oauth = state_of(request.app[FAKE_KEY])
    client = request.query.get("client_id", "")
    redirect = request.query.get("redirect_uri", "")
    if oauth.approve_as is None or not redirect or (oauth.clients and client not in oauth.clients):
        return web.Response(status=404, text="Not Found")
    code = secrets.token_hex(10)
    oauth.codes[code] = (oauth.approve_as, client)
    query = urlencode({"code": code, "state": request.query.get("state", "")})
    raise web.HTTPFound(f"{redirect}{'&' if '?' in redirect else '?'}{query}")


async def access_token(request: web.Request) -> web.Response:
    """POST /login/oauth/access_token: a code (used once) for a user token, as JSON."""
    from fakegithub.server import FAKE_KEY

    oauth = state_of(request.app[FAKE_KEY])
    form: dict[str, Any] = dict(await request.post())
    if not form:
        form = dict(request.query)
    client = str(form.get("client_id", ""))
    known = not oauth.clients or oauth.clients.get(client) == form.get("client_secret")
    found = oauth.codes.pop(str(form.get("code", "")), None)
    if not known:
        return web.json_response({"error": "incorrect_client_credentials"})
    if found is None or found[1] != client:
        return web.json_response({"error": "bad_verification_code"})
    token = "ghu_" + secrets.token_hex(18)
    oauth.tokens[token] = found[0]
    return web.json_response({"access_token": token, "token_type": "bearer", "scope": ""})


def user_of(fake: FakeGitHub, header: str | None) -> str:
    """The login behind a user token in an ``Authorization`` header (else 401)."""
    creds = auth.parse_authorization(header)
    login = state_of(fake).tokens.get(creds.secret) if creds else None
    if login is None:
        raise HTTPError(401, "Bad credentials")
    return login


def reachable(fake: FakeGitHub, login: str, inst: Installation) -> list[Repo]:
    """Repositories of ``inst`` that ``login`` owns or collaborates on."""
    lowered = login.lower()
    return [
        repo
        for repo in fake.repos.values()
        if inst.covers(repo.full_name)
        and (repo.owner.lower() == lowered or lowered in {c.lower() for c in repo.collaborators})
    ]


def _login(ctx: Context) -> str:
    if not ctx.user:
        raise HTTPError(401, "Requires authentication")
    return ctx.user


@handles("users/get-authenticated")
async def get_authenticated_user(ctx: Context) -> Reply:
    """GET /user (with a user token)."""
    from fakegithub import serialize as ser

    return Reply(ser.public_user(ctx.urls, ctx.fake.user(_login(ctx))))


@handles("apps/list-installations-for-authenticated-user")
async def list_user_installations(ctx: Context) -> Reply:
    """GET /user/installations: installations with a repository this person can reach."""
    login = _login(ctx)
    found = [i for i in ctx.fake.installations.values() if reachable(ctx.fake, login, i)]
    rendered = [ctx.fake.installation_json(i) for i in found]
    return Reply({"total_count": len(rendered), "installations": rendered})


@handles("apps/list-installation-repos-for-authenticated-user")
async def list_user_installation_repos(ctx: Context) -> Reply:
    """GET /user/installations/{installation_id}/repositories."""
    from fakegithub import serialize as ser

    login = _login(ctx)
    inst = ctx.fake.installations.get(int(ctx.params["installation_id"]))
    repos = reachable(ctx.fake, login, inst) if inst else []
    if not repos:
        raise HTTPError(404, "Not Found")
    rendered = [
        ser.repository(ctx.urls, r, ctx.fake.user(r.owner), 0)
        for r in sorted(repos, key=lambda r: r.full_name)
    ]
    return Reply({"total_count": len(rendered), "repositories": rendered})


def add_routes(app: web.Application) -> None:
    """Mount the web flow's two pages (before the API's catch-all route)."""
    app.router.add_get("/login/oauth/authorize", authorize)
    app.router.add_post("/login/oauth/access_token", access_token)
