"""Probot-style setup: create the GitHub App from ``app.yml`` through the manifest flow.

With no App credentials, ``steward serve`` serves a page at ``/`` whose form posts the
manifest to GitHub (personal account or an organisation). GitHub redirects back with
``?code=``; the code is exchanged at ``POST /app-manifests/{code}/conversions`` and
the App's id, key, webhook secret and client credentials are written to ``.env``.

Only the browser that loaded the page can finish it: the page sets a signed, HttpOnly,
SameSite=Lax cookie holding a random nonce, and the ``state`` it sends through GitHub is
kept in Redis (so every web process sees it) under a key made of the state and that
nonce, for an hour and for one use. ``.env`` is replaced whole, mode 0600 from its
creation; where it cannot be written, the page shows the credentials once instead. Once
an App is configured (``.env`` names one), every setup route answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis
import yaml
from aiohttp import web
from dotenv import dotenv_values
from redis.exceptions import RedisError

from app.dashboard.security import content_security_policy, security_headers
from app.dashboard.session import sign, unsign
from core.settings import Settings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/setup/callback"
#: The cookie that binds a started setup to its browser, and how long a setup may take.
SETUP_COOKIE = "steward_setup"
STATE_SECONDS = 3600
#: Where the key that signs :data:`SETUP_COOKIE` is kept when STEWARD_SESSION_SECRET is unset.
SIGNING_KEY = "steward:setup:key"
APP_YML = Path(__file__).resolve().parent.parent / "app.yml"
#: Where ``pip install`` puts the manifest (pyproject's data-files), for installs outside the repo.
INSTALLED_APP_YML = Path(sys.prefix) / "share" / "steward" / "app.yml"


def load_manifest_template(path: Path | None = None) -> dict[str, Any]:
    """The manifest fields of ``app.yml`` (the file shipped with Steward by default)."""
    candidates = [path] if path else [Path("app.yml"), APP_YML, INSTALLED_APP_YML]
    for candidate in candidates:
        if candidate and candidate.is_file():
            data = yaml.safe_load(candidate.read_text()) or {}
            if not isinstance(data, dict):
                raise ValueError(f"{candidate} must be a YAML mapping")
            return data
    raise FileNotFoundError(
        "app.yml not found in the current folder, next to Steward's source or in "
        f"{INSTALLED_APP_YML.parent}; run `steward serve` from Steward's folder"
    )


def build_manifest(template: dict[str, Any], *, base_url: str, webhook_url: str) -> dict[str, Any]:
    """The manifest GitHub receives: app.yml plus the URLs of this server."""
    manifest = dict(template)
    manifest.setdefault("url", base_url)
    manifest["hook_attributes"] = {"url": webhook_url, "active": True}
    manifest["redirect_url"] = base_url.rstrip("/") + CALLBACK_PATH
    # "Sign in with GitHub" for the dashboard (app/dashboard) comes back here.
    manifest.setdefault("callback_urls", [base_url.rstrip("/") + "/dashboard/callback"])
    manifest.setdefault("public", False)
    return manifest


def env_lines_for(app: dict[str, Any]) -> dict[str, str]:
    """The `.env` entries of a converted App (``POST /app-manifests/{code}/conversions``)."""
    return {
        "APP_ID": str(app["id"]),
        "APP_SLUG": str(app.get("slug", "")),
        "PRIVATE_KEY": '"' + str(app["pem"]).strip().replace("\n", "\\n") + '"',
        "WEBHOOK_SECRET": str(app["webhook_secret"]),
        "GITHUB_CLIENT_ID": str(app.get("client_id", "")),
        "GITHUB_CLIENT_SECRET": str(app.get("client_secret", "")),
    }


def update_env_file(path: Path, values: dict[str, str]) -> None:
    """Set keys in a `.env` file, keeping every other line as it was.

    The file is replaced whole: a temporary file beside it, mode 0600 from its creation,
    written, fsynced and renamed over it. It is never half written, and never readable
    by others, not even for a moment. A symbolic link is followed (its target is replaced).
    """
    target = Path(os.path.realpath(path))
    lines = target.read_text(encoding="utf-8").splitlines() if target.is_file() else []
    kept = [ln for ln in lines if ln.split("=", 1)[0].strip() not in values]
    kept.extend(f"{key}={value}" for key, value in values.items())
    replace_file(target, "\n".join(kept) + "\n")


def replace_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, as a file only its owner can read."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a crash
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def env_file_names_an_app(path: Path) -> bool:
    """Whether the `.env` file holds an App (id, key and webhook secret)."""
    try:
        values = dotenv_values(path) if path.is_file() else {}
    except OSError:
        return False
    key = values.get("PRIVATE_KEY") or values.get("PRIVATE_KEY_PATH")
    return bool(values.get("APP_ID") and key and values.get("WEBHOOK_SECRET"))


STYLE = (
    "body{font-family:system-ui;max-width:42rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5}input,button{font-size:1rem}"
    "code{overflow-wrap:anywhere}.warn{border-left:4px solid #b45309;padding:.25rem .75rem;"
    "background:#fffbeb}pre{overflow-x:auto;background:#f3f4f6;padding:.5rem}"
)
#: The setup page's one script: the form goes to the organisation's page when one is typed.
SCRIPT = """
document.getElementById('f').addEventListener('submit', function () {
  var org = document.getElementById('org').value.trim();
  if (org) this.action = this.dataset.orgAction.replace('{org}', encodeURIComponent(org));
});
"""
#: The policy of every setup page but the form's: its style and nothing else.
POLICY = content_security_policy(styles=[STYLE])


def _page(title: str, body: str, status: int = 200, *, policy: str = POLICY) -> web.Response:
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    headers = security_headers(policy)
    return web.Response(text=doc, content_type="text/html", status=status, headers=headers)


def _problem(status: int, title: str, what: str) -> web.Response:
    """A page that says what went wrong and how to go on (never a bare 500)."""
    return _page(title, f"<p>{what}</p><p><a href='/'>Start the setup again</a>.</p>", status)


def _already_set_up(settings: Settings) -> web.Response:
    """What every setup route answers once an App is configured."""
    where = html.escape(str(settings.env_file))
    what = (
        f"<p>This server's GitHub App is configured (<code>{where}</code> names it), so its "
        "setup page is closed. Restart <code>steward serve</code> if it still runs without "
        "the App; to create another App, remove it from that file first.</p>"
    )
    return _page("Steward is already set up", what, 404)


def is_local(url: str) -> bool:
    """Whether GitHub could not reach ``url`` (a loopback or unqualified host)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "0.0.0.0", "::1") or host.startswith("127.") or "." not in host


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def webhook_url(settings: Settings, base_url: str) -> str:
    """The URL the App registers: the relay's own URL when ``WEBHOOK_PROXY_URL`` is set
    (unchanged, as Probot registers it), else this server's webhook path."""
    if settings.webhook_proxy_url:
        return settings.webhook_proxy_url
    return base_url.rstrip("/") + settings.webhook_path


