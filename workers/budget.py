"""One GitHub request budget per installation, shared in Redis by every process.

GitHub limits each App installation: primary limits per hour (5,000 REST requests,
5,000 GraphQL points) and secondary ones (100 requests in flight; 900 REST and 2,000
GraphQL points a minute; 80 content-creating requests a minute and 500 an hour). Every
worker, on every host, asks the installation's budget before a request and tells it
what GitHub answered:

- **what GitHub said**: ``x-ratelimit-remaining``/``-reset``/``-resource`` of every
  answer (and GraphQL's ``rateLimit``) are kept per installation and resource, the
  lowest of a window winning (answers arrive out of order); a refusal (403/429 with
  ``x-ratelimit-remaining: 0``, ``retry-after``, GraphQL's ``RATE_LIMITED``) stops
  every process until GitHub's time;
- **two lanes**: interactive work (welcomes, labels, commands, reviewer requests) may
  spend the whole limit; background work (backfill, bootstrap, indexing, digests,
  retraining data) waits once the estimate falls under a reserve
  (``STEWARD_GITHUB_RESERVE``, a share of the hourly limit) until the window resets,
  and takes at most half of the requests in flight;
- **pacing**: requests in flight are capped (``STEWARD_GITHUB_CONCURRENCY``), REST and
  GraphQL points a minute and content creation a minute and an hour are paced below
  GitHub's documented rates (a token bucket each, :class:`Rate`), background work
  leaving the bucket's burst to interactive work.

The lane comes from the task, never from the request: a Celery task's lane is its
contract's (:func:`is_background`, set before the task runs by a ``task_prerun``
handler), and a flow may declare its own (:func:`lane`). Without a lane (a test calling
a flow, a one-shot CLI client) or with ``STEWARD_GITHUB_PACING=off`` nothing is paced
and only what GitHub refuses is waited out, as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from core import tasks as contracts
from workers.ratelimits import Observed, Policy, Request, graphql_query_key

if TYPE_CHECKING:
    import redis

    from core.settings import Settings

log = logging.getLogger(__name__)

#: A request's slot is given back after this long even if its process died holding it.
SLOT_SECONDS = 90.0
#: How long to wait, at most, before asking again for a slot held by others.
SLOT_POLL = 0.05

Sleep = Callable[[float], Awaitable[None]]


def is_background(task_name: str) -> bool:
    """Whether a task's GitHub requests are background work: its contract's lane
    (``core.tasks.Task.priority``); a task with no contract is interactive."""
    task = contracts.TASKS.get(task_name)
    return task is not None and task.priority == contracts.BACKGROUND


class BudgetExhausted(Exception):
    """The budget asks for a longer wait than one task should sleep."""

    def __init__(self, wait_seconds: float, reason: str) -> None:
        super().__init__(f"GitHub budget: {reason}; wait {wait_seconds:.0f}s")
        self.wait_seconds = wait_seconds
        self.reason = reason


# ------------------------------------------------------------ the Redis side

_ACQUIRE = """
local p = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local id, resource = ARGV[1], ARGV[2]
local cost, points = tonumber(ARGV[3]), tonumber(ARGV[4])
local background = ARGV[5] == '1'
local reserve, slots, ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function wait(seconds, reason) return {tostring(seconds), reason} end
for _, key in ipairs({p .. ':blocked', p .. ':blocked:' .. resource}) do
  local untl = tonumber(redis.call('GET', key) or '0')
  if untl > now then return wait(untl - now, 'GitHub asked to wait') end
end
local primary = p .. ':primary:' .. resource
local state = redis.call('HMGET', primary, 'remaining', 'reset', 'limit', 'spent')
local remaining, reset = tonumber(state[1]), tonumber(state[2])
local limit, spent = tonumber(state[3] or '0'), tonumber(state[4] or '0')
if remaining and reset and reset > now then
  if background then
    if remaining - spent - cost < math.floor(limit * reserve) then
      return wait(reset - now, 'under the interactive reserve')
    end
  elseif remaining - spent <= 0 then
    return wait(reset - now, 'the hourly limit is spent')
  end
