"""Rate limits and injected faults in the fake GitHub: the limiter and its counters,
``GET /rate_limit``, and canned failures (server errors, primary and secondary rate
limits, dropped connections) for the next matching requests.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from fakegithub import serialize as ser
from fakegithub.fake_core import FakeCore
from fakegithub.http import Fault
from fakegithub.limits import Limiter, Limits
from fakegithub.state import Installation

#: The rate-limit resources the fake counts (``core`` and ``graphql`` per hour, ``search``
#: per minute; see :mod:`fakegithub.limits`).
RATE_RESOURCES = ("core", "search", "graphql")

_SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID."
)


class LimitsAndFaults(FakeCore):
    """The rate limiter, rate-limit rendering and fault injection."""

    # ------------------------------------------------------------- rate limits

    def _limiter(self, limits: Limits | None) -> Limiter:
        return Limiter(
            limits or Limits(), enforce=limits is not None, now=self.now, wall=self.wall_epoch
        )

    @contextlib.contextmanager
    def limits_enforced(self, limits: Limits | None = None) -> Iterator[Limiter]:
        """Enforce GitHub's rate limits (``limits``, GitHub's by default) from a fresh
        count until the block ends, then go back to the fake's earlier limiter (for a
        test on the session's shared fake)."""
        before = self.limiter
        self.limiter = self._limiter(limits or Limits())
        try:
            yield self.limiter
        finally:
            self.limiter = before

    def rate_limit_json(self, installation: Installation | None) -> dict[str, Any]:
        """Render ``GET /rate_limit`` from the fake's counters."""
        resources = {name: self.rate_status(installation, name) for name in RATE_RESOURCES}
        return {"resources": resources, "rate": resources["core"]}

    def rate_status(self, installation: Installation | None, resource: str) -> dict[str, Any]:
        """``limit/remaining/reset/used`` of one rate-limit bucket."""
        return self.limiter.status(_bucket(installation), resource)

    # -------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 500,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` requests whose path matches ``path_pattern`` (a
        regex searched in the path; method ``*`` = any) with a canned response.
        """
        fault = Fault(
            method,
            re.compile(path_pattern),
            status,
            dict(headers or {}),
            body if body is not None else ser.error("Server Error", status),
            times,
        )
        self.faults.append(fault)
        return fault

    def rate_limit_next(
        self, method: str, path_pattern: str, *, reset_in: int = 60, times: int = 1
    ) -> Fault:
        """Simulate GitHub's primary rate limit (403, ``x-ratelimit-remaining: 0``)."""
        reset = int(self.now().timestamp()) + reset_in
        headers = {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-limit": "5000",
            "x-ratelimit-used": "5000",
        }
        body = ser.error("API rate limit exceeded for installation.", 403)
        return self.fail_next(
            method, path_pattern, status=403, headers=headers, body=body, times=times
        )

    def secondary_rate_limit_next(
        self,
        method: str,
        path_pattern: str,
        *,
        retry_after: int = 1,
        status: int = 403,
        times: int = 1,
    ) -> Fault:
        """Simulate a secondary rate limit (403 or 429 with ``retry-after``)."""
        return self.fail_next(
            method,
            path_pattern,
            status=status,
            headers={"retry-after": str(retry_after)},
            body=ser.error(_SECONDARY_MESSAGE, status),
            times=times,
        )

    def drop_connection_next(self, method: str, path_pattern: str, *, times: int = 1) -> Fault:
        """Close the connection without answering the next matching requests."""
        fault = Fault(method, re.compile(path_pattern), times=times, drop_connection=True)
        self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, consuming one use of it."""
        for fault in self.faults:
            if fault.times > 0 and fault.matches(method, path):
                fault.times -= 1
                return fault
        return None


def _bucket(installation: Installation | None) -> str:
    return f"installation:{installation.id}" if installation else "anonymous"
