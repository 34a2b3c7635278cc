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


def _page(title: str, body: str) -> web.Response:
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui;"
        "max-width:42rem;margin:3rem auto;line-height:1.5}input,button{font-size:1rem}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=doc, content_type="text/html")


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
    body = f"""
<p>Steward is not connected to GitHub yet. Create its GitHub App in one step: GitHub shows
the permissions from <code>app.yml</code>, creates the App, and sends you back here.</p>
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
    async with aiohttp.ClientSession() as session, session.post(url, headers=headers) as resp:
        if resp.status != 201:
            text = await resp.text()
            raise web.HTTPBadGateway(text=f"GitHub refused the code ({resp.status}): {text[:200]}")
        data: dict[str, Any] = await resp.json()
        return data


async def setup_callback(request: web.Request) -> web.Response:
    """GET /setup/callback?code=…: store the new App's credentials in `.env`."""
    state = request.query.get("state")
    states: set[str] = request.app[SETUP]["states"]
    if state is not None and state not in states:
        raise web.HTTPBadRequest(text="unknown setup state; start again from /")
    code = request.query.get("code")
    if not code or not code.replace("-", "").replace("_", "").isalnum():
        raise web.HTTPBadRequest(text="missing or malformed ?code= from GitHub")
    settings: Settings = request.app[SETUP]["settings"]
    app_data = await exchange_code(settings, code)
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
