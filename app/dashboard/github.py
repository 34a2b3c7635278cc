"""The dashboard's calls to GitHub as the signed-in person: the OAuth web flow's code
exchange, then ``/user``, ``/user/installations`` and each installation's repositories.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp

from core.settings import Settings

HEADERS = {"Accept": "application/vnd.github+json", "User-Agent": "steward-dashboard"}
#: Most repositories read per installation (GitHub pages 100 at a time).
MAX_PAGES = 10


class SignInFailed(Exception):
    """GitHub did not sign the person in; the message says why (plain text)."""


class TokenRevoked(SignInFailed):
    """GitHub no longer accepts the person's token (revoked, expired, App uninstalled)."""


def authorize_url(settings: Settings, *, state: str, redirect_uri: str) -> str:
    """Where the browser goes to approve the sign-in."""
    query = urlencode(
        {"client_id": settings.client_id or "", "state": state, "redirect_uri": redirect_uri}
    )
    return f"{settings.github_web_url}/login/oauth/authorize?{query}"


async def exchange(session: aiohttp.ClientSession, settings: Settings, code: str) -> str:
    """The user's access token for an authorize code."""
    form = {
        "client_id": settings.client_id or "",
        "client_secret": settings.client_secret or "",
        "code": code,
    }
    url = f"{settings.github_web_url}/login/oauth/access_token"
    async with session.post(url, data=form, headers={"Accept": "application/json"}) as resp:
        data: dict[str, Any] = await resp.json(content_type=None)
    token = data.get("access_token")
    if resp.status != 200 or not isinstance(token, str):
        raise SignInFailed(f"GitHub refused the sign-in code ({data.get('error', resp.status)})")
    return token


async def _get(session: aiohttp.ClientSession, url: str, token: str) -> Any:
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    async with session.get(url, headers=headers) as resp:
        if resp.status != 200:
            failed = TokenRevoked if resp.status == 401 else SignInFailed
            raise failed(f"GitHub answered {resp.status} to {url.split('?')[0]}")
        return await resp.json(content_type=None)


async def _all(session: aiohttp.ClientSession, url: str, *, token: str, key: str) -> list[Any]:
    found: list[Any] = []
    for page in range(1, MAX_PAGES + 1):
        data = await _get(session, f"{url}?per_page=100&page={page}", token)
        found.extend(data.get(key) or [])
        if len(data.get(key) or []) < 100:
            break
    return found


async def who_and_what(
    session: aiohttp.ClientSession, settings: Settings, token: str
) -> tuple[str, list[tuple[int, str, list[str]]]]:
    """The person's login and, per installation of this App, the repositories they reach."""
    api = settings.github_api_url
    user = await _get(session, f"{api}/user", token)
    installs = await _all(session, f"{api}/user/installations", token=token, key="installations")
    found = []
    for inst in installs:
        if settings.app_id and str(inst.get("app_id")) != str(settings.app_id):
            continue
        url = f"{api}/user/installations/{inst['id']}/repositories"
        repos = await _all(session, url, token=token, key="repositories")
        account = str((inst.get("account") or {}).get("login", ""))
        found.append((int(inst["id"]), account, sorted(str(r["full_name"]) for r in repos)))
    return str(user["login"]), found
