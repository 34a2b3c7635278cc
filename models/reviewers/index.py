"""``ReviewerIndex``: the incremental reviewer-suggestion API the bot uses.

``add(change)`` records a merged change (and first learns from it: its reviewers are the
answer to "who would we have suggested?"); ``suggest(change, k, constraints, load)`` ranks
eligible people for a new change with a one-line reason each. The state is exactly the
sequence of added changes, so ``ReviewerIndex.rebuild(stored_changes)`` restores it from the
bot's database without pickles.

``target="authors"`` makes the same machinery answer "who will resolve this issue?": every
past author or reviewer is a candidate, each merged change teaches the ranker that its
author is the answer for its *issue view* (title and body, the paths they mention, no
author), which is exactly what an issue offers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from models.reviewers.codeowners import OwnerRule, owners_of, parse_codeowners
from models.reviewers.constraints import Constraints, Load, apply_load, why_ineligible
from models.reviewers.data import Change
from models.reviewers.features import (
    Query,
    SignalConfig,
    build_query,
    candidate_features,
    person_signals,
)
from models.reviewers.history import History, encoder_text
from models.reviewers.paths import extract_paths, parent_dir
from models.reviewers.ranker import OnlineRanker, RankerConfig
from models.reviewers.reasons import Evidence, reason_text
from models.reviewers.revfinder import revfinder_ranking
from models.reviewers.text import TextIndex, TfidfTextIndex

#: Text similarity below this is not worth citing in a reason.
_SIMILAR_TEXT = 0.25
#: Whom an index ranks: reviewers of a change, or the author who will resolve an issue.
Target = Literal["reviewers", "authors"]


def issue_view(change: Change) -> Change:
    """``change`` as an issue about it would read: its text, the paths that text mentions.

    No author (the reporter says nothing about who fixes it), no reviewers, no changed files.
    """
    return replace(
        change, author="", reviewers=(), files=tuple(extract_paths(change.text)), extra={}
    )


@dataclass(frozen=True)
class Suggestion:
    """One suggested reviewer: login, score in ``(0, 1]`` after load, and why."""

    login: str
    score: float
    reason: str


class ReviewerIndex:
    """Reviewer expertise over a repository's merged changes, with a learned ranker."""

    def __init__(
        self,
        *,
        text_index: TextIndex | None = None,
        semantic_index: TextIndex | None = None,
        codeowners: str | None = None,
        signals: SignalConfig | None = None,
        ranker: RankerConfig | None = None,
        learn: bool = True,
        target: Target = "reviewers",
    ) -> None:
        """Create an empty index.

        ``text_index`` (the TF-IDF signals) defaults to TF-IDF. ``semantic_index``, e.g.
        ``EmbeddingTextIndex(get_encoder(name))``, adds encoder-similarity signals beside
        it (over ``encoder_text`` of each change); the ranker learns their weight. Without
        it nothing differs from an index that never heard of encoders. ``learn=False``
        skips training (prior scores only). ``target`` picks whom to rank (module doc).
        """
        if target not in ("reviewers", "authors"):
            raise ValueError(f"target must be 'reviewers' or 'authors', not {target!r}")
        self.history = History(
            text=text_index if text_index is not None else TfidfTextIndex(),
            semantic=semantic_index,
        )
        self.target: Target = target
        self.signals = signals or SignalConfig()
        self.ranker = OnlineRanker(ranker)
        self.learn = learn
        self.rules: list[OwnerRule] = []
        if codeowners:
            self.set_codeowners(codeowners)

    @classmethod
    def rebuild(
        cls, changes: Iterable[Change], *, learn_window: int | None = None, **options: object
    ) -> ReviewerIndex:
        """An index holding ``changes`` (any order; added by merge time), as if built live.

        With ``learn_window=None`` the result equals the live index exactly. A number makes
        restarts faster by learning only from the last ``learn_window`` changes (use the
        ranker's ``max_train_changes``: older examples are dropped at the next fit anyway).
        """
        index = cls(**options)  # type: ignore[arg-type]
        ordered = sorted(changes, key=lambda c: c.merged_at)
        prime = getattr(index.history.text, "prime", None)
        if callable(prime):  # batch the encoder instead of one call per change
            prime([c.text for c in ordered])
        prime = getattr(index.history.semantic, "prime", None)
        if callable(prime):  # primed vectors (``prime_vectors``) are not encoded again
            prime([encoder_text(c) for c in ordered])
        learning, skip = index.learn, len(ordered) - (learn_window or len(ordered))
        for position, change in enumerate(ordered):
            index.learn = learning and position >= skip
            index.add(change)
        index.learn = learning
        return index

    def set_codeowners(self, text: str) -> None:
        """Use this CODEOWNERS text from now on (owners become candidates)."""
        self.rules = parse_codeowners(text)
        for rule in self.rules:
            for owner in rule.owners:
                if "/" not in owner:  # teams (org/team) cannot be requested as a person
                    self.history.person(owner)

    def __len__(self) -> int:
        """Number of changes added."""
        return len(self.history)

    def query(self, change: Change) -> Query:
        """Compare ``change`` with the past (reusable for ``rank``, ``add`` and RevFinder)."""
        return build_query(self.history, change, self.rules)

    def candidates(self, author: str = "") -> np.ndarray:
        """Person ids worth ranking, never ``author``: past reviewers (and, for the authors
        target, past authors) and CODEOWNERS owners."""
        pool = self.history.review_counts() > 0
        if self.target == "authors":
            authors = self.history.change_author.view
            pool[authors[authors >= 0]] = True
        owners = {o for rule in self.rules for o in rule.owners}
        for owner in owners:
            found = self.history.person_ids.get(owner)
            if found is not None:
                pool[found] = True
        skip = self.history.person_ids.get(author, -1) if author else -1
        if skip >= 0:
            pool[skip] = False
        return np.flatnonzero(pool)

    def features(self, query: Query, candidates: np.ndarray) -> np.ndarray:
        """Model inputs for ``candidates`` on ``query``."""
        raw = person_signals(self.history, query, self.signals)
        return candidate_features(raw, candidates)

    def scores(self, query: Query, candidates: np.ndarray) -> np.ndarray:
        """Ranker scores for ``candidates`` (higher is better)."""
        return self.ranker.score(self.features(query, candidates))

    def rank(self, change: Change, query: Query | None = None) -> list[tuple[str, float]]:
        """Every candidate for ``change`` (author excluded), best first, without constraints."""
        query = query or self.query(change)
        ids = self.candidates(change.author)
        scores = self.scores(query, ids)
        order = np.argsort(-scores, kind="stable")
        return [(self.history.people[ids[i]], float(scores[i])) for i in order]

    def revfinder(self, change: Change, query: Query | None = None) -> list[tuple[str, float]]:
        """RevFinder's Borda ranking of past reviewers over the same history."""
        query = query or self.query(change)
        ids = self.candidates(change.author)
        reviewers = ids[self.history.review_counts()[ids] > 0]
        return revfinder_ranking(self.history, query.path_similarity, list(reviewers))

    def add(self, change: Change, query: Query | None = None) -> None:
        """Record a merged change, after learning from who actually reviewed it.

        ``query`` may be passed when already computed for this change on the current state.
        """
        truth, seen = self.truth(change), self.learning_view(change)
        if self.learn and truth and len(self.history):
            if query is None or query.size != len(self.history) or query.change != seen:
                query = self.query(seen)  # stale: other changes were added since
            ids = self.candidates(seen.author)
            labels = np.isin(ids, [self.history.person_ids.get(r, -1) for r in truth])
            if labels.any():
                self.ranker.observe(self.features(query, ids), labels, key=len(self.history))
        self.history.add(change)

    def truth(self, change: Change) -> set[str]:
        """Who the ranker should have put first for ``change``: its reviewers or its author."""
        if self.target == "authors":
            return {change.author} if change.author else set()
        return {r for r in change.reviewers if r and r != change.author}

    def learning_view(self, change: Change) -> Change:
        """What the ranker sees of ``change`` when learning: the change, or its issue view."""
        return issue_view(change) if self.target == "authors" else change

    def suggest(
        self,
        change: Change,
        k: int = 3,
        constraints: Constraints | None = None,
        load: Load | None = None,
    ) -> list[Suggestion]:
        """Top ``k`` eligible reviewers for ``change``, load-discounted, each with a reason."""
        constraints = constraints or Constraints()
        query = self.query(change)
        ids = self.candidates(change.author)
        people = self.history.people
        ids = np.array(
            [i for i in ids if why_ineligible(people[i], change.author, constraints) is None],
            dtype=int,
        )
        if len(ids) == 0:
            return []
        scores = self.scores(query, ids)
        ranked = apply_load(zip((people[i] for i in ids), map(float, scores), strict=True), load)
        return [
            Suggestion(login, score, reason_text(self.evidence(login, query)))
            for login, score in ranked[:k]
        ]

    def evidence(self, login: str, query: Query) -> Evidence:
        """The facts behind suggesting ``login`` for ``query``'s change."""
        person = self.history.person_ids.get(login, -1)
        if person < 0:
            return Evidence(login)
        touches = self.history.touches.get(person, {})
        files = [f for f in query.change.files if f in touches]
        top = max(files, key=lambda f: (touches[f].count, touches[f].last), default="")
        involved = self._involved(person)
        dir_changes = np.flatnonzero((query.dir_hits > 0) & involved)
        times = self.history.change_time.view
        reviewed = self._reviewed(person)
        text = np.where(reviewed, query.text_similarity, 0.0)
        best_text = int(np.argmax(text)) if len(text) else -1
        author = query.change.author
        authored_by = self.history.change_author.view == self.history.person_ids.get(author, -2)
        owned = next(
            (f for f in query.change.files if login.lower() in owners_of(f, self.rules)), ""
        )
        return Evidence(
            login=login,
            top_path=top,
            path_count=touches[top].count if top else 0,
            path_last=touches[top].last if top else 0.0,
            top_dir=_top_dir(query.change.files, touches),
            dir_count=len(dir_changes),
            dir_last=float(times[dir_changes].max()) if len(dir_changes) else 0.0,
            owned=owned,
            author=author,
            author_reviews=int((reviewed & authored_by).sum()) if author else 0,
            similar_title=(
                self.history.changes[best_text].title
                if best_text >= 0 and text[best_text] >= _SIMILAR_TEXT
                else ""
            ),
            last_review=float(times[reviewed].max()) if reviewed.any() else 0.0,
        )

    def _reviewed(self, person: int) -> np.ndarray:
        mask = np.zeros(len(self.history), dtype=bool)
        mask[self.history.review_change.view[self.history.review_person.view == person]] = True
        return mask

    def _involved(self, person: int) -> np.ndarray:
        involved: np.ndarray = self._reviewed(person) | (self.history.change_author.view == person)
        return involved


def _top_dir(files: Iterable[str], touches: Mapping[str, object]) -> str:
    """The change's directory with the most files this person touched before."""
    dirs = {parent_dir(f) for f in files}
    counts: dict[str, int] = {}
    for path in touches:
        directory = parent_dir(path)
        if directory in dirs:
            counts[directory] = counts.get(directory, 0) + 1
    return max(counts, key=lambda d: counts[d], default="")
