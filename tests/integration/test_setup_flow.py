"""Probot's setup flow: create the App from app.yml through GitHub's manifest flow."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

    done = await client.get("/setup/callback", params={"code": "abc123", "state": state})
    assert done.status == 200, await done.text()
    written = load_settings({}, env_file=env_file)
    assert written.is_configured and written.log_level == "debug"
    assert int(written.app_id or 0) in fake.apps
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"

    reused = await client.get("/setup/callback", params={"code": "abc123"})
    assert reused.status == 502
    bad = await client.get("/setup/callback", params={"code": "abc", "state": "forged"})
    assert bad.status == 400
    await redis.aclose()