end
local inflight = p .. ':inflight'
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
if redis.call('ZCARD', inflight) >= slots then return wait(0, 'requests in flight') end
local booked = {}
local i = 9
while ARGV[i] do
  local name, n = ARGV[i], tonumber(ARGV[i + 1])
  local interval, tolerance = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local window = tonumber(ARGV[i + 4])
  local key = p .. ':rate:' .. name
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  if tat - now > tolerance then return wait(tat - now - tolerance, name .. ' pace') end
  booked[#booked + 1] = {key, tat + n * interval, window}
  i = i + 5
end
for _, b in ipairs(booked) do
  redis.call('SET', b[1], tostring(b[2]), 'PX', math.ceil((b[2] - now + b[3]) * 1000))
end
redis.call('ZADD', inflight, now + ttl, id)
redis.call('EXPIRE', inflight, math.ceil(ttl * 2))
if remaining then redis.call('HINCRBY', primary, 'spent', cost) end
return {'0', 'ok'}
"""

_OBSERVE = """
local p = KEYS[1]
local resource, remaining, reset, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local blocked, secondary = ARGV[5], ARGV[6] == '1'
if remaining ~= '' and reset ~= '' then
  local key = p .. ':primary:' .. resource
  local r, rs = tonumber(remaining), tonumber(reset)
  local old = redis.call('HMGET', key, 'remaining', 'reset')
  local oldr, oldreset = tonumber(old[1]), tonumber(old[2])
  if not oldreset or rs > oldreset then
    redis.call('HSET', key, 'remaining', r, 'reset', rs, 'spent', 0)
  elseif rs == oldreset then
    redis.call('HSET', key, 'remaining', math.min(oldr or r, r), 'spent', 0)
  end
  if limit ~= '' then redis.call('HSET', key, 'limit', tonumber(limit)) end
  redis.call('EXPIREAT', key, math.ceil(math.max(rs, tonumber(old[2] or '0'))) + 60)
end
if blocked ~= '' then
  local key = p .. ':blocked'
  if not secondary then key = key .. ':' .. resource end
  local untl = tonumber(blocked)
  if untl > tonumber(redis.call('GET', key) or '0') then
    redis.call('SET', key, tostring(untl), 'EXAT', math.ceil(untl) + 1)
  end
end
return 1
"""


class Budget:
    """One installation's budget in Redis (see the module's docstring)."""

    #: A GraphQL query's last cost, by the query's key (estimates before it is sent).
    _costs: ClassVar[dict[str, int]] = {}

    def __init__(self, client: redis.Redis, policy: Policy) -> None:
        self.redis = client
        self.policy = policy
        self._acquire = client.register_script(_ACQUIRE)
        self._observe = client.register_script(_OBSERVE)

    @classmethod
    def of(cls, client: redis.Redis, settings: Settings) -> Budget | None:
        """The budget for these settings (None: ``STEWARD_GITHUB_PACING=off``)."""
        return cls(client, Policy.from_settings(settings)) if settings.github_pacing else None

    @staticmethod
    def key(installation: int | str) -> str:
        """The Redis prefix of an installation's budget."""
        return f"steward:budget:{installation}"

    def estimate(self, request: Request, body: bytes) -> Request:
        """The request with a GraphQL query's cost as it was last time."""
        if request.resource != "graphql":
            return request
        known = self._costs.get(graphql_query_key(body) or "")
        return (
            request if known is None else Request("graphql", known, request.points, request.content)
        )

    def try_acquire(
        self, installation: int | str, request: Request, *, background: bool, slot: str
    ) -> tuple[float, str] | None:
        """Take a slot for the request now (None), or say how long to wait and why."""
        policy = self.policy
        args: list[Any] = [
            slot,
            request.resource,
            request.cost,
            request.points,
            int(background),
            policy.reserve,
            policy.slots(background=background),
            SLOT_SECONDS,
        ]
        names = [(request.family, request.points)]
        if request.content:
            names += [("content-minute", 1), ("content-hour", 1)]
        for name, points in names:
            rate = policy.rate(name)
            args += [
                name,
                points,
                rate.interval,
                rate.tolerance(background=background),
                rate.window,
            ]
        wait, reason = self._acquire(keys=[self.key(installation)], args=args)
        seconds = float(wait)
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return None if reason == "ok" else (seconds, reason)

    async def acquire(
        self, installation: int | str, request: Request, *, background: bool, sleep: Sleep
    ) -> str:
        """Wait for a slot (at most the policy's ``max_wait`` in all) and return its id;
        :class:`BudgetExhausted` when GitHub's time is further away than that."""
        slot = uuid.uuid4().hex
        waited = 0.0
        while True:
            answer = self.try_acquire(installation, request, background=background, slot=slot)
            if answer is None:
                return slot
            seconds, reason = answer
            seconds = max(seconds, SLOT_POLL) if reason == "requests in flight" else seconds
            if waited + seconds > self.policy.max_wait:
                raise BudgetExhausted(seconds, reason)
            if seconds >= 1:
                log.info("GitHub budget of %s: %s; waiting %.1fs", installation, reason, seconds)
            await sleep(seconds)
            waited += seconds

    def release(self, installation: int | str, slot: str) -> None:
        """Give a slot back (the request was answered or failed)."""
        self.redis.zrem(f"{self.key(installation)}:inflight", slot)

    def record(self, installation: int | str, seen: Observed, body: bytes = b"") -> None:
        """Keep what an answer said of the installation's limits, for every process."""
        if seen.cost is not None and (key := graphql_query_key(body)):
            self._costs[key] = seen.cost
        if seen.remaining is None and seen.blocked_until is None:
            return
        args = [
            seen.resource,
            "" if seen.remaining is None or seen.reset is None else seen.remaining,
            "" if seen.remaining is None or seen.reset is None else seen.reset,
            "" if seen.limit is None else seen.limit,
            "" if seen.blocked_until is None else seen.blocked_until,
            int(seen.secondary),
        ]
        self._observe(keys=[self.key(installation)], args=args)


