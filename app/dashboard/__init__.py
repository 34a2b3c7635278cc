"""The maintainers' dashboard: sign in with GitHub, then per repository what Steward
does (triage), how fast people get an answer (response) and who carries the work
(people). Server-rendered HTML with inline SVG plots; the session is kept in the store
and named by a signed cookie.
"""

from __future__ import annotations

from app.dashboard.routes import add_dashboard_notice, add_dashboard_routes

__all__ = ["add_dashboard_notice", "add_dashboard_routes"]
