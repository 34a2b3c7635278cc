"""The dashboard's routes: sign-in with GitHub, the index and one page per repository.

Not signed in: a redirect to the sign-in page. A repository the person cannot reach,
or one Steward does not know, is a 404 (never a 403: it does not say that it exists).
What a person reaches is asked of GitHub at sign-in and again, with their token, once
it is ``ACCESS_SECONDS`` old; a token GitHub no longer accepts signs them out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from html import escape

import aiohttp
from aiohttp import web

from app.dashboard import github as gh
from app.dashboard import views
from app.dashboard.security import same_secret
from app.dashboard.session import (
    COOKIE,
    SESSION_SECONDS,
    STATE_COOKIE,
    STATE_SECONDS,
    Session,
    csrf_token,
    id_hash,
    needs_check,
    new_session_id,
    seal,
    secret_of,
    session_of,
    sign,
    unseal,
    unsign,
)
from core.community import reads
from core.settings import Settings
from core.store import DashboardSession, Store

log = logging.getLogger(__name__)

DASHBOARD = web.AppKey("dashboard", dict)
PREFIX = "/dashboard"


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, content_type="text/html", status=status)


def _redirect(url: str) -> web.Response:
    return web.Response(status=302, headers={"Location": url})


def _config(request: web.Request) -> tuple[Settings, Store, bytes]:
    found = request.app[DASHBOARD]
    return found["settings"], found["store"], found["secret"]


def _session_key(request: web.Request) -> str | None:
    """The stored session's key named by a valid session cookie (None: nobody)."""
    _, _, secret = _config(request)
    payload = unsign(request.cookies.get(COOKIE), secret, now=time.time()) or {}
    session_id = payload.get("sid")
    return id_hash(session_id) if isinstance(session_id, str) and session_id else None


async def current(request: web.Request) -> Session | None:
    """The signed-in person, with what they reach asked of GitHub again when it is old."""
    key = _session_key(request)
    if key is None:
        return None
    settings, store, secret = _config(request)
    now = datetime.now(UTC)
    row = await asyncio.to_thread(store.dashboard_session, key, now=now)
    if row is None:
        return None
    token = unseal(row.token, secret)
    if needs_check(row, now=now) and token:
        try:
            row = await _recheck(settings, row, token, now=now)
        except gh.TokenRevoked:
            await asyncio.to_thread(store.end_dashboard_session, key)
            return None
        except (gh.SignInFailed, aiohttp.ClientError, TimeoutError) as exc:
            # GitHub is down: keep what it said last rather than sign everybody out, and
            # ask again only after ACCESS_SECONDS, so pages do not each wait on GitHub.
            log.warning("dashboard: could not re-read %s's access: %s", row.login, exc)
            row = dataclasses.replace(row, checked_at=now)
        await asyncio.to_thread(store.save_dashboard_session, row)
    return session_of(row)


async def _recheck(
    settings: Settings, row: DashboardSession, token: str, *, now: datetime
) -> DashboardSession:
    """``row`` with what GitHub says the person reaches now."""
    # Short: a page waits on this; a slow GitHub keeps the last answer instead.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=8)) as session:
        _, installs = await gh.who_and_what(session, settings, token)
    access = [list(i) for i in installs]
    return dataclasses.replace(row, access=access, checked_at=now)


def _cookie(
    response: web.StreamResponse, name: str, value: str, *, max_age: int, secure: bool
) -> None:
    """HttpOnly, SameSite=Lax, only under /dashboard; Secure when served over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        path=PREFIX,
        secure=secure or None,
    )


async def login_page(request: web.Request) -> web.Response:
    """GET /dashboard/signin: the page with the sign-in button."""
    return _html(views.login_page())


async def login(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/login: off to GitHub's authorize page, with a state in a cookie."""
    settings, _, secret = _config(request)
    if not settings.client_id or not settings.client_secret:
        problem = (
            "Sign-in is not set up: set <code>GITHUB_CLIENT_ID</code> and "
            "<code>GITHUB_CLIENT_SECRET</code> (the App's, written by the setup page)."
        )
        return _html(views.login_page(problem), 503)
    state = secrets.token_urlsafe(16)
    back = f"{request.scheme}://{request.host}{PREFIX}/callback"
    response = _redirect(gh.authorize_url(settings, state=state, redirect_uri=back))
    signed = sign({"state": state, "exp": int(time.time()) + STATE_SECONDS}, secret)
    _cookie(response, STATE_COOKIE, signed, max_age=STATE_SECONDS, secure=request.secure)
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/callback?code&state: check the state, learn who and what, sign in."""
    settings, _, secret = _config(request)
    expected = unsign(request.cookies.get(STATE_COOKIE), secret, now=time.time()) or {}
    state, code = request.query.get("state", ""), request.query.get("code", "")
    if not state or not same_secret(state, str(expected.get("state", ""))):
        return _html(views.login_page("That sign-in link expired or was not started here."), 400)
    if request.query.get("error"):  # the person pressed Cancel on GitHub, or GitHub refused
        why = request.query.get("error_description") or request.query["error"]
        return _html(views.login_page(escape(f"GitHub did not sign you in: {why}")), 403)
    try:
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            token = await gh.exchange(session, settings, code)
            login_name, installs = await gh.who_and_what(session, settings, token)
    except (gh.SignInFailed, aiohttp.ClientError, TimeoutError) as exc:
        return _html(views.login_page(escape(f"GitHub did not sign you in: {exc}")), 502)
    _, store, _ = _config(request)
    session_id, now = new_session_id(), datetime.now(UTC)
    row = DashboardSession(
        id_hash=id_hash(session_id),
        login=login_name,
        access=[list(i) for i in installs],
        token=seal(token, secret),
        checked_at=now,
        expires_at=now + timedelta(seconds=SESSION_SECONDS),
    )
    await asyncio.to_thread(_start_session, store, row)
    response = _redirect(PREFIX)
    expires = int(row.expires_at.timestamp())
    signed = sign({"sid": session_id, "exp": expires}, secret)
    _cookie(response, COOKIE, signed, max_age=SESSION_SECONDS, secure=request.secure)
    response.del_cookie(STATE_COOKIE, path=PREFIX)
    return response


def _start_session(store: Store, row: DashboardSession) -> None:
    """Store a new session, deleting expired ones first (sign-ins keep the table small)."""
    store.prune_dashboard_sessions(now=row.checked_at)
    store.save_dashboard_session(row)


def _csrf(request: web.Request) -> str:
    """The CSRF token of the session this request's cookie names ("" for nobody)."""
    key = _session_key(request)
    return csrf_token(key, _config(request)[2]) if key else ""