# ------------------------------------------------------------------- lanes


@dataclass(frozen=True)
class Lane:
    """The budget a task's requests go through, and whether they are background work."""

    budget: Budget
    background: bool


_lane: contextvars.ContextVar[Lane | None] = contextvars.ContextVar(
    "steward_github_lane", default=None
)


def current() -> Lane | None:
    """The lane of the running task (None: not paced)."""
    return _lane.get()


@contextlib.contextmanager
def lane(client: redis.Redis, settings: Settings, *, background: bool) -> Iterator[Lane | None]:
    """Run the block's GitHub requests in this lane of the installation's budget (a flow
    that declares its own work, e.g. the bootstrap: background)."""
    budget = Budget.of(client, settings)
    token = _lane.set(Lane(budget, background) if budget else None)
    try:
        yield _lane.get()
    finally:
        _lane.reset(token)


def _task_started(sender: Any = None, task: Any = None, **_: Any) -> None:
    """Celery's ``task_prerun``: the task's lane, from its contract, for its requests."""
    from workers.runtime import get_runtime

    runtime = get_runtime()
    budget = Budget.of(runtime.redis, runtime.settings)
    name = str(getattr(task, "name", "") or getattr(sender, "name", "") or "")
    _lane.set(Lane(budget, is_background(name)) if budget else None)


def _task_ended(**_: Any) -> None:
    """Celery's ``task_postrun``: no lane until the next task."""
    _lane.set(None)


def connect_celery() -> None:
    """Give every Celery task of this process its lane (once; safe to call again)."""
    from celery import signals

    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="steward-budget-lane")
    signals.task_postrun.connect(_task_ended, weak=False, dispatch_uid="steward-budget-end")


@contextlib.asynccontextmanager
async def paced(
    installation: int | str, request: Request, body: bytes, *, sleep: Sleep
) -> AsyncIterator[Lane | None]:
    """Hold a slot of the current lane's budget around one request (nothing without a
    lane); :class:`BudgetExhausted` when the wait is longer than the policy allows."""
    active = current()
    if active is None:
        yield None
        return
    estimated = active.budget.estimate(request, body)
    slot = await active.budget.acquire(
        installation, estimated, background=active.background, sleep=sleep
    )
    try:
        yield active
    finally:
        active.budget.release(installation, slot)


# Every Celery task of a worker process gets its lane: the worker imports this module
# (through the GitHub client) before it runs a task; connecting again changes nothing.
with contextlib.suppress(ImportError):
    connect_celery()
