"""The store, one module per concern: each declares its tables on the shared
:data:`core.stores.base.metadata` and a class of queries over them.

Every concern is imported here, so whichever module is imported first, ``metadata``
holds every table (Alembic's autogenerate and the migrations test compare against it).
:class:`core.store.Store` composes the classes; callers import from :mod:`core.store`.
"""

from core.stores import (
    audit,
    duplicates,
    feedback,
    gates,
    history,
    installs,
    matching,
    model_versions,
    responses,
    reviews,
    sessions,
    vectors,
)

__all__ = [
    "audit",
    "duplicates",
    "feedback",
    "gates",
    "history",
    "installs",
    "matching",
    "model_versions",
    "responses",
    "reviews",
    "sessions",
    "vectors",
]