@dataclass
class Setup:
    """What the setup routes read, injected."""

    settings: Settings
    template: dict[str, Any]
    redis: aioredis.Redis
    #: This process wrote `.env` (the file is the test for the other processes).
    done: bool = False

    async def is_done(self) -> bool:
        """Whether an App is configured: by this process, or in `.env` by another."""
        if not self.done:
            self.done = await asyncio.to_thread(env_file_names_an_app, self.settings.env_file)
        return self.done

    async def signing_key(self) -> bytes:
        """What signs the setup cookie: STEWARD_SESSION_SECRET, else a random key kept in
        Redis, the same for every web process."""
        if self.settings.session_secret:
            return self.settings.session_secret.encode()
        await self.redis.set(SIGNING_KEY, secrets.token_hex(32), nx=True)
        key = await self.redis.get(SIGNING_KEY)
        return key.encode() if isinstance(key, str) else bytes(key or b"")


SETUP = web.AppKey("setup", Setup)


def state_key(state: str, nonce: str) -> str:
    """The Redis key of one started setup: its state and its browser's nonce together, so
    a state is of no use to a browser without that nonce."""
    both = f"{state}\x00{nonce}".encode("utf-8", "surrogatepass")
    return "steward:setup:state:" + hashlib.sha256(both).hexdigest()


def _nonce(request: web.Request, key: bytes) -> str | None:
    """The nonce of this browser's setup cookie, if it is signed and not expired."""
    payload = unsign(request.cookies.get(SETUP_COOKIE), key, now=time.time()) or {}
    nonce = payload.get("nonce")
    return nonce if isinstance(nonce, str) and nonce else None


async def start(request: web.Request, setup: Setup) -> tuple[str, str]:
    """A new state for this browser, remembered in Redis; (state, signed cookie value).
    The browser's nonce is kept when its cookie is still good (two tabs both work)."""
    key = await setup.signing_key()
    nonce = _nonce(request, key) or secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(16)
    await setup.redis.set(state_key(state, nonce), "1", ex=STATE_SECONDS)
    cookie = sign({"nonce": nonce, "exp": int(time.time()) + STATE_SECONDS}, key)
    return state, cookie


