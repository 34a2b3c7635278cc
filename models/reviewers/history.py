"""Append-only store of past changes that every reviewer signal is computed from.

People are interned to integer ids; authorship and review edges are flat arrays so that a
signal over all people is one ``np.bincount``. Paths live in a ``PathIndex`` and texts in a
``TextIndex`` (TF-IDF), plus optionally a second, ``semantic`` one over the encoder text of
each change (``encoder_text``). Nothing here knows about time windows or models: it only
records the past.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.matching.texts import embedding_text
from models.reviewers.data import Change
from models.reviewers.pathindex import GrowArray, PathIndex
from models.reviewers.text import TextIndex, TfidfTextIndex

SECONDS_PER_DAY = 86_400.0


def encoder_text(change: Change) -> str:
    """The text the encoder embeds for a change: the bot's one rule (``embedding_text``)."""
    return embedding_text(change.title, change.body, change.files)


@dataclass
class Touch:
    """How often and how recently one person reviewed or authored changes to one path."""

    count: int = 0
    last: float = 0.0


@dataclass
class History:
    """Past changes, in the order they were added (merge order)."""

    text: TextIndex = field(default_factory=TfidfTextIndex)
    #: Encoder similarity beside TF-IDF (``None``: no encoder signals), same order of texts.
    semantic: TextIndex | None = None
    paths: PathIndex = field(default_factory=PathIndex)
    people: list[str] = field(default_factory=list)
    person_ids: dict[str, int] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    change_time: GrowArray = field(default_factory=lambda: GrowArray(np.float64))
    change_author: GrowArray = field(default_factory=lambda: GrowArray(np.int32))
    review_change: GrowArray = field(default_factory=lambda: GrowArray(np.int32))
    review_person: GrowArray = field(default_factory=lambda: GrowArray(np.int32))
    #: person id -> path -> Touch, for human-readable reasons.
    touches: dict[int, dict[str, Touch]] = field(default_factory=dict)

    def person(self, login: str) -> int:
        """Id of ``login``, interning it on first sight."""
        found = self.person_ids.get(login)
        if found is None:
            found = self.person_ids[login] = len(self.people)
            self.people.append(login)
        return found

    def add(self, change: Change) -> int:
        """Record one merged change; returns its index."""
        index = len(self.changes)
        self.changes.append(change)
        self.paths.add(change.files)
        self.text.add(change.text)
        if self.semantic is not None:
            self.semantic.add(encoder_text(change))
        self.change_time.append(change.merged_at)
        author = self.person(change.author) if change.author else -1
        self.change_author.append(author)
        reviewers = [self.person(r) for r in change.reviewers if r and r != change.author]
        for reviewer in reviewers:
            self.review_change.append(index)
            self.review_person.append(reviewer)
        for person in {*reviewers, *([author] if author >= 0 else [])}:
            self._touch(person, change)
        return index

    def _touch(self, person: int, change: Change) -> None:
        mine = self.touches.setdefault(person, {})
        for path in change.files:
            touch = mine.setdefault(path, Touch())
            touch.count += 1
            touch.last = max(touch.last, change.merged_at)

    def __len__(self) -> int:
        """Number of changes recorded."""
        return len(self.changes)

    @property
    def n_people(self) -> int:
        """Number of distinct people seen (authors and reviewers)."""
        return len(self.people)

    def review_counts(self) -> np.ndarray:
        """Number of past reviews per person id."""
        return np.bincount(self.review_person.view, minlength=self.n_people).astype(float)
