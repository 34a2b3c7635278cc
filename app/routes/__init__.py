"""The routers moved to :mod:`core.routing` (the worker's route task runs them); these
names stay importable from here for the web process and older imports."""

from __future__ import annotations

from core.routing import Dispatch, Job, build_router

__all__ = ["Dispatch", "Job", "build_router"]