async def finish(request: web.Request, setup: Setup, state: str) -> bool:
    """Use up ``state`` if this browser started it (and it is not expired or used)."""
    nonce = _nonce(request, await setup.signing_key())
    return nonce is not None and await setup.redis.delete(state_key(state, nonce)) == 1


UNAVAILABLE = (
    "Steward keeps the setup's state in Redis, and Redis did not answer. Check "
    "<code>REDIS_URL</code> (or the embedded Redis in <code>STEWARD_DATA_DIR</code>) and "
    "load this page again."
)


def _warning(hook: str) -> str:
    if not is_local(hook):
        return ""
    return f"""<p class="warn">GitHub cannot reach <code>{html.escape(hook)}</code>: it is on
this machine. For development, open <a href="https://smee.io/new">smee.io/new</a>, put the
channel's URL in <code>.env</code> as <code>WEBHOOK_PROXY_URL</code> and restart
<code>steward serve</code> (it forwards the channel to itself). In production, open this
page through the server's public address.</p>"""


def _form_page(settings: Settings, manifest: dict[str, Any], state: str) -> web.Response:
    """The setup page: the manifest in a form that posts to GitHub with ``state``."""
    web_url = settings.github_web_url
    hook = manifest["hook_attributes"]["url"]
    action = html.escape(f"{web_url}/settings/apps/new?state={state}")
    org_action = html.escape(f"{web_url}/organizations/{{org}}/settings/apps/new?state={state}")
    body = f"""
<p>Steward is not connected to GitHub yet. Create its GitHub App in one step: GitHub shows
the permissions from <code>app.yml</code>, creates the App, and sends you back here.</p>
<p>Webhook URL the App will use: <code id="hook">{html.escape(hook)}</code></p>{_warning(hook)}
<form id="f" method="post" action="{action}" data-org-action="{org_action}">
  <input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">
  <p><label>Organisation (leave empty for your personal account):
     <input name="org" id="org" placeholder="my-org"></label></p>
  <button type="submit">Register the GitHub App</button>
</form>
<script>{SCRIPT}</script>
<p>Already have an App? Set <code>APP_ID</code>, <code>PRIVATE_KEY</code> (or
<code>PRIVATE_KEY_PATH</code>) and <code>WEBHOOK_SECRET</code> in <code>.env</code> and
restart <code>steward serve</code>.</p>"""
    policy = content_security_policy(
        styles=[STYLE], scripts=[SCRIPT], form_action=["'self'", web_url]
    )
    return _page("Set up Steward", body, policy=policy)


async def setup_page(request: web.Request) -> web.Response:
    """GET /: a form that sends the manifest to GitHub for a user or an organisation."""
    setup = request.app[SETUP]
    if await setup.is_done():
        return _already_set_up(setup.settings)
    try:
        state, cookie = await start(request, setup)
    except (RedisError, OSError):
        return _problem(503, "Redis is not reachable", UNAVAILABLE)
    base = _base_url(request)
    manifest = build_manifest(
        setup.template, base_url=base, webhook_url=webhook_url(setup.settings, base)
    )
    response = _form_page(setup.settings, manifest, state)
    response.set_cookie(
        SETUP_COOKIE,
        cookie,
        max_age=STATE_SECONDS,
        httponly=True,
        samesite="Lax",  # sent on GitHub's redirect back (a top-level GET), not on a POST
        path="/",
        secure=request.secure or None,
    )
    return response


async def exchange_code(settings: Settings, code: str) -> dict[str, Any]:
    """Exchange the manifest code for the App's credentials."""
    url = f"{settings.github_api_url}/app-manifests/{code}/conversions"
    headers = {"Accept": "application/vnd.github+json", "User-Agent": "steward-setup"}
    timeout = aiohttp.ClientTimeout(total=20)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, headers=headers) as resp,
    ):
        if resp.status != 201:
            text = await resp.text()
            raise SetupFailed(
                f"GitHub refused the code ({resp.status}: {html.escape(text[:200])}). A code "
                "works once and for an hour; register the App again from this page."
            )
        data: dict[str, Any] = await resp.json()
        return data


class SetupFailed(Exception):
    """The App could not be created; the message says why (HTML-safe)."""


