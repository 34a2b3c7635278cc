"""GitHub's rate limits, enforced by the fake when a test or a benchmark asks for them.

GitHub limits each App installation (docs: "Rate limits for the REST API", "Rate limits
and query limits for the GraphQL API"):

- **primary**, per hour: 5,000 REST requests (``core``), 5,000 GraphQL points (a
  query's points: the requests its connections need, divided by 100, at least 1), 30
  searches a minute. Refused with 403 (or 429), ``x-ratelimit-remaining: 0`` and the
  window's ``x-ratelimit-reset``; GraphQL answers 200 with a ``RATE_LIMITED`` error;
- **secondary**: at most 100 requests in flight; 900 REST points a minute (a read 1, a
  write 5) and 2,000 GraphQL points a minute (a query 1, a mutation 5); content creation
  (a ``POST``/``PATCH``/``PUT``, a mutation) 80 a minute and 500 an hour. Refused with
  403 (or 429), GitHub's message and ``retry-after``.

:class:`Limiter` counts every request either way (the ``x-ratelimit-*`` headers come
from it) and refuses only when ``enforce`` is on: ``FakeGitHub(limits=Limits())`` turns
it on, the default leaves it off so tests that do not ask see no refusal.

Time is the fake's clock (``FakeGitHub.now``). :class:`FastClock` makes it run faster
than the wall clock, so a benchmark lives through GitHub hours in seconds; the times the
fake answers with (``x-ratelimit-reset``, ``retry-after``, ``rateLimit.resetAt``) are
converted back to the wall clock, so a client needs to know nothing about the speed.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
PRIMARY_DOCS = f"{DOCS}#about-primary-rate-limits"
SECONDARY_DOCS = f"{DOCS}#about-secondary-rate-limits"
#: GitHub's message when an installation's primary limit is spent (REST and GraphQL).
PRIMARY_MESSAGE = "API rate limit exceeded for installation ID {installation}."
#: GitHub's message for every secondary limit.
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "{request_id}."
)
#: A GraphQL query may ask for at most this many nodes.
MAX_NODES = 500_000
HOUR = 3600.0
MINUTE = 60.0


@dataclass(frozen=True)
class Limits:
    """GitHub's documented limits per installation (override any for a test)."""

    core_per_hour: int = 5000
    graphql_points_per_hour: int = 5000
    search_per_minute: int = 30
    concurrent: int = 100
    rest_points_per_minute: int = 900
    graphql_points_per_minute: int = 2000
    content_per_minute: int = 80
    content_per_hour: int = 500
    #: The status of a refusal: GitHub sends 403 or 429 for either kind.
    primary_status: int = 403
    secondary_status: int = 403

    def per_hour(self, resource: str) -> int:
        """The primary limit of ``core``, ``graphql`` or ``search`` (a minute for search)."""
        return {
            "core": self.core_per_hour,
            "graphql": self.graphql_points_per_hour,
            "search": self.search_per_minute,
        }[resource]


