"""Text similarity between a new change (or issue) and past changes.

``TextIndex`` is the interface: ``add`` one past text, ``similarities`` of a query to every
text added so far. Two implementations:

* ``TfidfTextIndex``: hashed TF-IDF with document frequencies from the past only (no
  vocabulary fitted on the future), cosine similarity; fast enough to replay 10k changes.
* ``EmbeddingTextIndex``: any encoder with ``encode(texts) -> np.ndarray`` (the shared
  ``models.encoder`` BERT encoder in the bot), cosine similarity of embeddings.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from models.reviewers.pathindex import GrowArray

_TOKEN = re.compile(r"[a-z][a-z0-9_]+|[0-9]{2,}")
#: Hash space of the TF-IDF index; collisions are rare at history sizes (tens of thousands).
HASH_DIM = 1 << 18
#: Very common words that say nothing about who should review.
_STOPWORD_TEXT = (
    "the a an and or of to in on for is it this that with be by as at from are was were "
    "not no but if when we can should would will has have had do does use used using into "
    "so than then there their they which also all any more some such via its only"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens; ``snake_case`` and ``path/parts`` split into their words too."""
    words = _TOKEN.findall(text.lower())
    extra = [part for word in words if "_" in word for part in word.split("_") if len(part) > 1]
    return [w for w in words + extra if w not in STOPWORDS]


class TextEncoderLike(Protocol):
    """The part of ``models.encoder.TextEncoder`` this package needs."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One vector per text, shape ``(len(texts), dim)``."""
        ...


class TextIndex(Protocol):
    """Past texts, queried for similarity to a new text."""

    def add(self, text: str) -> None:
        """Store the text of the next past change."""
        ...

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text`` to each stored text, in insertion order."""
        ...

    def __len__(self) -> int:
        """Number of stored texts."""
        ...


def _hashed_counts(text: str) -> Counter[int]:
    return Counter(zlib.crc32(token.encode()) % HASH_DIM for token in tokenize(text))


class TfidfTextIndex:
    """Hashed TF-IDF (sublinear tf, smooth idf) over the texts added so far."""

    def __init__(self) -> None:
        """Create an empty index."""
        self._doc = GrowArray(np.int32)  # one entry per (document, term)
        self._term = GrowArray(np.int32)
        self._tf = GrowArray(np.float32)
        self._df = np.zeros(HASH_DIM, dtype=np.float32)
        self._n_docs = 0

    def __len__(self) -> int:
        """Number of stored texts."""
        return self._n_docs

    def add(self, text: str) -> None:
        """Store one past text; its terms count towards document frequencies from now on."""
        for term, count in _hashed_counts(text).items():
            self._doc.append(self._n_docs)
            self._term.append(term)
            self._tf.append(1.0 + np.log(count))
            self._df[term] += 1.0
        self._n_docs += 1

    def _idf(self, terms: np.ndarray) -> np.ndarray:
        idf: np.ndarray = np.log((1.0 + self._n_docs) / (1.0 + self._df[terms])) + 1.0
        return idf

    def similarities(self, text: str) -> np.ndarray:
        """Cosine of TF-IDF vectors, with idf from the stored texts only."""
        out = np.zeros(self._n_docs)
        query = _hashed_counts(text)
        if not query or self._n_docs == 0:
            return out
        q_terms = np.fromiter(query.keys(), dtype=np.int32)
        q_weight = (1.0 + np.log(np.fromiter(query.values(), dtype=np.float64))) * self._idf(
            q_terms
        )
        dense = np.zeros(HASH_DIM, dtype=np.float32)
        dense[q_terms] = q_weight
        terms, docs = self._term.view, self._doc.view
        weights = self._tf.view * self._idf(terms)
        dots = np.bincount(docs, weights * dense[terms], self._n_docs)
        norms = np.sqrt(np.bincount(docs, weights * weights, self._n_docs))
        q_norm = float(np.sqrt((q_weight * q_weight).sum()))
        np.divide(dots, norms * q_norm, out=out, where=norms > 0)
        return out


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    unit: np.ndarray = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit


class EmbeddingTextIndex:
    """Cosine similarity of encoder embeddings (e.g. the shared BERT encoder)."""

    def __init__(self, encoder: TextEncoderLike | None = None) -> None:
        """Wrap an encoder; embeddings are L2-normalised when stored.

        Without an encoder every text must be primed (``prime_vectors``) before use.
        """
        self._encoder = encoder
        # Stored rows live in a buffer that doubles when full: a query reads a view of it
        # instead of stacking every row again after each add (a replay alternates the two).
        self._matrix: np.ndarray | None = None
        self._size = 0
        self._primed: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        """Number of stored texts."""
        return self._size

    def prime(self, texts: Sequence[str]) -> None:
        """Encode texts that will be added soon in one batched call (rebuilds from storage)."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._primed))
        if todo:
            self._primed.update(zip(todo, self._normalized(todo), strict=True))

    def prime_vectors(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Hand over already computed embeddings of ``texts`` (one row each): never re-encoded.

        The bot passes the vectors it stored; the replay encodes everything once up front.
        Primed texts are looked up both when added and when queried.
        """
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(texts):
            raise ValueError(f"need one vector per text: {len(texts)} texts, shape {matrix.shape}")
        self._primed.update(zip(texts, _unit_rows(matrix), strict=True))

    def add(self, text: str) -> None:
        """Store one past text (encoded now unless primed)."""
        vector = self._primed.get(text)
        row = vector if vector is not None else self._normalized([text])[0]
        if self._matrix is None or self._size == len(self._matrix):
            grown = np.zeros((max(16, 2 * self._size), len(row)), dtype=np.float32)
            if self._matrix is not None:
                grown[: self._size] = self._matrix[: self._size]
            self._matrix = grown
        self._matrix[self._size] = row
        self._size += 1

    def _normalized(self, texts: Sequence[str]) -> np.ndarray:
        if self._encoder is None:
            raise LookupError(f"no encoder and no primed vector for {len(texts)} text(s)")
        return _unit_rows(np.asarray(self._encoder.encode(list(texts)), dtype=np.float32))

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity of ``text``'s embedding to every stored embedding."""
        if self._matrix is None or not self._size or not text.strip():
            return np.zeros(self._size)
        query = self._primed.get(text)
        if query is None:
            query = self._normalized([text])[0]
        sims: np.ndarray = (self._matrix[: self._size] @ query).astype(np.float64)
        return sims


class NullTextIndex:
    """A text index that stores nothing (for path-only histories and the RevFinder baseline)."""

    def __init__(self) -> None:
        """Create an empty index."""
        self._n = 0

    def __len__(self) -> int:
        """Number of texts added."""
        return self._n

    def add(self, text: str) -> None:
        """Count the text without storing it."""
        self._n += 1

    def similarities(self, text: str) -> np.ndarray:
        """All zeros: no text signal."""
        return np.zeros(self._n)