NOT_RECOGNISED = (
    "This link did not come from a setup page this browser opened (its <code>state</code> "
    "is missing, unknown, expired after an hour, already used, or was started in another "
    "browser). Nothing was changed."
)


#: What GitHub's manifest codes are made of (anything else never reaches its URL).
CODE = re.compile(r"[A-Za-z0-9_-]{1,100}")


async def _create_app(settings: Settings, code: str) -> dict[str, Any] | web.Response:
    """The new App's data from GitHub, or the page that says why there is none."""
    try:
        return await exchange_code(settings, code)
    except SetupFailed as exc:
        return _problem(502, "GitHub did not create the App", str(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        what = (
            f"Could not reach GitHub at <code>{html.escape(settings.github_api_url)}</code> "
            f"({html.escape(type(exc).__name__)}). Check this machine's network (and "
            "<code>GHE_HOST</code> for GitHub Enterprise), then register again."
        )
        return _problem(502, "GitHub could not be reached", what)


async def setup_callback(request: web.Request) -> web.Response:
    """GET /setup/callback?code=…&state=…: store the new App's credentials in `.env`."""
    setup = request.app[SETUP]
    if await setup.is_done():
        return _already_set_up(setup.settings)
    state, code = request.query.get("state", ""), request.query.get("code", "")
    try:
        started_here = bool(state) and await finish(request, setup, state)
    except (RedisError, OSError):
        return _problem(503, "Redis is not reachable", UNAVAILABLE)
    if not started_here:
        return _problem(400, "Setup link not recognised", NOT_RECOGNISED)
    if not CODE.fullmatch(code):
        return _problem(400, "No code from GitHub", "GitHub's redirect carried no valid code.")
    app_data = await _create_app(setup.settings, code)
    if isinstance(app_data, web.Response):
        return app_data
    values = env_lines_for(app_data)
    path = setup.settings.env_file
    try:
        await asyncio.to_thread(update_env_file, path, values)
    except OSError as exc:
        # Never the values themselves: the page below is the only place they appear.
        log.error("could not write the new App's credentials to %s (%s)", path, exc.strerror)
        return credentials_page(app_data, values, path=path, error=exc)
    setup.done = True
    log.info("GitHub App %s created; credentials written to %s", app_data.get("slug"), path)
    return registered_page(app_data, path)


def _app_name(app_data: dict[str, Any]) -> str:
    return html.escape(str(app_data.get("name", app_data.get("slug", ""))))


def _install_steps(app_data: dict[str, Any]) -> str:
    install = html.escape(str(app_data.get("html_url", "")) + "/installations/new")
    return (
        "<ol><li>Restart <code>steward serve</code> so it reads them.</li>"
        f'<li><a href="{install}">Install the App</a> on the repositories Steward should '
        "look after.</li></ol>"
    )


def registered_page(app_data: dict[str, Any], path: Path) -> web.Response:
    """The page after the credentials were written."""
    body = (
        f"<p>The App <strong>{_app_name(app_data)}</strong> was created and its credentials "
        f"were written to <code>{html.escape(str(path))}</code>.</p>{_install_steps(app_data)}"
    )
    return _page("Steward is registered", body)


def credentials_page(
    app_data: dict[str, Any], values: dict[str, str], *, path: Path, error: OSError
) -> web.Response:
    """The credentials, shown once, where `.env` could not be written: GitHub shows the
    private key to nobody again, so this page is where it must not be lost."""
    lines = html.escape("\n".join(f"{key}={value}" for key, value in values.items()))
    why = html.escape(error.strerror or type(error).__name__)
    body = (
        f"<p class='warn'>The App <strong>{_app_name(app_data)}</strong> was created, but "
        f"Steward could not write <code>{html.escape(str(path))}</code> ({why}). This page "
        "is the only place its private key is shown: copy these lines now into that file "
        "(readable by you only: <code>chmod 600</code>), or into the environment of "
        "<code>steward serve</code>.</p>"
        f"<pre id='credentials'>{lines}</pre>{_install_steps(app_data)}"
    )
    response = _page("Save the App's credentials now", body)
    response.headers["Cache-Control"] = "no-store"
    return response


def add_setup_routes(app: web.Application, settings: Settings, redis: aioredis.Redis) -> None:
    """Mount the setup page and callback (Probot serves the callback at /probot/setup too)."""
    app[SETUP] = Setup(settings=settings, template=load_manifest_template(), redis=redis)
    app.router.add_get("/", setup_page)
    app.router.add_get(CALLBACK_PATH, setup_callback)
    app.router.add_get("/probot/setup", setup_callback)
