"""Moved to :mod:`core.routing.commands`; ``body_digest`` stays importable from here."""

from __future__ import annotations

from core.routing.commands import body_digest

__all__ = ["body_digest"]
