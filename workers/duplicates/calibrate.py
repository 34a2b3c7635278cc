"""The duplicates' gate measured on the repository's own history (pure, numpy).

Every stored issue is asked, in time order, as if it were new (but one people marked a
duplicate without saying of what: its truth is unknown): its earlier issues are
ranked (``models.duplicates``: encoder, words, recency), and the top one is *right*
when people closed the issue as a duplicate of it, or of another issue of the same
group (union-find over the known pairs; a pair's direction is not trusted, so the later
issue of a pair is the one asked). Every other issue's top suggestion is wrong: most new
issues repeat nothing, and a suggestion on them is the mistake the gate must count. A
suggestion a maintainer corrected (👎, ``/steward wrong``) is wrong whatever the
history says.

The scores (``decide.gate_score`` of the top candidate: its cosine and its share of the
best possible BM25, :func:`words_share`) and their rightness are
gated exactly as a label is (``models.triage.gate.gate_labels``: held-out thresholds
cross-fitted over five interleaved folds, the one-sided Clopper–Pearson lower bound of
the precision against ``triage.precision`` at ``triage.confidence``, at least
``triage.min_support`` suggestions): the duplicates go live only where "suggest when
the top candidate scores at least the threshold" was right often enough on issues the
threshold never saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.duplicates.fusion import fuse
from models.duplicates.index import DuplicateIndex, top_rows
from models.duplicates.replay import chronological_positions, duplicate_groups, first_hit_rank
from models.duplicates.words import body_words, weighted_counts, words
from models.triage.gate import GatePolicy, LabelGate, gate_labels
from workers.duplicates.decide import UNKNOWN, gate_score

#: What the gate is called in ``steward status`` and the stored gate.
GATE_NAME = "possible duplicate"
#: An issue is asked only once this many issues came before it (a ranking among three
#: issues says nothing).
MIN_CANDIDATES = 10
#: At most this many of the newest issues are asked (each is compared with all before it).
MAX_QUERIES = 3000


@dataclass(frozen=True)
class Replayed:
    """What the replay measured: per asked issue, its number, the top candidate's number
    and gate score, whether it was right, and the rank of the best right candidate among
    the issues with an earlier duplicate (for recall)."""

    numbers: np.ndarray
    tops: np.ndarray
    scores: np.ndarray
    right: np.ndarray
    hit_ranks: list[int] = field(default_factory=list)

    @property
    def positives(self) -> int:
        """Asked issues with an earlier issue of their duplicate group."""
        return len(self.hit_ranks)


def issue_key(number: int) -> str:
    """The semantic index's key of an issue."""
    return f"issue:{number}"


def groups_of(pairs: Sequence[tuple[int, int]]) -> dict[int, str]:
    """Each issue named by a pair → its duplicate group (a representative key); pairs
    whose earlier issue is unknown link nothing."""
    known = [(a, b) for a, b in pairs if UNKNOWN not in (a, b)]
    found = duplicate_groups([(issue_key(a), issue_key(b)) for a, b in known])
    return {int(key.split(":", 1)[1]): root for key, root in found.items()}


