"""RevFinder (Thongtanunam et al., SANER 2015): the file-path-similarity baseline.

For a new change, every past change gets four similarities (LCP, LCSuff, LCSubstr,
LCSubseq: the average over file pairs of the component-wise length normalised by the longer
path). A reviewer's score under each technique is the sum over the past changes they
reviewed; the four rankings are combined by Borda count. Nothing is windowed or decayed:
the whole past counts, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from models.reviewers.data import Change
from models.reviewers.history import History
from models.reviewers.text import NullTextIndex


def borda_count(scores: np.ndarray) -> np.ndarray:
    """Borda points per candidate from score rows (one row per ranking, higher is better).

    A candidate ranked ``r`` (1-based) among ``N`` gets ``N - r`` points per ranking; tied
    candidates share the best rank of their tie.
    """
    matrix = np.atleast_2d(np.asarray(scores, dtype=float))
    n = matrix.shape[1]
    ranks = np.vstack([rankdata(-row, method="min") for row in matrix])
    points: np.ndarray = (n - ranks).sum(axis=0)
    return points


def revfinder_scores(history: History, similarity: np.ndarray) -> np.ndarray:
    """Per technique and person: the sum of change similarities over changes they reviewed.

    ``similarity`` is ``PathIndex.change_similarity`` of the new change, shape ``(4, n_changes)``.
    """
    changes, people = history.review_change.view, history.review_person.view
    return np.stack([np.bincount(people, row[changes], history.n_people) for row in similarity])


def revfinder_ranking(
    history: History, similarity: np.ndarray, candidates: Sequence[int]
) -> list[tuple[str, float]]:
    """Candidates (person ids) ranked by RevFinder's Borda count, best first.

    Ties in Borda points are broken by the summed raw scores, then by first appearance.
    """
    ids = np.asarray(candidates, dtype=int)
    if len(ids) == 0:
        return []
    scores = revfinder_scores(history, similarity)[:, ids]
    points = borda_count(scores)
    order = np.lexsort((ids, -scores.sum(axis=0), -points))
    return [(history.people[ids[i]], float(points[i])) for i in order]


def past_reviewers(history: History, exclude: str = "") -> list[int]:
    """Ids of everyone who reviewed at least one past change, except ``exclude``."""
    counts = history.review_counts()
    skip = history.person_ids.get(exclude, -1)
    return [int(i) for i in np.flatnonzero(counts > 0) if i != skip]


class RevFinder:
    """The baseline as a small incremental model: ``add`` past changes, ``rank`` a new one."""

    def __init__(self) -> None:
        """Create an empty model (paths only: RevFinder ignores text)."""
        self.history = History(text=NullTextIndex())

    def add(self, change: Change) -> None:
        """Record a merged change."""
        self.history.add(change)

    def rank(self, change: Change) -> list[tuple[str, float]]:
        """Past reviewers (never the author) ranked for ``change``, with Borda points."""
        similarity = self.history.paths.change_similarity(change.files)
        return revfinder_ranking(
            self.history, similarity, past_reviewers(self.history, change.author)
        )
