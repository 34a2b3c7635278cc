"""``DuplicateIndex``: a repository's earlier issues, ranked as possible duplicates of a new one.

Built from what the bot already stores per item: keys, titles, bodies, creation times and
the encoder vectors of the semantic index (``item_vectors``, made from
``models.matching.embedding_text`` by the repository's encoder). The vectors stay one
float32 matrix and the words two sparse matrices (``LexicalIndex``), so a query is a
matrix-vector product, a few sparse column products and one partial sort.

A query names its own creation time (``at``): only issues filed strictly before it are
candidates, and the recency channel measures from it. Without ``at`` every issue is a
candidate and time plays no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from models.duplicates.fusion import Channels, FusionWeights, age_in_days, fuse
from models.duplicates.lexical import Bm25Params, LexicalIndex, QueryTerms

#: A candidate counts as found by a channel when that channel alone ranks it this high.
FOUND_WITHIN = 10
#: How many shared words a candidate's reason names.
SHARED_WORDS = 5


@dataclass(frozen=True)
class Candidate:
    """One possible duplicate: its key, fused score, channel scores and why it is here."""

    key: str
    score: float
    cosine: float
    bm25: float
    age_days: float | None
    found_by: tuple[str, ...]  # "encoder", "words": the channels that rank it high alone
    shared_words: tuple[str, ...]

    @property
    def reason(self) -> str:
        """One line for a maintainer: which channel found it, the words it shares, its age."""
        channels = " and ".join(_CHANNEL_NAMES[name] for name in self.found_by)
        parts = [f"found by {channels}" if channels else "found by the combined score"]
        parts.append(f"cosine {self.cosine:.2f}")
        if self.shared_words:
            parts.append("shared words: " + ", ".join(self.shared_words))
        if self.age_days is not None:
            parts.append(f"filed {_describe_age(self.age_days)} earlier")
        return "; ".join(parts)


_CHANNEL_NAMES = {"encoder": "the encoder", "words": "the words (BM25)"}


def _describe_age(days: float) -> str:
    if days < 1:
        return f"{max(days * 24, 0):.0f} hours"
    return f"{days:.0f} days"


class DuplicateIndex:
    """Earlier issues of one repository: vectors, words and creation times, row by row."""

    def __init__(
        self,
        keys: Sequence[str],
        titles: Sequence[str],
        bodies: Sequence[str],
        vectors: np.ndarray,
        created: Sequence[float],
        *,
        weights: FusionWeights | None = None,
        bm25: Bm25Params | None = None,
    ) -> None:
        """Index issue ``keys[i]`` with its title, body, encoder vector and creation time.

        ``created`` is in POSIX seconds; ``vectors`` are normalised on the way in.
        """
        self.keys = list(keys)
        matrix = np.asarray(vectors, dtype=np.float32)
        sizes = {len(self.keys), len(titles), len(bodies), matrix.shape[0], len(created)}
        if len(sizes) != 1 or matrix.ndim != 2:
            raise ValueError("keys, titles, bodies, vectors and created must have one row each")
        self.titles, self.bodies = list(titles), list(bodies)
        self.vectors = unit_rows(matrix)
        self.created = np.asarray(created, dtype=np.float64)
        self.weights = weights or FusionWeights()
        self.lexical = LexicalIndex(self.titles, self.bodies, bm25)
        self._rows = {key: row for row, key in enumerate(self.keys)}

    def __len__(self) -> int:
        """How many issues the index holds."""
        return len(self.keys)

    def query(
        self,
        title: str,
        body: str,
        vector: np.ndarray,
        *,
        at: float | None = None,
        k: int = 5,
        exclude: Iterable[str] = (),
    ) -> list[Candidate]:
        """The ``k`` likeliest earlier duplicates of a new issue, best first.

        ``at``: the new issue's creation time (POSIX seconds); ``exclude``: keys never
        to propose (the issue itself, issues already linked).
        """
        mask = self.candidate_mask(at=at, exclude=exclude)
        terms = self.lexical.query_terms(title, body)
        channels = self.channels(terms, vector, mask, at=at)
        return self.top(channels, terms, mask, k=k)

    def candidate_mask(self, *, at: float | None = None, exclude: Iterable[str] = ()) -> np.ndarray:
        """Rows that may be proposed: created before ``at`` (all when None), not excluded."""
        mask = np.ones(len(self.keys), dtype=bool) if at is None else self.created < at
        dropped = [self._rows[key] for key in exclude if key in self._rows]
        mask[dropped] = False
        return mask

    def channels(
        self, terms: QueryTerms, vector: np.ndarray, mask: np.ndarray, *, at: float | None
    ) -> Channels:
        """Every channel's raw score of every row for one query."""
        unit = unit_rows(np.asarray(vector, dtype=np.float32).reshape(1, -1))[0]
        if unit.shape[0] != self.vectors.shape[1]:
            width = self.vectors.shape[1]
            raise ValueError(f"query vector of width {unit.shape[0]}, the index's is {width}")
        age = None if at is None else age_in_days(self.created, at)
        return Channels(self.vectors @ unit, self.lexical.bm25(terms, mask), age)

    def top(
        self, channels: Channels, terms: QueryTerms, mask: np.ndarray, *, k: int
    ) -> list[Candidate]:
        """The ``k`` best rows of ``mask`` by the fused score, as candidates."""
        fused = fuse(channels, mask, self.weights)
        rows = top_rows(fused, mask, k)
        shared = self.lexical.shared_words(terms, mask, rows, SHARED_WORDS)
        return [
            Candidate(
                key=self.keys[row],
                score=float(fused[row]),
                cosine=float(channels.cosine[row]),
                bm25=float(channels.bm25[row]),
                age_days=None if channels.age_days is None else float(channels.age_days[row]),
                found_by=found_by(channels, mask, row),
                shared_words=words,
            )
            for row, words in zip(rows, shared, strict=True)
        ]


def top_rows(scores: np.ndarray, mask: np.ndarray, k: int) -> list[int]:
    """Rows of ``mask`` with the ``k`` highest ``scores``, best first (ties: lower row)."""
    rows = np.flatnonzero(mask)
    if k <= 0 or rows.size == 0:
        return []
    values = scores[rows]
    part = np.argpartition(-values, k - 1)[:k] if k < rows.size else np.arange(rows.size)
    best = part[np.lexsort((part, -values[part]))]
    return [int(row) for row in rows[best]]


def found_by(channels: Channels, mask: np.ndarray, row: int) -> tuple[str, ...]:
    """The channels that alone rank ``row`` within ``FOUND_WITHIN`` of ``mask``'s rows."""
    out = []
    if _rank_within(channels.cosine, mask, row) < FOUND_WITHIN:
        out.append("encoder")
    if channels.bm25[row] > 0 and _rank_within(channels.bm25, mask, row) < FOUND_WITHIN:
        out.append("words")
    return tuple(out)


def _rank_within(scores: np.ndarray, mask: np.ndarray, row: int) -> int:
    """How many rows of ``mask`` score strictly higher than ``row``."""
    return int(np.count_nonzero(scores[mask] > scores[row]))


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as float32 (a zero row stays zero)."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    scaled: np.ndarray = rows / np.maximum(norms, 1e-12)
    return scaled
