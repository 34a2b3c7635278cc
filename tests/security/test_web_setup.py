"""The setup page (Probot's manifest flow) against strangers: the flow can be finished
only by the browser that started it, once, from any web process sharing the Redis; the
setup routes close once an App is configured; ``.env`` is 0600 from its creation and
replaced whole; and a ``.env`` that cannot be written loses nothing (the page shows the
credentials once). Real web apps of ``steward serve``, the fake GitHub over HTTP.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization

from app.server import build_web_app
from core.settings import load_settings
from core.store import open_store
from fakegithub.fake import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
SETUP_PATHS = ("/", "/setup/callback", "/probot/setup")


async def setup_client(
    aiohttp_client: Callable[..., Any], redis_url: str, env_file: Path, api_url: str
) -> TestClient:
    """An unconfigured ``steward serve`` web app (its own store, the shared Redis) that
    writes ``env_file``."""
    settings = load_settings({"GITHUB_API_URL": api_url}, env_file=env_file)
    assert not settings.is_configured
    redis = aioredis.Redis.from_url(redis_url)
    folder = next(p for p in env_file.parents if p.is_dir())
    store = open_store(f"sqlite:///{folder}/{uuid.uuid4().hex}.db")
    app = build_web_app(settings, redis=redis, store=store, send=lambda job: None)
    app.on_cleanup.append(lambda _: redis.aclose())
    client: TestClient = await aiohttp_client(app)
    return client


async def start_setup(client: TestClient) -> tuple[str, str]:
    """Load the setup page as a browser does: (the state in its form, its cookies as a
    ``Cookie`` header)."""
    page = await client.get("/")
    text = await page.text()
    assert page.status == 200, text
    state = re.search(r"state=([\w-]+)", text)[1]  # type: ignore[index]
    jar = SimpleCookie()
    for header in page.headers.getall("Set-Cookie", []):
        jar.load(header)
    return state, "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def conversions(fake: FakeGitHub, code: str) -> list[Any]:
    """The exchanges of ``code`` GitHub (the fake) was asked for."""
    return fake.calls("POST", rf"^/app-manifests/{code}/conversions$")


async def test_a_second_browser_replaying_the_state_is_refused_and_nothing_is_exchanged(
    aiohttp_client: Callable[..., Any],
    fake_github: tuple[FakeGitHub, str],
    redis_url: str,
    tmp_path: Path,
) -> None:
    fake, api_url = fake_github
    client = await setup_client(aiohttp_client, redis_url, tmp_path / ".env", api_url)
    state, cookie = await start_setup(client)
    code = uuid.uuid4().hex
    callback = client.make_url("/setup/callback").with_query(code=code, state=state)
    async with aiohttp.ClientSession() as stranger:  # another browser: no cookie, then its own
        refused = await stranger.get(callback, allow_redirects=False)
        assert refused.status in (400, 403), await refused.text()
        _, their_cookie = await start_setup_in(stranger, client)
        replayed = await stranger.get(callback, headers={"Cookie": their_cookie})
        assert replayed.status in (400, 403) and "not recognised" in await replayed.text()
    assert conversions(fake, code) == [] and not (tmp_path / ".env").exists()
    first = (await client.get("/")).headers.getall("Set-Cookie", [""])[0].lower()
    assert "httponly" in first and "samesite=lax" in first and "max-age=3600" in first
    params = {"code": code, "state": state}
    done = await client.get("/setup/callback", params=params, headers={"Cookie": cookie})
    assert done.status == 200, await done.text()
    assert len(conversions(fake, code)) == 1
    again = await client.get("/setup/callback", params=params, headers={"Cookie": cookie})
    assert again.status in (400, 403, 404) and len(conversions(fake, code)) == 1


async def start_setup_in(session: aiohttp.ClientSession, client: TestClient) -> tuple[str, str]:
    """:func:`start_setup` from another browser (an ``aiohttp`` session of its own)."""
    async with session.get(client.make_url("/")) as page:
        text = await page.text()
        cookies = "; ".join(f"{k}={m.value}" for k, m in page.cookies.items())
    return re.search(r"state=([\w-]+)", text)[1], cookies  # type: ignore[index]


async def test_two_web_processes_finish_each_others_setup_and_then_close_it(
    aiohttp_client: Callable[..., Any],
    fake_github: tuple[FakeGitHub, str],
    redis_url: str,
    tmp_path: Path,
) -> None:
    fake, api_url = fake_github
    env_file = tmp_path / ".env"
    one = await setup_client(aiohttp_client, redis_url, env_file, api_url)
    two = await setup_client(aiohttp_client, redis_url, env_file, api_url)
    state, cookie = await start_setup(one)
    code = uuid.uuid4().hex
    done = await two.get(
        "/setup/callback", params={"code": code, "state": state}, headers={"Cookie": cookie}
    )
    assert done.status == 200, await done.text()
    assert load_settings({}, env_file=env_file).is_configured
    # Once an App is configured, no process serves the setup any more (until restarted,
    # when `/` is the status page and the callback is not mounted).
    for client in (one, two):
        for path in SETUP_PATHS:
            closed = await client.get(path, params={"code": uuid.uuid4().hex, "state": state})
            text = await closed.text()
            assert closed.status in (404, 410) and "already set up" in text, (path, text)
    assert len(conversions(fake, code)) == 1


def test_the_env_file_is_0600_from_its_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.setup import update_env_file

    kept = tmp_path / "kept.env"
    kept.write_text("LOG_LEVEL=debug\nAPP_ID=old\n")
    kept.chmod(0o644)
    old_umask = os.umask(0o022)
    # No chmod after the fact: the mode must be the file's from the moment it exists.
    for module in (os, Path):
        monkeypatch.setattr(module, "chmod", lambda *a, **k: None)
    try:
        fresh = tmp_path / "fresh.env"
        update_env_file(fresh, {"APP_ID": "1", "WEBHOOK_SECRET": "s"})
        assert oct(fresh.stat().st_mode & 0o777) == "0o600"
        update_env_file(kept, {"APP_ID": "2"})
        assert kept.read_text() == "LOG_LEVEL=debug\nAPP_ID=2\n"
        assert oct(kept.stat().st_mode & 0o777) == "0o600"
    finally:
        os.umask(old_umask)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.env", "kept.env"]


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from app.setup import update_env_file

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
    try:
        update_env_file(Path(sys.argv[1]), {"PRIVATE_KEY": "k" * 4000})
    except OSError as exc:
        print("failed", exc.errno)
    else:
        print("written")
    """
)


