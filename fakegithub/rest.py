"""REST handlers of the fake GitHub, one per OpenAPI ``operationId``.

The server has already resolved the operation, checked the contract and the
credentials; a handler reads and changes state and returns a :class:`Reply`.

This module is where the server finds them: :data:`HANDLERS`, filled by the
:func:`handles` decorator of :mod:`fakegithub.rest_context` as the handler modules
below are imported, one per resource area.
A new endpoint's handler goes in the module of its area, or in a new
``rest_*`` module added to :data:`HANDLER_MODULES`.
"""

from __future__ import annotations

from fakegithub import (
    rest_apps,
    rest_comments,
    rest_issues,
    rest_labels,
    rest_pulls,
    rest_repos,
)
from fakegithub.rest_context import HANDLERS, Context, Handler, handles

__all__ = ["HANDLERS", "HANDLER_MODULES", "Context", "Handler", "handles"]

#: The modules whose handlers register themselves with :func:`handles` on import.
HANDLER_MODULES = (rest_apps, rest_repos, rest_issues, rest_comments, rest_labels, rest_pulls)
