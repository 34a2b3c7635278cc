"""What a worker process holds: settings, the store, and per-task async resources.

The runtime is built once per process from injected settings (``configure``) or, on
first use, from the environment; nothing happens at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import redis
import redis.asyncio as aioredis
from redis.exceptions import LockError

from core.settings import Settings, load_settings
from core.store import Store, open_store
from core.tasks import A, Task, TaskArgsError
from workers.auth import InstallationAuth, Permissions, token_cache_key
from workers.github import GitHubClient

log = logging.getLogger(__name__)

ETAG_TTL = 24 * 3600


class RedisETagCache(MutableMapping[str, Any]):
    """gidgethub's conditional-request cache kept in Redis, shared by all workers."""

    def __init__(self, client: redis.Redis, prefix: str = "steward:etag:") -> None:
        self._redis = client
        self._prefix = prefix

    def __getitem__(self, url: str) -> Any:
        raw = self._redis.get(self._prefix + url)
        if raw is None:
            raise KeyError(url)
        return tuple(json.loads(raw))

    def __setitem__(self, url: str, value: Any) -> None:
        self._redis.set(self._prefix + url, json.dumps(list(value)), ex=ETAG_TTL)

    def __delitem__(self, url: str) -> None:
        self._redis.delete(self._prefix + url)

    def __iter__(self) -> Iterator[str]:
        for key in self._redis.scan_iter(self._prefix + "*"):
            yield key.decode()[len(self._prefix) :]

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class Runtime:
    """Process-wide resources of a worker."""

    settings: Settings
    store: Store
    redis: redis.Redis
    #: How follow-up tasks are queued: ``(task name, message)``. None: through the
    #: worker's Celery app (tests inject a recorder).
    send: Callable[[str, dict[str, Any]], None] | None = None

    def enqueue(self, task: Task[A], args: A) -> None:
        """Queue a follow-up task (checked against its contract)."""
        if self.send is not None:
            self.send(task.name, task.message(args))
            return
        from celery import current_app

        from core.queue import enqueue

        enqueue(current_app, task, args)

    @contextlib.asynccontextmanager
    async def task_context(self) -> AsyncIterator[TaskContext]:
        """Async resources for one task run (one event loop per task)."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            client = aioredis.Redis.from_url(redis_client_url(self.settings))
            try:
                yield TaskContext(self, session, client)
            finally:
                await client.aclose()


class InstallationGone(TaskArgsError):
    """The task names an installation that was uninstalled or suspended: it stops, with
    the reason as its result (nothing to retry)."""


def refuse_removed(store: Store, installation_id: int) -> None:
    """Stop work for an installation the store marks deleted or suspended (one not
    recorded yet is taken as present: events may arrive before its sync)."""
    row = store.installation(installation_id)
    if row is not None and row.get("deleted_at") is not None:
        raise InstallationGone(
            f"installation {installation_id} was removed on {str(row['deleted_at'])[:19]}; "
            "its work stops (its data is kept for STEWARD_RETENTION_DAYS, then deleted)"
        )


@dataclass
class TaskContext:
    """Per-task resources: HTTP session, async Redis, installation clients."""

    runtime: Runtime
    session: aiohttp.ClientSession
    redis: aioredis.Redis

    @property
    def settings(self) -> Settings:
        """The process settings."""
        return self.runtime.settings

    @property
    def store(self) -> Store:
        """The durable store."""
        return self.runtime.store

    def done(self, effect_key: str) -> bool:
        """Whether the audit log has the effect already (the cheap check before any call)."""
        return self.store.has_action(effect_key)

    async def enqueue_once(self, task: Task[A], args: A, *, key: str, seconds: int) -> bool:
        """Queue ``task`` unless one queued under ``key`` in the last ``seconds`` is
        still waiting (one Redis ``SET NX EX``, shared by every worker); True if queued."""
        if not await self.redis.set(key, "1", nx=True, ex=seconds):
            return False
        self.runtime.enqueue(task, args)
        return True

    def auth(self) -> InstallationAuth:
        """Token minting and caching for this app."""
        settings = self.settings
        if not settings.app_id or not settings.private_key:
            raise RuntimeError("APP_ID and PRIVATE_KEY must be set for workers to act on GitHub")
        return InstallationAuth(
            app_id=settings.app_id,
            private_key=settings.private_key,
            api_url=settings.github_api_url,
            redis=self.redis,
            session=self.session,
        )

    async def client(
        self, installation_id: int, *, repo: str | None = None, permissions: Permissions = ()
    ) -> GitHubClient:
        """A GitHub client acting as the installation, its token narrowed to ``repo``
        (``owner/name``) when the task acts on one repository and to ``permissions`` when
        it needs fewer than the App has, with an ETag cache of its own: a response cached
        for one installation (or token scope) is never served to another.
        """
        refuse_removed(self.store, installation_id)
        scope = token_cache_key(installation_id, repo, permissions).removeprefix("steward:token:")
        return await self.auth().client(
            installation_id,
            repo=repo,
            permissions=permissions,
            retries=self.settings.http_retries,
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
            cache=RedisETagCache(self.runtime.redis, prefix=f"steward:etag:{scope}:"),
        )

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[HeldLock]:
        """A Redis lock so two workers never apply the same effect at once.

        It lives ``lock_timeout`` seconds unless renewed; its holder renews it every
        third of that while inside (a GitHub call with retries and rate-limit waits can
        take minutes), so a live holder keeps it and a killed one frees it within
        ``lock_timeout``. A holder whose lock still expired (its process stalled) does
        not apply: :meth:`HeldLock.check` raises :class:`LockLost` first, and the task
        is retried. A lock found expired at release is logged, not raised: the effect
        landed and was recorded.
        """
        ttl = self.settings.lock_timeout
        lock = self.redis.lock(f"steward:lock:{key}", timeout=ttl, blocking_timeout=ttl * 3)
        if not await lock.acquire():
            raise LockLost(f"{key}: another worker held the lock for {ttl * 3:.0f} s")
        keeper = asyncio.create_task(_keep(lock, ttl))
        try:
            yield HeldLock(key, lock)
        finally:
            keeper.cancel()
            try:
                await lock.release()
            except LockError:
                log.warning("lock %s had expired before its release (its work is done)", key)


class LockLost(Exception):
    """This worker does not hold the lock it needs (taken, or expired while stalled)."""


@dataclass(frozen=True)
class HeldLock:
    """A lock held by this task; :meth:`check` right before acting."""

    key: str
    lock: Any

    async def check(self) -> None:
        """Raise :class:`LockLost` unless this task still owns the lock."""
        if not await self.lock.owned():
            raise LockLost(f"{self.key}: the lock expired before the effect was applied")


async def _keep(lock: Any, ttl: float) -> None:
    """Renew ``lock`` every third of its time to live until cancelled (or lost)."""
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            await lock.reacquire()
        except LockError:
            return


def redis_client_url(settings: Settings) -> str:
    """The Redis URL for redis-py clients."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (the embedded default sets it for its worker)")
    return settings.redis_url


_build_lock = threading.Lock()
_settings: Settings | None = None
_runtime: Runtime | None = None


def configure(settings: Settings) -> None:
    """Use these settings for this process (and its forked pool children)."""
    global _settings, _runtime
    _settings = settings
    _runtime = None


def get_runtime() -> Runtime:
    """The process runtime, built once on first use (thread-safe; after fork, again)."""
    global _runtime
    with _build_lock:
        if _runtime is None:
            settings = _settings or load_settings()
            _runtime = Runtime(
                settings=settings,
                store=open_store(settings.database_url_or_default),
                redis=redis.Redis.from_url(redis_client_url(settings)),
            )
        return _runtime


def reset() -> None:
    """Drop the built runtime (connections must not cross a fork); settings stay."""
    global _runtime
    _runtime = None


os.register_at_fork(after_in_child=reset)
