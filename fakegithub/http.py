"""Small HTTP-level types shared by the fake's server and handlers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class HTTPError(Exception):
    """Raised by a handler to answer with a GitHub-style error body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def not_found() -> HTTPError:
    """GitHub's 404 (also what it answers for repositories a token may not see)."""
    return HTTPError(404, "Not Found")


@dataclass
class Reply:
    """What a handler answers: status, JSON payload and extra headers."""

    payload: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    """One request as the fake saw it (``Authorization`` left out on purpose)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    operation_id: str | None = None
    status: int = 0


@dataclass
class Fault:
    """A canned answer for the next ``times`` requests matching method and path."""

    method: str
    path_pattern: re.Pattern[str]
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    times: int = 1
    drop_connection: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies (``*`` matches every method)."""
        method_ok = self.method == "*" or self.method.upper() == method
        return method_ok and self.path_pattern.search(path) is not None
