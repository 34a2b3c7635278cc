"""Event routing: one gidgethub ``Router`` per feature module, composed here.

Handlers only decide which task to queue with which ids (:class:`Dispatch`); the work
happens in ``workers/``. Routing is pure, so it runs wherever a delivery is turned into
jobs: the worker's route task (``workers/routing.py``), or a receiver that hands jobs
to another sender (:mod:`core.routing.intake`).
"""

from __future__ import annotations

from gidgethub.routing import Router

from core.routing import (
    commands,
    duplicates,
    feedback,
    followup,
    installations,
    matching,
    reviewers,
    triage,
    welcome,
)
from core.routing.dispatch import Dispatch, Job

__all__ = ["Dispatch", "Job", "build_router"]


def build_router() -> Router:
    """Every feature's routes in one router."""
    return Router(
        installations.router,
        welcome.router,
        triage.router,
        reviewers.router,
        matching.router,
        feedback.router,
        commands.router,
        followup.router,
        duplicates.router,
    )
