"""Recovering deliveries GitHub could not hand over: the periodic job and its I/O.

GitHub keeps every attempt to deliver the App's webhooks in its delivery log and never
redelivers by itself, so events sent while Steward was down (a deploy, a crash, a cut
network) are lost unless someone asks. One run, under a Redis lock so two workers never
run at once:

1. reads the log as the App itself (its JWT, not an installation token), newest first,
   back to a little before where the last run stopped (``steward:recover:mark``);
2. reads which of those deliveries Steward accepted (:func:`core.deliveries.accepted`)
   and which it asked GitHub about already (``steward:redelivery:<guid>``, one hash
   field per ask, kept ``STEWARD_DELIVERY_TTL`` seconds);
3. asks the pure :func:`workers.deliveries.decide.plan` what to redeliver;
4. claims each ask (``HSETNX``: no two runs ask twice) and asks GitHub
   (``POST /app/hook/deliveries/{id}/attempts``), a few per second;
5. saves where the next run starts.

GitHub trouble (a rate limit, 5xx, no connection) ends the run cleanly: the mark stays
before what was not done, and the next run picks it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from gidgethub import BadRequest, GitHubException
from redis.exceptions import LockError

from core.deliveries import accepted
from core.settings import Settings
from core.tasks import NoArgs
from workers.auth import InstallationAuth
from workers.deliveries.decide import (
    GAVE_UP,
    Asked,
    Attempt,
    Plan,
    RecoveryPolicy,
    next_mark,
    plan,
    window_start,
)
from workers.github import GitHubClient, GitHubUnavailable, RateLimited
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

MARK_KEY = "steward:recover:mark"
LOCK_KEY = "steward:lock:recover-deliveries"
#: Seconds the run lock lives (a run reads at most 50 pages and asks at most 50 times).
LOCK_TTL = 600
LOG_PATH = "/app/hook/deliveries"
#: GitHub trouble that ends a run; the next one continues.
TROUBLE = (
    GitHubException,
    RateLimited,
    GitHubUnavailable,
    aiohttp.ClientError,
    asyncio.TimeoutError,
)
#: Answers to a redelivery request that concern that delivery only (gone, too old).
REFUSED = frozenset({404, 410, 422})
DEFAULT_POLICY = RecoveryPolicy()


def asked_key(guid: str) -> str:
    """Redis hash of the asks to redeliver one delivery (field: the ask's number)."""
    return f"steward:redelivery:{guid}"


class CredentialsMissing(RuntimeError):
    """The App's id or key is not configured: its delivery log cannot be read."""


def app_credentials(settings: Settings) -> tuple[str, str]:
    """The App's id and key (:class:`CredentialsMissing` says what to set)."""
    if not settings.app_id or not settings.private_key:
        raise CredentialsMissing(
            "APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) must be set: the delivery log "
            "is read as the GitHub App itself (set them in the environment or .env)"
        )
    return settings.app_id, settings.private_key


class DeliveryLog:
    """The App's webhook delivery log on GitHub, read and redelivered as the App."""

    def __init__(self, client: GitHubClient, jwt: Callable[[], str]) -> None:
        self._client = client
        self._jwt = jwt

    @classmethod
    def open(
        cls, session: aiohttp.ClientSession, settings: Settings, redis: aioredis.Redis
    ) -> DeliveryLog:
        """The log of the configured App (:class:`CredentialsMissing` without one).

        The client retries a failing call once and sleeps through short rate limits
        only: longer trouble ends the run, and the next run resumes.
        """
        app_id, private_key = app_credentials(settings)
        auth = InstallationAuth(
            app_id=app_id,
            private_key=private_key,
            api_url=settings.github_api_url,
            redis=redis,
            session=session,
        )
        client = GitHubClient(
            session, base_url=settings.github_api_url, retries=1, max_rate_limit_wait=5.0
        )
        return cls(client, auth.app_jwt)

    async def since(self, start: datetime, *, max_rows: int) -> tuple[list[Attempt], bool]:
        """Attempts delivered at or after ``start``, newest first, and whether the log
        was read that far (False: ``max_rows`` came first).
        """
        rows: list[Attempt] = []
        pages = self._client.getiter(f"{LOG_PATH}?per_page=100", jwt=self._jwt())
        async with contextlib.aclosing(pages):
            async for item in pages:
                attempt = Attempt.from_json(item)
                if attempt.delivered_at < start:
                    return rows, True
                rows.append(attempt)
                if len(rows) >= max_rows:
                    return rows, False
        return rows, True

    async def redeliver(self, delivery_id: int) -> None:
        """Ask GitHub to send one delivery again (it answers 202 and sends it)."""
        await self._client.post(
            f"{LOG_PATH}/{{delivery_id}}/attempts",
            {"delivery_id": str(delivery_id)},
            data=b"",
            jwt=self._jwt(),
        )


@dataclass(frozen=True)
class RecoverOptions:
    """One run's reach. The periodic job uses the defaults; the CLI sets them."""

    #: Read the log this far back and leave the job's mark alone (None: from the mark).
    since: timedelta | None = None
    #: At most this many redeliveries (None: the policy's ``max_per_run``).
    limit: int | None = None
    dry_run: bool = False
    #: Ask for every delivery that needs it, even while the receiver looks down.
    no_probe: bool = False

    def policy(self, base: RecoveryPolicy) -> RecoveryPolicy:
        """``base`` with this run's limit and probing."""
        limit = base.max_per_run if self.limit is None else self.limit
        probe = base.probe_when_down and not self.no_probe
        return replace(base, max_per_run=limit, probe_when_down=probe)


@dataclass
class Recovery:
    """What one run found and did."""

    start: datetime
    plan: Plan = field(default_factory=lambda: Plan(()))
    rows: int = 0
    complete: bool = True
    asked: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    stopped: str | None = None
    skipped: str | None = None
    mark: datetime | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account of the run (the task's result, the CLI's ``--json``)."""
        return {
            "since": self.start.isoformat(),
            "rows": self.rows,
            "complete": self.complete,
            "receiver_down": self.plan.receiver_down,
            "counts": self.plan.counts(),
            "redelivered": self.asked,
            "refused": self.refused,
            "stopped": self.stopped,
            "skipped": self.skipped,
            "mark": self.mark.isoformat() if self.mark else None,
        }


async def run_recover_deliveries(ctx: TaskContext, args: NoArgs) -> dict[str, Any]:
    """The periodic job (Celery beat, every ``STEWARD_RECOVER_MINUTES``)."""
    deliveries = DeliveryLog.open(ctx.session, ctx.settings, ctx.redis)
    done = await recover(ctx.redis, deliveries, ttl=ctx.settings.delivery_ttl)
    return done.summary()


async def recover(
    redis: aioredis.Redis,
    deliveries: DeliveryLog,
    *,
    ttl: int,
    options: RecoverOptions = RecoverOptions(),
    policy: RecoveryPolicy = DEFAULT_POLICY,
) -> Recovery:
    """One run (see the module's docstring); ``ttl`` is how long asks are remembered.

    A dry run only reads, so it takes no lock.
    """
    if options.dry_run:
        return await _run(
            redis, deliveries, ttl=ttl, options=options, policy=options.policy(policy)
        )
    lock = redis.lock(LOCK_KEY, timeout=LOCK_TTL, blocking=False)
    if not await lock.acquire():
        now = datetime.now(UTC)
        return Recovery(start=now, skipped="another recovery run holds the lock")
    try:
        return await _run(
            redis, deliveries, ttl=ttl, options=options, policy=options.policy(policy)
        )
    finally:
        with contextlib.suppress(LockError):
            await lock.release()


async def _run(
    redis: aioredis.Redis,
    deliveries: DeliveryLog,
    *,
    ttl: int,
    options: RecoverOptions,
    policy: RecoveryPolicy,
) -> Recovery:
    now = datetime.now(UTC)
    mark = None if options.since else await read_mark(redis)
    start = now - options.since if options.since else window_start(mark, now=now, policy=policy)
    done = Recovery(start=start)
    try:
        rows, done.complete = await deliveries.since(start, max_rows=policy.max_rows)
    except TROUBLE as exc:
        done.stopped = f"reading the delivery log: {describe(exc)}"
        log.warning("recovery stopped %s; the next run continues", done.stopped)
        return done
    done.rows = len(rows)
    if not done.complete:
        log.warning("more than %d deliveries since %s: older ones are left", len(rows), start)
    guids = sorted({row.guid for row in rows})
    got = await accepted(redis, guids)
    done.plan = plan(
        rows, accepted=got, asked=await read_asked(redis, guids), now=now, policy=policy
    )
    if options.dry_run:
        return done
    await ask_all(redis, deliveries, done, ttl=ttl, policy=policy)
    if options.since is None:
        done.mark = next_mark(done.plan, asked=[*done.asked, *done.refused], previous=mark or start)
        await redis.set(MARK_KEY, done.mark.isoformat())
    _log_run(done)
    return done


async def ask_all(
    redis: aioredis.Redis,
    deliveries: DeliveryLog,
    done: Recovery,
    *,
    ttl: int,
    policy: RecoveryPolicy,
) -> None:
    """Ask for each of the plan's redeliveries, a few per second; stop on trouble."""
    pause = 1.0 / policy.per_second if policy.per_second > 0 else 0.0
    for index, verdict in enumerate(done.plan.redeliver):
        if index:
            await asyncio.sleep(pause)
        number = verdict.asks_before + 1
        record = {
            "id": verdict.attempt.id,
            "at": datetime.now(UTC).isoformat(),
            "probe": verdict.probe,
        }
        if not await claim(redis, verdict.guid, number, record=record, ttl=ttl):
            continue  # another run asked this very time
        try:
            await deliveries.redeliver(verdict.attempt.id)
        except BadRequest as exc:
            if exc.status_code not in REFUSED:
                await redis.hdel(asked_key(verdict.guid), str(number))
                done.stopped = f"redelivering {verdict.guid}: {describe(exc)}"
                return
            done.refused[verdict.guid] = describe(exc)
            continue
        except TROUBLE as exc:
            await redis.hdel(asked_key(verdict.guid), str(number))
            done.stopped = f"redelivering {verdict.guid}: {describe(exc)}"
            return
        done.asked.append(verdict.guid)


async def claim(
    redis: aioredis.Redis, guid: str, number: int, *, record: Mapping[str, Any], ttl: int
) -> bool:
    """Claim the ``number``-th ask for ``guid`` (False: someone else made it)."""
    key = asked_key(guid)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(key, str(number), json.dumps(record))
        pipe.expire(key, ttl)
        first, _ = await pipe.execute()
    return bool(first)


async def read_asked(redis: aioredis.Redis, guids: Sequence[str]) -> dict[str, Asked]:
    """What was asked about each of ``guids`` (absent: never asked)."""
    if not guids:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for guid in guids:
            pipe.hgetall(asked_key(guid))
        found = await pipe.execute()
    asked = {}
    for guid, fields in zip(guids, found, strict=True):
        records = [json.loads(value) for _, value in sorted(fields.items(), key=_ask_number)]
        if records:
            asked[guid] = asked_from(records)
    return asked


def _ask_number(item: tuple[bytes, bytes]) -> int:
    return int(item[0])


def asked_from(records: Sequence[Mapping[str, Any]]) -> Asked:
    """Fold a delivery's ask records (oldest first) into :class:`Asked`."""
    last = records[-1]
    return Asked(
        asks=sum(1 for r in records if not r.get("probe")),
        total=len(records),
        last_id=int(last["id"]),
        last_at=datetime.fromisoformat(str(last["at"])),
    )


async def read_mark(redis: aioredis.Redis) -> datetime | None:
    """Where the last run stopped (None before the first run)."""
    raw = await redis.get(MARK_KEY)
    if not raw:
        return None
    return datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)


def describe(exc: BaseException) -> str:
    """A short account of GitHub trouble for logs and results."""
    if isinstance(exc, BadRequest):
        return f"GitHub answered {int(exc.status_code)}: {str(exc)[:120]}"
    return f"{type(exc).__name__}: {str(exc)[:160]}"


def _log_run(done: Recovery) -> None:
    counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(done.plan.counts().items()))
    log.info(
        "recovery read %d attempt(s) since %s (%s); asked GitHub to redeliver %d",
        done.rows,
        done.start.isoformat(timespec="seconds"),
        counts or "nothing",
        len(done.asked),
    )
    for verdict in done.plan.verdicts:
        if verdict.verdict == GAVE_UP:
            log.warning("delivery %s (%s) %s", verdict.guid, verdict.attempt.name, verdict.why)
    if done.stopped:
        log.warning("recovery stopped %s; the next run continues", done.stopped)