async def logout_page(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/logout: the sign-out button (a GET changes nothing: a link or an
    image on another site must not sign anybody out)."""
    person = await current(request)
    if person is None:
        raise web.HTTPFound(f"{PREFIX}/signin")
    return _html(views.logout_page(person.login, csrf=_csrf(request)))


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /dashboard/logout with the session's CSRF token: end the session on the
    server and forget the cookie. Without the token (another site's form): 403."""
    key = _session_key(request)
    if key is None:
        raise web.HTTPSeeOther(f"{PREFIX}/signin")
    form = await request.post()
    if not same_secret(str(form.get("csrf", "")), _csrf(request)):
        person = await current(request)
        if person is None:
            raise web.HTTPSeeOther(f"{PREFIX}/signin")
        return _html(views.logout_page(person.login, csrf=_csrf(request), expired=True), 403)
    _, store, _ = _config(request)
    await asyncio.to_thread(store.end_dashboard_session, key)
    response = web.Response(status=303, headers={"Location": f"{PREFIX}/signin"})
    response.del_cookie(COOKIE, path=PREFIX)
    return response


def render_index(store: Store, person: Session, *, csrf: str = "") -> str:
    """The index page's HTML for ``person`` (``csrf``: their sign-out form's token)."""
    known = reads.known_repositories(store)
    installs = [
        (account, [known[n.lower()] for n in names if n.lower() in known])
        for _, account, names in person.installations
    ]
    return views.index_page(person.login, [(a, r) for a, r in installs if r], csrf=csrf)


async def index(request: web.Request) -> web.StreamResponse:
    """GET /dashboard: the person's installations and the repositories Steward knows."""
    person = await current(request)
    if person is None:
        raise web.HTTPFound(f"{PREFIX}/signin")
    _, store, _ = _config(request)
    page = await asyncio.to_thread(render_index, store, person, csrf=_csrf(request))
    return _html(page)


def render_repo(store: Store, repo: str, login: str, *, csrf: str = "") -> str:
    """One repository's page: triage, possible duplicates, response, people (``csrf``:
    the sign-out form's)."""
    sections = [
        views.triage_section(reads.triage_data(store, repo)),
        views.duplicates_section(store.duplicate_overview(repo)),
        views.response_section(reads.response_data(store, repo)),
        views.people_section(reads.people_data(store, repo)),
    ]
    return views.repo_page(repo, login, sections, csrf=csrf)


async def repository(request: web.Request) -> web.StreamResponse:
    """GET /dashboard/{owner}/{repo}: 404 unless the person reaches it and Steward knows it."""
    person = await current(request)
    if person is None:
        raise web.HTTPFound(f"{PREFIX}/signin")
    _, store, _ = _config(request)
    wanted = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
    known = await asyncio.to_thread(reads.known_repositories, store)
    csrf = _csrf(request)
    if wanted not in person.repositories or wanted not in known:
        return _html(views.not_found_page(person.login, csrf=csrf), 404)
    page = await asyncio.to_thread(render_repo, store, known[wanted], person.login, csrf=csrf)
    return _html(page)


def add_dashboard_routes(app: web.Application, settings: Settings, store: Store) -> None:
    """Mount the dashboard under ``/dashboard``."""
    app[DASHBOARD] = {"settings": settings, "store": store, "secret": secret_of(settings)}
    app.router.add_get(PREFIX, index)
    app.router.add_get(f"{PREFIX}/signin", login_page)
    app.router.add_get(f"{PREFIX}/login", login)
    app.router.add_get(f"{PREFIX}/callback", callback)
    app.router.add_get(f"{PREFIX}/logout", logout_page)
    app.router.add_post(f"{PREFIX}/logout", logout)
    app.router.add_get(PREFIX + "/{owner}/{repo}", repository)


async def not_set_up(request: web.Request) -> web.Response:
    """Any dashboard page before the GitHub App exists: say so and where to create it."""
    problem = (
        "The dashboard opens once Steward's GitHub App is set up: "
        '<a href="/">create it on the setup page</a>, restart <code>steward serve</code>, '
        "then sign in here with GitHub."
    )
    return _html(views.login_page(problem, can_sign_in=False), 503)


def add_dashboard_notice(app: web.Application) -> None:
    """Answer ``/dashboard`` and everything under it with :func:`not_set_up`."""
    app.router.add_get(PREFIX, not_set_up)
    app.router.add_get(PREFIX + "/{rest:.*}", not_set_up)
