"""Chronological replay of a tracker's known duplicates: how high each ranker puts them.

Rules (pure functions of keys, creation times and duplicate pairs):

* Reports are ordered by creation time, ties by key in natural order (``HADOOP-9`` before
  ``HADOOP-10``): trackers number reports as they are filed.
* A pair's direction is not trusted: its later report is the query, whatever column it
  came from. A pair with a report missing from the tracker's reports gives no query.
* Duplicate groups are the connected components of all pairs (union-find), so a
  report missing from the file still links the reports that name it.
* A query's candidates are all reports before it; a hit is any earlier report of its
  group. A report that is the later one of several pairs is one query.
* The rank of a query is the position of its best-ranked hit; ties count against the
  ranker (a channel that gives many reports the same score gains nothing from them).

The same replay serves the CLI (``steward eval-duplicates``) and, later, calibrating a
repository's weights on its own history.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.duplicates.fusion import NO_RECENCY, Channels, fuse
from models.duplicates.index import DuplicateIndex
from models.duplicates.lexical import QueryTerms

#: Cut-offs of recall@k.
K_VALUES: tuple[int, ...] = (1, 5, 10)
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class ReplayQuery:
    """One query of the replay: its row and the rows that count as a hit."""

    row: int
    hits: tuple[int, ...]


@dataclass(frozen=True)
class ReplayPlan:
    """Every query of a replay and the chronological position of every report."""

    queries: tuple[ReplayQuery, ...]
    positions: np.ndarray  # positions[row]: the report's place in time, 0 = first
    pairs: int  # pairs read (self-pairs left out)
    pairs_with_both: int  # pairs whose two reports are both present

    def candidates(self, query: ReplayQuery) -> np.ndarray:
        """Rows filed before ``query``'s report (the mask its ranking is taken over)."""
        mask: np.ndarray = self.positions < self.positions[query.row]
        return mask


def natural_key(key: str) -> tuple[tuple[int, int | str], ...]:
    """``key`` split into text and numbers, so ``BUG-9`` sorts before ``BUG-10``."""
    parts = _DIGITS.split(key)
    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in parts if part)


def chronological_positions(keys: Sequence[str], created: Sequence[float]) -> np.ndarray:
    """Each report's place in time: by creation, ties by natural key order."""
    order = sorted(range(len(keys)), key=lambda row: (created[row], natural_key(keys[row])))
    positions = np.empty(len(keys), dtype=np.int64)
    positions[order] = np.arange(len(keys))
    return positions


def duplicate_groups(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The group (a representative key) of every key named by ``pairs`` (union-find)."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]  # path halving keeps the trees flat
            key = parent[key]
        return key

    for first, second in pairs:
        parent[root(first)] = root(second)
    return {key: root(key) for key in list(parent)}


def plan_replay(
    keys: Sequence[str], created: Sequence[float], pairs: Sequence[tuple[str, str]]
) -> ReplayPlan:
    """The queries of a replay over reports ``keys`` (with ``created``) and ``pairs``."""
    real = [(a, b) for a, b in pairs if a != b]
    rows = {key: row for row, key in enumerate(keys)}
    positions = chronological_positions(keys, created)
    groups = duplicate_groups(real)
    members: dict[str, list[int]] = {}
    for key, row in rows.items():
        if key in groups:
            members.setdefault(groups[key], []).append(row)
    both = [(rows[a], rows[b]) for a, b in real if a in rows and b in rows]
    later = {max(pair, key=lambda row: positions[row]) for pair in both}
    queries = [
        ReplayQuery(row, _earlier(members[groups[keys[row]]], positions, row))
        for row in sorted(later, key=lambda row: positions[row])
    ]
    return ReplayPlan(tuple(queries), positions, len(real), len(both))


def _earlier(group: Sequence[int], positions: np.ndarray, row: int) -> tuple[int, ...]:
    return tuple(sorted(other for other in group if positions[other] < positions[row]))


def first_hit_rank(scores: np.ndarray, mask: np.ndarray, hits: Sequence[int]) -> int:
    """1-based rank of the best hit among ``mask``'s rows; non-hits tied with it go first."""
    best = float(np.max(scores[list(hits)]))
    others = mask.copy()
    others[list(hits)] = False
    return 1 + int(np.count_nonzero(scores[others] >= best))


def summarise(ranks: Sequence[int], k_values: Sequence[int] = K_VALUES) -> dict[str, float]:
    """``recall@k`` for each k and the mean reciprocal rank (rounded to 4 decimals)."""
    values = np.asarray(ranks, dtype=np.float64)
    if values.size == 0:
        return {**{f"recall@{k}": 0.0 for k in k_values}, "mrr": 0.0}
    out = {f"recall@{k}": round(float(np.mean(values <= k)), 4) for k in k_values}
    out["mrr"] = round(float(np.mean(1.0 / values)), 4)
    return out


@dataclass(frozen=True)
class ReplayStep:
    """What a ranker sees for one query: the index, the query's words and channels, the mask."""

    index: DuplicateIndex
    terms: QueryTerms
    channels: Channels
    mask: np.ndarray


Ranker = Callable[[ReplayStep], np.ndarray]

#: The rankers the evaluation reports: Steward, its parts alone, and the baselines.
RANKERS: dict[str, Ranker] = {
    "steward": lambda step: fuse(step.channels, step.mask, step.index.weights),
    "steward_no_recency": lambda step: fuse(step.channels, step.mask, NO_RECENCY),
    "encoder": lambda step: step.channels.cosine,
    "bm25": lambda step: step.channels.bm25,
    "tfidf": lambda step: step.index.lexical.tfidf(step.terms, step.mask),
}


def replay(
    index: DuplicateIndex,
    plan: ReplayPlan,
    rankers: Mapping[str, Ranker] | None = None,
    *,
    progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Rank every query's candidates with each ranker; their recall@k and MRR."""
    from tqdm import tqdm

    chosen = RANKERS if rankers is None else rankers
    ranks: dict[str, list[int]] = {name: [] for name in chosen}
    for query in tqdm(plan.queries, desc="replay", disable=not progress, file=sys.stderr):
        step = replay_step(index, plan, query)
        for name, ranker in chosen.items():
            ranks[name].append(first_hit_rank(ranker(step), step.mask, query.hits))
    return {name: summarise(values) for name, values in ranks.items()}


def replay_step(index: DuplicateIndex, plan: ReplayPlan, query: ReplayQuery) -> ReplayStep:
    """The channels of one query, its own stored report asked as a new issue."""
    row, mask = query.row, plan.candidates(query)
    terms = index.lexical.query_terms(index.titles[row], index.bodies[row])
    at = float(index.created[row])
    return ReplayStep(index, terms, index.channels(terms, index.vectors[row], mask, at=at), mask)
