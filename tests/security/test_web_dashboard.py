"""The dashboard and the other pages of ``steward serve`` against strangers: signing out
takes a POST with the session's CSRF token (a GET, as from a link or an image on another
site, signs nobody out); every answer carries the security headers (a CSP whose inline
style and script hashes match what the page holds, no framing, no referrer, no
sniffing); the scheme and host a proxy forwards count only from a trusted proxy; and a
token, state or cookie nobody could type is refused (4xx), never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from app.dashboard.session import COOKIE, id_hash, new_session_id, seal, secret_of, sign
from app.server import build_web_app
from core.settings import Settings, load_settings
from core.store import DashboardSession, Store, open_store
from tests.dashboard_seed import seed
from tests.security.test_web_metrics import raw_get
from tests.support import APP_ID, SECRET, key_pair

REPO = "acme/widgets"
CLIENT = {"GITHUB_CLIENT_ID": "Iv1.securitytest", "GITHUB_CLIENT_SECRET": "client-secret"}


def settings_of(tmp_path: Path, **env: str) -> Settings:
    """A configured App with an OAuth client, plus ``env``."""
    base = {"APP_ID": str(APP_ID), "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET}
    return load_settings({**base, **CLIENT, **env}, env_file=tmp_path / "none.env")


def seeded_store(tmp_path: Path) -> Store:
    """A store that knows acme/widgets, with some history to plot."""
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    store.upsert_installation(31, "acme", "Organization")
    store.add_repositories(31, [(1, REPO)])
    seed(store, REPO, items=60, people=6)
    return store


async def client_of(
    aiohttp_client: Callable[..., Any], redis_url: str, settings: Settings, store: Store
) -> TestClient:
    """The web app of ``steward serve`` for ``settings`` (jobs dropped)."""
    redis = aioredis.Redis.from_url(redis_url)
    app = build_web_app(settings, redis=redis, store=store, send=lambda job: None)
    app.on_cleanup.append(lambda _: redis.aclose())
    client: TestClient = await aiohttp_client(app)
    return client


def signed_in(store: Store, settings: Settings) -> str:
    """A session for alice (who reaches acme/widgets) as the store and a cookie hold it;
    the ``Cookie`` header."""
    secret, session_id, now = secret_of(settings), new_session_id(), datetime.now(UTC)
    row = DashboardSession(
        id_hash=id_hash(session_id),
        login="alice",
        access=[[31, "acme", [REPO]]],
        token=seal("gho_alice", secret),
        checked_at=now,
        expires_at=now + timedelta(hours=8),
    )
    store.save_dashboard_session(row)
    value = sign({"sid": session_id, "exp": int(row.expires_at.timestamp())}, secret)
    return f"{COOKIE}={value}"


async def status(client: TestClient, path: str, cookie: str) -> int:
    """The status of a GET with ``cookie`` (redirects not followed)."""
    answer = await client.get(path, headers={"Cookie": cookie}, allow_redirects=False)
    return answer.status


async def test_signing_out_takes_a_post_with_the_csrf_token(
    aiohttp_client: Callable[..., Any], redis_url: str, tmp_path: Path
) -> None:
    settings, store = settings_of(tmp_path), seeded_store(tmp_path)
    client = await client_of(aiohttp_client, redis_url, settings, store)
    cookie = signed_in(store, settings)
    assert await status(client, "/dashboard", cookie) == 200
    # A GET (a link, an <img> on another site) signs nobody out.
    got = await client.get("/dashboard/logout", headers={"Cookie": cookie}, allow_redirects=False)
    assert got.status in (200, 405) and "Set-Cookie" not in got.headers
    assert await status(client, "/dashboard", cookie) == 200
    # A POST without this session's token (another site's form) neither.
    for form in ({}, {"csrf": "forged"}, {"csrf": "forgéd"}):
        forged = await client.post(
            "/dashboard/logout", data=form, headers={"Cookie": cookie}, allow_redirects=False
        )
        assert forged.status == 403, form
    assert await status(client, "/dashboard", cookie) == 200
    page = await (await client.get("/dashboard", headers={"Cookie": cookie})).text()
    form = re.search(r'<form[^>]+action="/dashboard/logout".*?</form>', page, re.S)
    assert form and 'method="post"' in form[0]
    token = re.search(r'name="csrf" value="([^"]+)"', form[0])[1]  # type: ignore[index]
    out = await client.post(
        "/dashboard/logout",
        data={"csrf": token},
        headers={"Cookie": cookie},
        allow_redirects=False,
    )
    assert out.status in (302, 303) and out.headers["Location"] == "/dashboard/signin"
    assert await status(client, "/dashboard", cookie) == 302  # the session ended on the server


def _sources(policy: str, directive: str) -> set[str]:
    for part in policy.split(";"):
        name, *sources = part.split()
        if name == directive:
            return set(sources)
    return set()


def _inline(page: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", page, re.S)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def assert_secure_headers(headers: Any, page: str, where: str) -> None:
    """The four headers; a policy that lets this page's own style and script run and
    nothing else."""
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") in ("no-referrer", "strict-origin"), where
    policy = headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, where
    scripts = _sources(policy, "script-src")
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
    for style in _inline(page, "style"):
        assert _sha256(style) in _sources(policy, "style-src"), where
    for script in _inline(page, "script"):
        assert _sha256(script) in scripts, where


async def test_every_page_carries_the_security_headers(
    aiohttp_client: Callable[..., Any], redis_url: str, tmp_path: Path
) -> None:
    settings, store = settings_of(tmp_path), seeded_store(tmp_path)
    client = await client_of(aiohttp_client, redis_url, settings, store)
    cookie = signed_in(store, settings)
    paths = [
        "/",
        "/healthz",
        "/dashboard/signin",
        "/dashboard",
        f"/dashboard/{REPO}",
        "/dashboard/acme/nothing",
        "/dashboard/logout",
        "/no/such/page",
    ]
    for path in paths:
        answer = await client.get(path, headers={"Cookie": cookie}, allow_redirects=False)
        page = await answer.text()
        assert_secure_headers(answer.headers, page, path)
    repo = await (await client.get(f"/dashboard/{REPO}", headers={"Cookie": cookie})).text()
    assert repo.count("<svg") >= 4  # the plots are inline SVG, which the policy allows
    unconfigured = load_settings({}, env_file=tmp_path / "none.env")
    setup = await client_of(
        aiohttp_client, redis_url, unconfigured, open_store(f"sqlite:///{tmp_path}/setup.db")
    )
    for path in ("/", "/setup/callback", "/dashboard"):
        answer = await setup.get(path)
        assert_secure_headers(answer.headers, await answer.text(), f"setup {path}")
    page = await setup.get("/")  # its form goes to GitHub
    policy = page.headers["Content-Security-Policy"]
    assert unconfigured.github_web_url in _sources(policy, "form-action")


def _sign_in_redirect(answer: Any) -> tuple[str, str]:
    """(the ``redirect_uri`` sent to GitHub, the state cookie's ``Set-Cookie``)."""
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return query["redirect_uri"][0], answer.headers.get("Set-Cookie", "")


SPOOFED = [
    {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "steward.example.com"},
    {"Forwarded": 'for=198.51.100.7;proto=https;host="steward.example.com"'},
    {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, steward.example.com"},
]


@pytest.mark.parametrize("headers", SPOOFED, ids=["x-forwarded", "forwarded", "appended"])
async def test_forwarded_scheme_and_host_count_only_from_a_trusted_proxy(
    aiohttp_client: Callable[..., Any], redis_url: str, tmp_path: Path, headers: dict[str, str]
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    direct = await client_of(aiohttp_client, redis_url, settings_of(tmp_path), store)
    uri, cookie = _sign_in_redirect(
        await direct.get("/dashboard/login", headers=headers, allow_redirects=False)
    )
    assert uri == f"http://127.0.0.1:{direct.port}/dashboard/callback"  # nothing changed
    assert "secure" not in cookie.lower()
    proxied = await client_of(
        aiohttp_client,
        redis_url,
        settings_of(tmp_path, STEWARD_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1"),
        store,
    )
    uri, cookie = _sign_in_redirect(
        await proxied.get("/dashboard/login", headers=headers, allow_redirects=False)
    )
    assert uri == "https://steward.example.com/dashboard/callback"
    assert "secure" in cookie.lower()


async def test_a_state_or_cookie_nobody_could_type_is_refused_not_a_500(
    aiohttp_client: Callable[..., Any], redis_url: str, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    client = await client_of(aiohttp_client, redis_url, settings_of(tmp_path), store)
    refused = await client.get("/dashboard/callback", params={"state": "é", "code": "x"})
    assert refused.status == 400
    for cookie in ("steward_session=e30.é", "steward_oauth_state=e30.é"):
        for header in (cookie.encode(), cookie.encode("latin-1")):
            got, _ = await raw_get(client, "/dashboard", b"Cookie: " + header)
            assert got == 302, header
            got, _ = await raw_get(
                client, "/dashboard/callback?state=%C3%A9&code=x", b"Cookie: " + header
            )
            assert got == 400, header


@pytest.mark.parametrize(
    ("headers", "origin"),
    [
        ({}, (None, None)),
        (
            {"X-Forwarded-Proto": "HTTPS", "X-Forwarded-Host": "a.example:8443"},
            ("https", "a.example:8443"),
        ),
        (
            {"Forwarded": 'for=1.2.3.4;proto=http, for=5.6.7.8;proto=https;host="b.example"'},
            ("https", "b.example"),
        ),
        ({"Forwarded": "proto=https", "X-Forwarded-Proto": "http"}, ("https", None)),
        (
            {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example/path"},
            (None, None),
        ),
        ({"X-Forwarded-Host": "a b"}, (None, None)),
        ({"X-Forwarded-Host": "[2001:db8::1]:443"}, (None, "[2001:db8::1]:443")),
    ],
    ids=[
        "none",
        "x-forwarded",
        "forwarded, last element",
        "forwarded wins",
        "junk",
        "space",
        "ipv6",
    ],
)
def test_the_forwarded_origin_is_the_nearest_proxys_valid_word(
    headers: dict[str, str], origin: tuple[str | None, str | None]
) -> None:
    from app.dashboard.security import forwarded_origin

    assert forwarded_origin(headers) == origin


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("10.1.2.3", True),
        ("::ffff:10.1.2.3", True),  # IPv4 seen on an IPv6 socket
        ("127.0.0.1", False),
        ("fe80::1%eth0", False),
        (None, False),  # a Unix socket
        ("not an address", False),
    ],
)
def test_only_listed_proxies_are_trusted(peer: str | None, trusted: bool) -> None:
    from app.dashboard.security import is_trusted, trusted_networks

    assert is_trusted(peer, trusted_networks(["10.0.0.0/8"])) is trusted
    assert is_trusted(peer, ()) is False


def test_secrets_compare_as_bytes_whatever_their_characters() -> None:
    from app.dashboard.security import same_secret

    assert same_secret("s3crét", "s3crét") and not same_secret("s3crét", "s3cret")
    assert not same_secret("\udce9", "é") and not same_secret("\ud800", "x")  # no TypeError
