"""Probot-style setup: create the GitHub App from ``app.yml`` through the manifest flow.

With no App credentials, ``steward serve`` serves a page at ``/`` whose form posts the
manifest to GitHub (personal account or an organisation). GitHub redirects back with
``?code=``; the code is exchanged at ``POST /app-manifests/{code}/conversions`` and
the App's id, key, webhook secret and client credentials are written to ``.env``.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml
from aiohttp import web

from core.settings import Settings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/setup/callback"
SETUP = web.AppKey("setup", dict)
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
    """Set keys in a `.env` file, keeping every other line as it was."""
    lines = path.read_text().splitlines() if path.is_file() else []
    kept = [ln for ln in lines if ln.split("=", 1)[0].strip() not in values]
    kept.extend(f"{key}={value}" for key, value in values.items())
    path.write_text("\n".join(kept) + "\n")
    path.chmod(0o600)


STYLE = (
    "body{font-family:system-ui;max-width:42rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5}input,button{font-size:1rem}"
    "code{overflow-wrap:anywhere}.warn{border-left:4px solid #b45309;padding:.25rem .75rem;"
    "background:#fffbeb}"
)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=doc, content_type="text/html", status=status)


def _problem(status: int, title: str, what: str) -> web.Response:
    """A page that says what went wrong and how to go on (never a bare 500)."""
    return _page(title, f"<p>{what}</p><p><a href='/'>Start the setup again</a>.</p>", status)


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


async def setup_page(request: web.Request) -> web.Response:
    """GET /: a form that sends the manifest to GitHub for a user or an organisation."""
    settings: Settings = request.app[SETUP]["settings"]
    state = secrets.token_urlsafe(16)
    request.app[SETUP]["states"].add(state)
    manifest = build_manifest(
        request.app[SETUP]["template"],
        base_url=_base_url(request),
        webhook_url=webhook_url(settings, _base_url(request)),
    )
    web_url = settings.github_web_url
    hook = manifest["hook_attributes"]["url"]
    warning = (
        f"""<p class="warn">GitHub cannot reach <code>{html.escape(hook)}</code>: it is on this
machine. For development, open <a href="https://smee.io/new">smee.io/new</a>, put the
channel's URL in <code>.env</code> as <code>WEBHOOK_PROXY_URL</code> and restart
<code>steward serve</code> (it forwards the channel to itself). In production, open this
page through the server's public address.</p>"""
        if is_local(hook)
        else ""
    )
    body = f"""
<p>Steward is not connected to GitHub yet. Create its GitHub App in one step: GitHub shows
the permissions from <code>app.yml</code>, creates the App, and sends you back here.</p>
<p>Webhook URL the App will use: <code id="hook">{html.escape(hook)}</code></p>{warning}
<form id="f" method="post" action="{web_url}/settings/apps/new?state={state}">
  <input type="hidden" name="manifest" value="{html.escape(json.dumps(manifest))}">
  <p><label>Organisation (leave empty for your personal account):
     <input name="org" id="org" placeholder="my-org"></label></p>
  <button type="submit">Register the GitHub App</button>
</form>
<script>
document.getElementById('f').addEventListener('submit', function (e) {{
  var org = document.getElementById('org').value.trim();
  if (org) this.action = '{web_url}/organizations/' + encodeURIComponent(org) +
    '/settings/apps/new?state={state}';
}});
</script>
<p>Already have an App? Set <code>APP_ID</code>, <code>PRIVATE_KEY</code> (or
<code>PRIVATE_KEY_PATH</code>) and <code>WEBHOOK_SECRET</code> in <code>.env</code> and
restart <code>steward serve</code>.</p>"""
    return _page("Set up Steward", body)


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


async def setup_callback(request: web.Request) -> web.Response:
    """GET /setup/callback?code=…: store the new App's credentials in `.env`."""
    state = request.query.get("state")
    states: set[str] = request.app[SETUP]["states"]
    if not state or state not in states:
        what = (
            "This link did not come from this server's setup page (its <code>state</code> is "
            "missing or unknown, or the server restarted since). Nothing was changed."
        )
        return _problem(400, "Setup link not recognised", what)
    code = request.query.get("code")
    if not code or not code.replace("-", "").replace("_", "").isalnum():
        return _problem(400, "No code from GitHub", "GitHub's redirect carried no valid code.")
    settings: Settings = request.app[SETUP]["settings"]
    try:
        app_data = await exchange_code(settings, code)
    except SetupFailed as exc:
        return _problem(502, "GitHub did not create the App", str(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        what = (
            f"Could not reach GitHub at <code>{html.escape(settings.github_api_url)}</code> "
            f"({html.escape(type(exc).__name__)}). Check this machine's network (and "
            "<code>GHE_HOST</code> for GitHub Enterprise), then register again."
        )
        return _problem(502, "GitHub could not be reached", what)
    update_env_file(settings.env_file, env_lines_for(app_data))
    states.discard(state or "")
    log.info(
        "GitHub App %s created; credentials written to %s", app_data.get("slug"), settings.env_file
    )
    install = html.escape(str(app_data.get("html_url", "")) + "/installations/new")
    body = f"""
<p>The App <strong>{html.escape(str(app_data.get("name", app_data.get("slug", ""))))}</strong>
was created and its credentials were written to
<code>{html.escape(str(settings.env_file))}</code>.</p>
<ol><li>Restart <code>steward serve</code> so it reads them.</li>
<li><a href="{install}">Install the App</a> on the repositories Steward should
look after.</li></ol>"""
    return _page("Steward is registered", body)


def add_setup_routes(app: web.Application, settings: Settings) -> None:
    """Mount the setup page and callback (Probot serves the callback at /probot/setup too)."""
    app[SETUP] = {
        "settings": settings,
        "template": load_manifest_template(),
        "states": set(),
    }
    app.router.add_get("/", setup_page)
    app.router.add_get(CALLBACK_PATH, setup_callback)
    app.router.add_get("/probot/setup", setup_callback)
