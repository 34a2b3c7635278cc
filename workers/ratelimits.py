"""What GitHub's answers say of an installation's rate limits, and how fast to go
(pure functions; the shared budget in Redis is :mod:`workers.budget`).

- :func:`classify`: what a request spends (its resource, secondary points, whether it
  creates content);
- :func:`observe`: an answer's ``x-ratelimit-*`` headers, GraphQL's ``rateLimit`` and a
  refusal (403/429 with ``retry-after`` or ``x-ratelimit-remaining: 0``, GraphQL's
  ``RATE_LIMITED``);
- :class:`Rate`: a token bucket that keeps every window under one of GitHub's
  documented secondary limits; :class:`Policy`: the budget's settings.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings

#: Pace this share of each documented secondary limit (clock skew and requests still
#: in transit eat the rest).
MARGIN = 0.9
#: GitHub's documented secondary limits: (limit, window in seconds, most points of one
#: request).
SECONDARY = {
    "rest": (900, 60.0, 5),
    "graphql": (2000, 60.0, 5),
    "content-minute": (80, 60.0, 1),
    "content-hour": (500, 3600.0, 1),
}
#: GitHub's advice for a secondary limit that names no time: at least a minute.
SECONDARY_DEFAULT_WAIT = 60.0
# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """What one request spends: its primary resource and expected cost, its secondary
    points (a read 1, a write or a mutation 5), whether it creates content."""

    resource: str
    cost: int = 1
    points: int = 1
    content: bool = False

    @property
    def family(self) -> str:
        """The secondary points it counts in: ``rest`` or ``graphql``."""
        return "graphql" if self.resource == "graphql" else "rest"


def classify(method: str, url: str, body: bytes) -> Request:
    """The :class:`Request` of a call (a GraphQL call's cost is estimated later)."""
    path = url.split("?", 1)[0]
    if path.endswith("/graphql"):
        mutation = graphql_operation(body) == "mutation"
        return Request("graphql", 1, 5 if mutation else 1, content=mutation)
    resource = "search" if "/search/" in path else "core"
    write = method.upper() not in ("GET", "HEAD", "OPTIONS")
    return Request(
        resource, 1, 5 if write else 1, content=method.upper() in ("POST", "PATCH", "PUT")
    )


def graphql_operation(body: bytes) -> str:
    """``query`` or ``mutation``: the kind of a GraphQL request body."""
    try:
        text = str(json.loads(body or b"{}").get("query") or "")
    except (ValueError, AttributeError):
        return "query"
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return "mutation" if " ".join(lines).lstrip().startswith("mutation") else "query"


def graphql_query_key(body: bytes) -> str | None:
    """A short key of a GraphQL query's text (its cost is remembered by it)."""
    try:
        text = str(json.loads(body or b"{}").get("query") or "")
    except (ValueError, AttributeError):
        return None
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16] if text else None


@dataclass(frozen=True)
class Observed:
    """What one answer says of the installation's limits."""

    resource: str
    remaining: int | None = None
    reset: float | None = None
    limit: int | None = None
    #: GitHub refused: every request waits until this wall-clock time (epoch seconds).
    blocked_until: float | None = None
    #: The refusal was a secondary limit (it stops every resource).
    secondary: bool = False
    #: A GraphQL query's cost, from ``rateLimit``.
    cost: int | None = None