class FastClock:
    """A clock that runs ``speed`` times faster than the wall clock from ``start`` (now
    by default): at 360, an hour passes in ten seconds.
    """

    def __init__(self, speed: float = 1.0, *, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._wall0 = time.time()
        self._mono0 = time.monotonic()
        self._start = start or datetime.fromtimestamp(self._wall0, UTC)

    def __call__(self) -> datetime:
        elapsed = (time.monotonic() - self._mono0) * self.speed
        return self._start + timedelta(seconds=elapsed)

    def wall(self, moment: datetime) -> float:
        """Wall-clock epoch seconds at which this clock shows ``moment``."""
        return self._wall0 + (moment - self._start).total_seconds() / self.speed

    def hours_since_start(self) -> float:
        """How many hours this clock has lived through."""
        return (self() - self._start).total_seconds() / HOUR


@dataclass(frozen=True)
class Charge:
    """What one request costs: its primary resource and points, its secondary points,
    and whether it creates content."""

    resource: str
    cost: int = 1
    points: int = 1
    graphql: bool = False
    content: bool = False


def rest_charge(method: str, path: str) -> Charge:
    """The charge of a REST request: ``search`` or ``core``; a write is 5 points and
    (``POST``/``PATCH``/``PUT``) creates content."""
    resource = "search" if path.startswith("/search/") else "core"
    write = method not in ("GET", "HEAD", "OPTIONS")
    return Charge(resource, 1, 5 if write else 1, content=method in ("POST", "PATCH", "PUT"))


def graphql_charge(cost: int, *, mutation: bool) -> Charge:
    """The charge of a GraphQL request of ``cost`` points (a mutation creates content)."""
    return Charge("graphql", cost, 5 if mutation else 1, graphql=True, content=mutation)


@dataclass(frozen=True)
class Refusal:
    """A request the limits refused: how GitHub answers it."""

    kind: str  # "primary" | "secondary"
    reason: str  # core | graphql | search | concurrency | rest-points | ... | content-hour
    status: int
    message: str
    headers: dict[str, str]
    graphql: bool
    at: datetime

    def payload(self) -> dict[str, Any]:
        """The answer's JSON: a REST ``basic-error`` or GraphQL's ``RATE_LIMITED``."""
        if self.graphql and self.kind == "primary":
            return {
                "errors": [
                    {"type": "RATE_LIMITED", "code": "graphql_rate_limit", "message": self.message}
                ]
            }
        docs = PRIMARY_DOCS if self.kind == "primary" else SECONDARY_DOCS
        return {"message": self.message, "documentation_url": docs, "status": str(self.status)}

    @property
    def http_status(self) -> int:
        """200 for a GraphQL primary refusal (the error is in the body), else the status."""
        return 200 if self.graphql and self.kind == "primary" else self.status


@dataclass
class Window:
    """One primary window: when it started and what it used."""

    start: datetime | None = None
    used: int = 0


@dataclass
class Usage:
    """What one installation (or the anonymous caller) has used."""

    windows: dict[str, Window] = field(default_factory=dict)
    inflight: int = 0
    rest_points: deque[tuple[datetime, int]] = field(default_factory=deque)
    graphql_points: deque[tuple[datetime, int]] = field(default_factory=deque)
    content: deque[datetime] = field(default_factory=deque)


class Limiter:
    """Counts requests per installation and, when ``enforce`` is on, refuses them as
    GitHub does."""

    def __init__(
        self,
        limits: Limits,
        *,
        enforce: bool,
        now: Callable[[], datetime],
        wall: Callable[[datetime], float],
    ) -> None:
        self.limits = limits
        self.enforce = enforce
        self._now = now
        self._wall = wall
        self.usage: dict[str, Usage] = {}
        #: Every refusal, oldest first (tests and benchmarks count them).
        self.refusals: list[Refusal] = []
        #: The most requests ever in flight for one installation.
        self.peak_inflight = 0

    def _of(self, who: str) -> Usage:
        return self.usage.setdefault(who, Usage())

    # ------------------------------------------------------------- in flight

    def enter(self, who: str) -> bool:
        """A request of ``who`` started; whether it found too many in flight already."""
        usage = self._of(who)
        usage.inflight += 1
        self.peak_inflight = max(self.peak_inflight, usage.inflight)
        return usage.inflight > self.limits.concurrent

    def leave(self, who: str) -> None:
        """A request of ``who`` was answered."""
        self._of(who).inflight -= 1

    # --------------------------------------------------------------- windows

    def window(self, who: str, resource: str) -> Window:
        """The current primary window of ``resource`` (a fresh one once it is over)."""
        usage = self._of(who)
        current = usage.windows.setdefault(resource, Window())
        length = MINUTE if resource == "search" else HOUR
        now = self._now()
        if current.start is None or (now - current.start).total_seconds() >= length:
            current.start, current.used = now, 0
        return current

    def status(self, who: str, resource: str) -> dict[str, Any]:
        """``limit/remaining/reset/used/resource`` of one primary window (``reset`` in
        wall-clock epoch seconds). A fake that does not enforce the limits says the whole
        hour remains: a client that paces on these headers (the bot's budget does) must
        not be held back by a count the fake would never refuse on (a test session's
        shared fake passes 5,000 requests of one installation within the hour)."""
        limit = self.limits.per_hour(resource)
        current = self.window(who, resource)
        length = MINUTE if resource == "search" else HOUR
        assert current.start is not None
        reset = self._wall(current.start + timedelta(seconds=length))
        return {
            "limit": limit,
            "remaining": max(0, limit - current.used) if self.enforce else limit,
            "reset": math.ceil(reset),
            "used": current.used,
            "resource": resource,
        }

    def refund(self, who: str, resource: str) -> None:
        """Give back one request (GitHub does not count a ``304 Not Modified``)."""
        current = self.window(who, resource)
        current.used = max(0, current.used - 1)

    # ---------------------------------------------------------------- admit

    def admit(
        self, who: str, charge: Charge, *, label: str, crowded: bool = False
    ) -> Refusal | None:
        """Count the request, or (enforcing) refuse it; ``label`` names the caller in
        GitHub's message (an installation id), ``crowded`` says it came while too many
        of the caller's requests were in flight (:meth:`enter`)."""
        refusal = self._check(who, charge, label=label, crowded=crowded) if self.enforce else None
        if refusal is not None:
            self.refusals.append(refusal)
            return refusal
        self._record(who, charge)
        return None

    def _check(self, who: str, charge: Charge, *, label: str, crowded: bool) -> Refusal | None:
        usage = self._of(who)
        now = self._now()
        if crowded:
            return self._secondary("concurrency", charge, now, wait=1.0)
        current = self.window(who, charge.resource)
        if current.used + (charge.cost if charge.graphql else 1) > self.limits.per_hour(
            charge.resource
        ):
            return self._primary(who, charge, label=label, now=now)
        return self._check_minutes(usage, charge, now)

    def _check_minutes(self, usage: Usage, charge: Charge, now: datetime) -> Refusal | None:
        points = usage.graphql_points if charge.graphql else usage.rest_points
        limit = (
            self.limits.graphql_points_per_minute
            if charge.graphql
            else self.limits.rest_points_per_minute
        )
        spent = _sum_since(points, now - timedelta(seconds=MINUTE))
        if spent + charge.points > limit:
            reason = "graphql-points" if charge.graphql else "rest-points"
            return self._secondary(reason, charge, now, wait=_free_in(points, now, MINUTE))
        if not charge.content:
            return None
        for reason, limit, length in (
            ("content-minute", self.limits.content_per_minute, MINUTE),
            ("content-hour", self.limits.content_per_hour, HOUR),
        ):
            recent = [t for t in usage.content if (now - t).total_seconds() < length]
            if len(recent) >= limit:
                wait = length - (now - recent[0]).total_seconds()
                return self._secondary(reason, charge, now, wait=wait)
        return None

    def _record(self, who: str, charge: Charge) -> None:
        usage = self._of(who)
        now = self._now()
        self.window(who, charge.resource).used += charge.cost if charge.graphql else 1
        (usage.graphql_points if charge.graphql else usage.rest_points).append((now, charge.points))
        _forget_before(usage.rest_points, now - timedelta(seconds=MINUTE))
        _forget_before(usage.graphql_points, now - timedelta(seconds=MINUTE))
        if charge.content:
            usage.content.append(now)
            while usage.content and (now - usage.content[0]).total_seconds() >= HOUR:
                usage.content.popleft()

    def _primary(self, who: str, charge: Charge, *, label: str, now: datetime) -> Refusal:
        status = self.status(who, charge.resource)
        headers = {
            "x-ratelimit-limit": str(status["limit"]),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(status["reset"]),
            "x-ratelimit-used": str(status["used"]),
            "x-ratelimit-resource": charge.resource,
        }
        message = PRIMARY_MESSAGE.format(installation=label)
        return Refusal(
            "primary",
            charge.resource,
            self.limits.primary_status,
            message,
            headers,
            charge.graphql,
            now,
        )

    def _secondary(self, reason: str, charge: Charge, now: datetime, *, wait: float) -> Refusal:
        # ``retry-after`` in wall-clock seconds (whole, at least 1), like GitHub's.
        later = now + timedelta(seconds=max(wait, 0.0))
        seconds = max(1, math.ceil(self._wall(later) - self._wall(now)))
        request_id = f"FAKE:{int(self._wall(now) * 1000):X}"
        return Refusal(
            "secondary",
            reason,
            self.limits.secondary_status,
            SECONDARY_MESSAGE.format(request_id=request_id),
            {"retry-after": str(seconds)},
            charge.graphql,
            now,
        )

    def counts(self) -> dict[str, int]:
        """Refusals by kind and reason (``primary``, ``secondary``, ``secondary:content-hour``…)."""
        found: dict[str, int] = {"primary": 0, "secondary": 0}
        for refusal in self.refusals:
            found[refusal.kind] += 1
            key = f"{refusal.kind}:{refusal.reason}"
            found[key] = found.get(key, 0) + 1
        return found


def _sum_since(points: Iterable[tuple[datetime, int]], since: datetime) -> int:
    return sum(n for moment, n in points if moment > since)


def _free_in(points: deque[tuple[datetime, int]], now: datetime, length: float) -> float:
    """Seconds until the oldest counted points leave the window."""
    if not points:
        return 1.0
    return max(1.0, length - (now - points[0][0]).total_seconds())


def _forget_before(points: deque[tuple[datetime, int]], since: datetime) -> None:
    while points and points[0][0] <= since:
        points.popleft()


# ------------------------------------------------------------- GraphQL cost


def query_cost(
    document: DocumentNode, variables: Mapping[str, Any] | None, operation: str | None = None
) -> tuple[int, int]:
    """``(points, nodes)`` of a GraphQL request, by GitHub's rule: each connection
    (a field with ``first`` or ``last``) needs one request per parent node, all
    assumed full; the requests divided by 100 and rounded are the points (at least 1);
    the nodes are the connections' sizes multiplied down the tree.
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    chosen = [
        d
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
        and (operation is None or (d.name is not None and d.name.value == operation))
    ]
    if not chosen:
        return 1, 0
    tally = {"requests": 0, "nodes": 0}
    _walk(chosen[0].selection_set, 1, tally, fragments, dict(variables or {}))
    points = max(1, math.floor(tally["requests"] / 100 + 0.5))
    return points, tally["nodes"]


def is_mutation(document: DocumentNode) -> bool:
    """Whether the request's operation is a mutation."""
    return any(
        isinstance(d, OperationDefinitionNode) and d.operation.value == "mutation"
        for d in document.definitions
    )


def _walk(
    selections: SelectionSetNode | None,
    multiplier: int,
    tally: dict[str, int],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> None:
    for node in selections.selections if selections else ():
        if isinstance(node, FragmentSpreadNode):
            found = fragments.get(node.name.value)
            if found is not None:
                _walk(found.selection_set, multiplier, tally, fragments, variables)
        elif isinstance(node, InlineFragmentNode):
            _walk(node.selection_set, multiplier, tally, fragments, variables)
        elif isinstance(node, FieldNode):
            size = _page_size(node, variables)
            inner = multiplier
            if size is not None:
                tally["requests"] += multiplier
                tally["nodes"] += multiplier * size
                inner = multiplier * size
            _walk(node.selection_set, inner, tally, fragments, variables)


def _page_size(node: FieldNode, variables: Mapping[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value not in ("first", "last"):
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            found = variables.get(value.name.value)
            return int(found) if isinstance(found, int) else None
    return None