def replay_history(
    index: DuplicateIndex,
    numbers: Sequence[int],
    pairs: Sequence[tuple[int, int]],
    *,
    wrong: Mapping[int, Sequence[int]] | None = None,
    max_queries: int = MAX_QUERIES,
) -> Replayed:
    """Ask the newest ``max_queries`` issues of ``index`` (row ``i`` is issue
    ``numbers[i]``) with at least ``MIN_CANDIDATES`` before them, each against the issues
    before it; ``wrong`` maps an issue to suggestions people corrected on it."""
    positions = chronological_positions(index.keys, index.created.tolist())
    order = np.argsort(positions)
    unknown = {int(a) for a, b in pairs if b == UNKNOWN}
    later = [int(row) for row in order[MIN_CANDIDATES:] if int(numbers[row]) not in unknown]
    asked = later[-max_queries:] if max_queries else []
    groups, rows = groups_of(pairs), {int(n): i for i, n in enumerate(numbers)}
    members: dict[str, list[int]] = {}
    for number, group in groups.items():
        if number in rows:
            members.setdefault(group, []).append(rows[number])
    out: dict[str, list[Any]] = {"numbers": [], "tops": [], "scores": [], "right": []}
    ranks: list[int] = []
    for row in asked:
        number = int(numbers[row])
        mask = positions < positions[row]
        mine = groups.get(number)
        hits = [r for r in members.get(mine, []) if mask[r]] if mine is not None else []
        top, score, fused = _top(index, row, mask)
        corrected = {int(n) for n in (wrong or {}).get(number, ())}
        top_number = int(numbers[top])
        out["numbers"].append(number)
        out["tops"].append(top_number)
        out["scores"].append(score)
        out["right"].append(top in hits and top_number not in corrected)
        if hits:
            ranks.append(first_hit_rank(fused, mask, hits))
    arrays = {key: np.asarray(values) for key, values in out.items()}
    return Replayed(
        arrays["numbers"].astype(int),
        arrays["tops"].astype(int),
        arrays["scores"].astype(float),
        arrays["right"].astype(bool),
        ranks,
    )


def _top(index: DuplicateIndex, row: int, mask: np.ndarray) -> tuple[int, float, np.ndarray]:
    """The best candidate of stored issue ``row`` among ``mask``, its gate score, and
    every fused score."""
    title, body = index.titles[row], index.bodies[row]
    terms = index.lexical.query_terms(title, body)
    channels = index.channels(terms, index.vectors[row], mask, at=float(index.created[row]))
    fused = fuse(channels, mask, index.weights)
    top = top_rows(fused, mask, 1)[0]
    share = words_share(index, title, body, mask=mask, bm25=float(channels.bm25[top]))
    return top, gate_score(float(channels.cosine[top]), share), fused


def words_share(
    index: DuplicateIndex, title: str, body: str, *, mask: np.ndarray, bm25: float
) -> float:
    """``bm25`` as a share of the most any issue among ``mask`` could score for this
    title and body: every word matched at saturation, ``(k1 + 1) · idf · weight``. Words
    no candidate has count with their IDF too (a new issue's own words are what a true
    duplicate would share), so a stored issue asked in the replay and the same text
    asked as a new issue get the same share."""
    params = index.lexical.params
    weighted = weighted_counts(words(title), body_words(body), params.title_weight)
    terms = index.lexical.query_terms(title, body)
    known = float(np.sum(index.lexical.bm25_idf(terms, mask) * terms.bm25_weights))
    unseen_idf = float(np.log1p((float(mask.sum()) + 0.5) / 0.5))
    unseen = sum(w for word, w in weighted.items() if word not in index.lexical.vocabulary)
    ceiling = (params.k1 + 1.0) * (known + unseen_idf * unseen)
    return bm25 / ceiling if ceiling > 0 else 0.0


def measure_gate(replayed: Replayed, policy: GatePolicy) -> LabelGate:
    """The gate of the top suggestion, measured like a label's (module doc)."""
    probs = replayed.scores.reshape(-1, 1)
    truth = replayed.right.astype(int).reshape(-1, 1)
    gates = gate_labels(probs, truth, [GATE_NAME], policy=policy, single_label=False)
    return gates[GATE_NAME]


def summary(replayed: Replayed, *, issues: int, pairs: int, corrections: int) -> dict[str, Any]:
    """The numbers ``steward status`` shows beside the gate."""
    ranks = np.asarray(replayed.hit_ranks, dtype=float)

    def recall(k: int) -> float | None:
        return round(float(np.mean(ranks <= k)), 4) if len(ranks) else None

    return {
        "issues": issues,
        "pairs": pairs,
        "asked": len(replayed.numbers),
        "with_earlier_duplicate": replayed.positives,
        "recall@1": recall(1),
        "recall@3": recall(3),
        "corrections": corrections,
    }
