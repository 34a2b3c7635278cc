"""Structured logging: JSON or pretty lines, delivery context, and secret redaction.

Context (delivery id, installation, repo, number) lives in a contextvar so every log
line inside a request or task carries it without passing it around.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("steward_log_context")

#: Values that must never reach a log: tokens, JWTs, PEM keys, signatures.
_SECRET_PATTERNS = (
    re.compile(r"gh[pousr]_[A-Za-z0-9_]{10,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"sha256=[0-9a-f]{64}"),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(token|bearer)\s+\S+"),
)
_extra_secrets: list[str] = []


def register_secret(value: str | None) -> None:
    """Redact this exact value (e.g. the webhook secret) from every later log line."""
    if value and len(value) >= 4 and value not in _extra_secrets:
        _extra_secrets.append(value)


def redact(text: str) -> str:
    """Replace anything that looks like a credential with ``[redacted]``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    for secret in _extra_secrets:
        text = text.replace(secret, "[redacted]")
    return text


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (delivery, installation, repo, number) to log lines inside the block."""
    current = _context.get({})
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    """The fields that the enclosing :func:`log_context` blocks set."""
    return dict(_context.get({}))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "name": record.name,
            "msg": record.getMessage(),
        }
        payload.update(getattr(record, "ctx", {}))
        if record.exc_info:
            payload["err"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


class _PrettyFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = getattr(record, "ctx", {})
        extras = " ".join(f"{k}={v}" for k, v in ctx.items())
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.ctx = {**current_context(), **getattr(record, "ctx", {})}
        return True


_LEVELS = {"trace": logging.DEBUG, "warn": logging.WARNING, "fatal": logging.CRITICAL}


def configure_logging(level: str = "info", fmt: str = "pretty") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _PrettyFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_steward", False):
            root.removeHandler(old)
    handler._steward = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, getattr(logging, level.upper(), logging.INFO)))
    for noisy in ("aiohttp.access", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Alembic's eight lines at every start say nothing unless something is being debugged.
    debugging = root.level <= logging.DEBUG
    logging.getLogger("alembic").setLevel(logging.DEBUG if debugging else logging.WARNING)
