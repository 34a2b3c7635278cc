"""Each repository's matching settings (``matching_choices``): the reviewer and people
rankers' choice made by replaying the repository's own history
(``models.reviewers.calibrate.MatchingChoice`` as JSON), and the ``reviewers.load``
setting the bot last ran with, so ``steward status`` can say where the discount in use
came from without asking GitHub.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, Text, insert, select, update

from core.stores.base import StoreBase, as_utc, metadata, now_utc

matching_choices = Table(
    "matching_choices",
    metadata,
    Column("repo", String(255), primary_key=True),
    # ``MatchingChoice.to_json()``; NULL until the first choice (a row may hold only
    # the ``config_load`` the bot saw).
    Column("choice", Text, nullable=True),
    Column("n_changes", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("chosen_at", DateTime(timezone=True), nullable=True),
    # ``reviewers.load`` as the bot last read it from the repository's configuration
    # (NULL: not set), and when.
    Column("config_load", JSON, nullable=True),
    Column("config_seen_at", DateTime(timezone=True), nullable=True),
)

_TIMES = ("chosen_at", "config_seen_at")


class MatchingStore(StoreBase):
    """One row per repository: its matching choice and the load setting last seen."""

    def save_matching_choice(self, repo: str, *, choice: str, n_changes: int, version: int) -> None:
        """Replace the repository's choice (``MatchingChoice.to_json()``) made from
        ``n_changes`` stored changes, in format ``version``."""
        values = {
            "choice": choice,
            "n_changes": int(n_changes),
            "version": int(version),
            "chosen_at": now_utc(),
        }
        self._upsert_matching(repo, values)

    def matching_choice(self, repo: str) -> dict[str, Any] | None:
        """The repository's row (``choice`` None until chosen), or None without one."""
        query = select(matching_choices).where(matching_choices.c.repo == repo)
        with self._tx() as conn:
            row = conn.execute(query).mappings().first()
        return as_utc(dict(row), _TIMES) if row else None

    def note_config_load(self, repo: str, load: dict[str, float] | None) -> None:
        """Remember the ``reviewers.load`` setting the bot ranks with (None: not set)."""
        self._upsert_matching(repo, {"config_load": load or None, "config_seen_at": now_utc()})

    def _upsert_matching(self, repo: str, values: dict[str, Any]) -> None:
        where = matching_choices.c.repo == repo
        with self._tx() as conn:
            if conn.execute(select(matching_choices.c.repo).where(where)).first():
                conn.execute(update(matching_choices).where(where).values(**values))
                return
            fresh = {"n_changes": 0, "version": 0, **values}
            conn.execute(insert(matching_choices).values(repo=repo, **fresh))