def observe(
    request: Request, status: int, headers: Mapping[str, str], *, body: bytes, now: float
) -> Observed:
    """Read an answer's ``x-ratelimit-*`` headers, GraphQL's ``rateLimit`` and any refusal
    (pure: ``now`` is the wall clock in epoch seconds)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    resource = lowered.get("x-ratelimit-resource") or request.resource
    remaining = _int(lowered.get("x-ratelimit-remaining"))
    reset = _float(lowered.get("x-ratelimit-reset"))
    limit = _int(lowered.get("x-ratelimit-limit"))
    rate = graphql_rate(body) if request.resource == "graphql" else {}
    if rate:
        remaining = rate.get("remaining", remaining)
        reset = rate.get("reset", reset)
        limit = rate.get("limit", limit)
    blocked, secondary = refusal_wait(status, lowered, body, now=now)
    return Observed(
        resource,
        remaining,
        reset,
        limit,
        None if blocked is None else now + blocked,
        secondary,
        rate.get("cost"),
    )


def refusal_wait(
    status: int, headers: Mapping[str, str], body: bytes, *, now: float
) -> tuple[float | None, bool]:
    """``(seconds to wait, secondary?)`` when an answer is a rate-limit refusal, else
    ``(None, False)``; GitHub's order: ``retry-after``, then ``x-ratelimit-remaining: 0``
    until ``x-ratelimit-reset``, then a minute for a secondary limit."""
    limited = graphql_rate_limited(status, body)
    if status not in (403, 429) and not limited:
        return None, False
    lowered = {k.lower(): v for k, v in headers.items()}
    secondary = b"secondary rate limit" in body.lower() or b"abuse detection" in body.lower()
    retry_after = (lowered.get("retry-after") or "").strip()
    if retry_after.isdigit():
        return float(retry_after), secondary or not limited
    reset = _float(lowered.get("x-ratelimit-reset"))
    if (limited or lowered.get("x-ratelimit-remaining") == "0") and reset is not None:
        return max(0.0, reset - now) + 1.0, False
    if secondary or status == 429:
        return SECONDARY_DEFAULT_WAIT, True
    return (SECONDARY_DEFAULT_WAIT, False) if limited else (None, False)


def graphql_rate_limited(status: int, body: bytes) -> bool:
    """Whether a GraphQL answer is GitHub's ``RATE_LIMITED`` error (HTTP 200)."""
    if status != 200 or b"RATE_LIMIT" not in body:
        return False
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return False
    return any(
        isinstance(e, dict) and str(e.get("type")) in ("RATE_LIMITED", "RATE_LIMIT") for e in errors
    )


def graphql_rate(body: bytes) -> dict[str, Any]:
    """``cost``/``remaining``/``limit``/``reset`` (epoch seconds) of ``data.rateLimit``."""
    if b'"rateLimit"' not in body:
        return {}
    try:
        rate = (json.loads(body).get("data") or {}).get("rateLimit") or {}
    except (ValueError, AttributeError):
        return {}
    found: dict[str, Any] = {}
    for name in ("cost", "remaining", "limit"):
        if isinstance(rate.get(name), int):
            found[name] = rate[name]
    if isinstance(rate.get("resetAt"), str):
        moment = datetime.fromisoformat(rate["resetAt"].replace("Z", "+00:00"))
        found["reset"] = moment.timestamp()
    return found


def _int(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.strip().isdigit() else None


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


# ------------------------------------------------------------------ pacing


@dataclass(frozen=True)
class Rate:
    """A token bucket (GCRA) that keeps any ``window`` under ``limit`` points: one point
    every ``interval`` seconds, a burst of ``burst`` points; background requests may use
    only half of the burst."""

    interval: float
    burst: float
    window: float

    @classmethod
    def paced(cls, limit: int, window: float, *, largest: int, speed: float = 1.0) -> Rate:
        """The bucket for GitHub's ``limit`` per ``window`` (GitHub seconds), below it by
        :data:`MARGIN`; ``largest`` is the most points one request takes; ``speed`` is
        GitHub's seconds per second here."""
        allowed = math.floor(limit * MARGIN)
        burst = max(1, allowed // 10)
        seconds = window / speed
        return cls(seconds / max(1, allowed - burst - largest), float(burst), seconds)

    def tolerance(self, *, background: bool) -> float:
        """How far ahead of now the bucket may be booked for this lane."""
        return self.burst * self.interval * (0.5 if background else 1.0)


@dataclass(frozen=True)
class Policy:
    """The budget's settings: reserve, slots, GitHub's clock speed, longest wait."""

    reserve: float = 0.2
    concurrency: int = 20
    speed: float = 1.0
    max_wait: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """From ``STEWARD_GITHUB_*`` and the settings' longest rate-limit wait."""
        return cls(
            reserve=settings.github_reserve,
            concurrency=settings.github_concurrency,
            speed=settings.github_clock_speed,
            max_wait=settings.max_rate_limit_wait,
        )

    def rate(self, name: str) -> Rate:
        """The bucket of one secondary limit (``rest``, ``graphql``, ``content-*``)."""
        limit, window, largest = SECONDARY[name]
        return Rate.paced(limit, window, largest=largest, speed=self.speed)

    def slots(self, *, background: bool) -> int:
        """Requests in flight this lane may find before it waits."""
        return max(1, self.concurrency // 2) if background else self.concurrency