def test_a_full_disk_never_leaves_a_half_written_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    before = "LOG_LEVEL=debug\nWEBHOOK_PROXY_URL=https://smee.io/abc\n"
    env_file.write_text(before)
    run = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(env_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.startswith("failed"), run.stdout + run.stderr
    assert env_file.read_text() == before  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left


async def test_a_env_file_that_cannot_be_written_shows_the_credentials_once(
    aiohttp_client: Callable[..., Any],
    fake_github: tuple[FakeGitHub, str],
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, api_url = fake_github
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env_file = blocker / ".env"  # its folder is a file: writing fails
    client = await setup_client(aiohttp_client, redis_url, env_file, api_url)
    state, cookie = await start_setup(client)
    params = {"code": uuid.uuid4().hex, "state": state}
    page = await client.get("/setup/callback", params=params, headers={"Cookie": cookie})
    text = await page.text()
    assert page.status == 200 and "no-store" in page.headers.get("Cache-Control", "")
    shown = html.unescape(text)
    assert html.escape(str(env_file)) in text and "restart" in text.lower()
    app_id = int(re.search(r"APP_ID=(\d+)", shown)[1])  # type: ignore[index]
    pem = re.search(r'PRIVATE_KEY="([^"]+)"', shown)[1].replace("\\n", "\n")  # type: ignore[index]
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.decode().strip() == fake.apps[app_id].public_key_pem.strip()  # the real key
    secret = re.search(r"WEBHOOK_SECRET=(\w+)", shown)[1]  # type: ignore[index]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged and "PRIVATE KEY" not in logged
    # Once: a reload of the same address shows nothing.
    again = await client.get("/setup/callback", params=params, headers={"Cookie": cookie})
    assert again.status in (400, 403) and "PRIVATE KEY" not in await again.text()
