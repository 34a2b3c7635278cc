"""Probot's setup flow: create the App from app.yml through GitHub's manifest flow."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from app.server import build_web_app
from core.settings import load_settings
from core.store import open_store
from fakegithub.fake import FakeGitHub


async def test_manifest_flow_writes_env(
    aiohttp_client: Callable[..., Any],
    fake_github: tuple[FakeGitHub, str],
    redis_url: str,
    tmp_path: Path,
) -> None:
    fake, api_url = fake_github
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=debug\n")
    settings = load_settings({"GITHUB_API_URL": api_url}, env_file=env_file)
    assert not settings.is_configured
    redis = aioredis.Redis.from_url(redis_url)
    app = build_web_app(
        settings, redis=redis, store=open_store(f"sqlite:///{tmp_path}/s.db"), send=lambda job: None
    )
    client = await aiohttp_client(app)

    page = await client.get("/")
    text = await page.text()
    assert page.status == 200 and "/settings/apps/new?state=" in text
    assert "line-height:1.5}input,button{font-size:1rem}" in text  # valid CSS
    manifest = json.loads(html.unescape(re.search(r'name="manifest" value="([^"]+)"', text)[1]))
    assert manifest["hook_attributes"]["url"].endswith("/api/github/webhooks")
    assert manifest["redirect_url"].endswith("/setup/callback")
    assert "issues" in manifest["default_events"]
    assert manifest["default_permissions"]["contents"] == "read"
    state = re.search(r"state=([\w-]+)", text)[1]  # type: ignore[index]

    webhook = await client.post("/api/github/webhooks", data=b"{}")
    assert webhook.status == 503
    for path in ("/dashboard", "/dashboard/acme/widgets"):  # before the App: where to go
        early = await client.get(path)
        notice = await early.text()
        assert early.status == 503 and "create it on the setup page" in notice, path
        assert 'id="signin"' not in notice  # no App to sign in with yet

    for params in ({"code": "abc123"}, {"code": "abc", "state": "forged"}):
        refused = await client.get("/setup/callback", params=params)
        text = await refused.text()
        assert refused.status == 400 and "Setup link not recognised" in text
        assert "Start the setup again" in text and refused.content_type == "text/html"

    done = await client.get("/setup/callback", params={"code": "abc123", "state": state})
    assert done.status == 200, await done.text()
    written = load_settings({}, env_file=env_file)
    assert written.is_configured and written.log_level == "debug"
    assert int(written.app_id or 0) in fake.apps
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"

    # Set up: the setup routes are closed (tests/security/test_web_setup.py has more).
    for path in ("/", "/setup/callback"):
        closed = await client.get(path, params={"code": "abc123", "state": state})
        assert closed.status == 404 and "already set up" in await closed.text()
    await redis.aclose()


async def test_a_code_github_refuses_is_a_page_and_writes_nothing(
    aiohttp_client: Callable[..., Any],
    fake_github: tuple[FakeGitHub, str],
    redis_url: str,
    tmp_path: Path,
) -> None:
    fake, api_url = fake_github
    fake.convert_manifest("used-once")  # a code works once
    client = await setup_client(aiohttp_client, redis_url, tmp_path, {"GITHUB_API_URL": api_url})
    state = re.search(r"state=([\w-]+)", await (await client.get("/")).text())[1]  # type: ignore[index]
    reused = await client.get("/setup/callback", params={"code": "used-once", "state": state})
    assert reused.status == 502 and "works once" in await reused.text()
    assert not (tmp_path / "none.env").exists()


async def setup_client(
    aiohttp_client: Callable[..., Any], redis_url: str, tmp_path: Path, env: dict[str, str]
) -> Any:
    """A test client of an unconfigured server's setup page."""
    settings = load_settings(env, env_file=tmp_path / "none.env")
    redis = aioredis.Redis.from_url(redis_url)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    app = build_web_app(settings, redis=redis, store=store, send=lambda job: None)
    app.on_cleanup.append(lambda _: redis.aclose())
    return await aiohttp_client(app)


@pytest.mark.parametrize(
    ("env", "hook", "warned"),
    [
        ({}, "/api/github/webhooks", True),
        ({"WEBHOOK_PROXY_URL": "https://smee.io/abc"}, "https://smee.io/abc", False),
    ],
    ids=["localhost: warned", "relay: registered unchanged"],
)
async def test_the_setup_page_shows_the_webhook_url_and_warns_about_localhost(
    aiohttp_client: Callable[..., Any],
    redis_url: str,
    tmp_path: Path,
    env: dict[str, str],
    hook: str,
    warned: bool,
) -> None:
    client = await setup_client(aiohttp_client, redis_url, tmp_path, env)
    text = await (await client.get("/")).text()
    shown = html.unescape(re.search(r'<code id="hook">([^<]+)</code>', text)[1])  # type: ignore[index]
    assert shown.endswith(hook)
    assert ("GitHub cannot reach" in text) is warned
    assert "name='viewport'" in text


async def test_an_unreachable_github_is_a_page_not_a_500(
    aiohttp_client: Callable[..., Any], redis_url: str, tmp_path: Path
) -> None:
    from tests.support import free_port

    env = {"GITHUB_API_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    client = await setup_client(aiohttp_client, redis_url, tmp_path, env)
    state = re.search(r"state=([\w-]+)", await (await client.get("/")).text())[1]  # type: ignore[index]
    page = await client.get("/setup/callback", params={"code": "abc123", "state": state})
    text = await page.text()
    assert page.status == 502 and "GitHub could not be reached" in text and "GHE_HOST" in text
