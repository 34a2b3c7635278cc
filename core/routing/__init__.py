"""Event routing: one gidgethub ``Router`` per feature module, composed here.

Handlers run in the web process and only decide which task to queue with which ids;
the work happens in ``workers/``.
"""

from __future__ import annotations

from gidgethub.routing import Router

from app.routes import (
    commands,
    feedback,
    followup,
    installations,
    matching,
    reviewers,
    triage,
    welcome,
)
from app.routes.dispatch import Dispatch, Job

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
    )
