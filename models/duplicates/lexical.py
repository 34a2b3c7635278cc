"""The lexical channels: BM25 over title and body (title weighted), and TF-IDF cosine.

Both keep the index as sparse document-term matrices (scipy) and score a query with a
few vectorised products over the columns of its words, so a query against 10,000
issues costs milliseconds.

Word statistics come from the candidates only: the document frequencies behind each
IDF are counted over the issues the query may be matched with (the issues filed before
it), never over later ones. (The average document length of BM25 is the index's, a
normalising constant that changes little as a history grows.)

BM25 is the Lucene form, ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` with ``k1`` 1.2
and ``b`` 0.75, over one field in which each title word counts ``title_weight`` times
(the simple BM25F of Robertson et al., 2004). TF-IDF is the baseline of the evaluation:
sublinear term frequency, smooth IDF, cosine, title and body as one text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from models.duplicates.words import body_words, weighted_counts, words


@dataclass(frozen=True)
class Bm25Params:
    """BM25's constants and how much a title word outweighs a body word."""

    title_weight: float = 2.0
    k1: float = 1.2
    b: float = 0.75


@dataclass(frozen=True)
class QueryTerms:
    """A query's words that the index knows: their columns and weights per channel."""

    columns: np.ndarray  # vocabulary columns, int
    bm25_weights: np.ndarray  # title-weighted counts
    tfidf_weights: np.ndarray  # sublinear counts of title and body as one text


class LexicalIndex:
    """Sparse term matrices of a list of issues, queried by BM25 or TF-IDF cosine."""

    def __init__(
        self, titles: Sequence[str], bodies: Sequence[str], params: Bm25Params | None = None
    ) -> None:
        """Count the words of every issue (``titles[i]``, ``bodies[i]``)."""
        if len(titles) != len(bodies):
            raise ValueError(f"{len(titles)} titles for {len(bodies)} bodies")
        self.params = params or Bm25Params()
        self.vocabulary: dict[str, int] = {}
        title_counts = count_matrix([words(t) for t in titles], self.vocabulary)
        body_counts = count_matrix([body_words(b) for b in bodies], self.vocabulary)
        size = (len(titles), len(self.vocabulary))
        title_counts.resize(size)
        body_counts.resize(size)
        self.terms = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        self._bm25 = saturate(self.params.title_weight * title_counts + body_counts, self.params)
        self._bm25_present = presence(self._bm25)
        tfidf_tf = sublinear(title_counts + body_counts)
        self._tfidf = tfidf_tf.tocsc()
        self._tfidf_present = presence(tfidf_tf)
        self._tfidf_squares = tfidf_tf.multiply(tfidf_tf).tocsr()

    def __len__(self) -> int:
        """How many issues the index holds."""
        return int(self._bm25.shape[0])

    def query_terms(self, title: str, body: str) -> QueryTerms:
        """The words of a new issue that appear in the index, with their weights."""
        title_words, words_of_body = words(title), body_words(body)
        weighted = weighted_counts(title_words, words_of_body, self.params.title_weight)
        plain = weighted_counts(title_words, words_of_body, 1.0)
        known = [w for w in weighted if w in self.vocabulary]
        return QueryTerms(
            columns=np.array([self.vocabulary[w] for w in known], dtype=np.intp),
            bm25_weights=np.array([weighted[w] for w in known], dtype=np.float64),
            tfidf_weights=1.0 + np.log(np.array([plain[w] for w in known], dtype=np.float64)),
        )

    def bm25(self, query: QueryTerms, mask: np.ndarray) -> np.ndarray:
        """BM25 score of every issue for ``query``, IDF counted over ``mask``'s issues."""
        weights = self._bm25[:, query.columns]
        return np.asarray(weights @ (self.bm25_idf(query, mask) * query.bm25_weights))

    def bm25_idf(self, query: QueryTerms, mask: np.ndarray) -> np.ndarray:
        """BM25's IDF of the query's words among ``mask``'s issues."""
        total = float(mask.sum())
        df = self._bm25_present[:, query.columns].T @ mask.astype(np.float64)
        return np.asarray(np.log1p((total - df + 0.5) / (df + 0.5)))

    def tfidf(self, query: QueryTerms, mask: np.ndarray) -> np.ndarray:
        """TF-IDF cosine of every issue with ``query``, IDF counted over ``mask``'s issues."""
        total = float(mask.sum())
        df = self._tfidf_present.T @ mask.astype(np.float64)
        idf = np.log((1.0 + total) / (1.0 + df)) + 1.0
        norms = np.sqrt(self._tfidf_squares @ (idf * idf))
        query_idf = idf[query.columns]
        dots = self._tfidf[:, query.columns] @ (query.tfidf_weights * query_idf * query_idf)
        query_norm = float(np.linalg.norm(query.tfidf_weights * query_idf))
        denominator = np.maximum(norms * query_norm, 1e-12)
        return np.asarray(dots / denominator)

    def shared_words(
        self, query: QueryTerms, mask: np.ndarray, rows: Sequence[int], limit: int = 5
    ) -> list[tuple[str, ...]]:
        """For each of ``rows``, the query words it shares, by their share of its BM25 score."""
        if not len(query.columns) or not rows:
            return [() for _ in rows]
        contribution = self.bm25_idf(query, mask) * query.bm25_weights
        picked = self._bm25[list(rows)][:, query.columns].toarray() * contribution
        out = []
        for row in picked:
            best = [j for j in np.argsort(-row, kind="stable")[:limit] if row[j] > 0]
            out.append(tuple(self.terms[query.columns[j]] for j in best))
        return out


def count_matrix(docs: Sequence[list[str]], vocabulary: dict[str, int]) -> sparse.csr_matrix:
    """Term counts ``(len(docs), len(vocabulary))``; new words are added to ``vocabulary``."""
    indices: list[int] = []
    counts: list[float] = []
    indptr = [0]
    for doc in docs:
        for word, count in weighted_counts(doc, (), 1.0).items():
            indices.append(vocabulary.setdefault(word, len(vocabulary)))
            counts.append(count)
        indptr.append(len(indices))
    shape = (len(docs), len(vocabulary))
    return sparse.csr_matrix(
        (np.array(counts, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
        shape=shape,
    )


def saturate(tf: sparse.csr_matrix, params: Bm25Params) -> sparse.csc_matrix:
    """BM25's term weights ``tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))``, by column."""
    coo = sparse.coo_matrix(tf)
    lengths = np.asarray(tf.sum(axis=1)).ravel()
    average = float(lengths.mean()) if lengths.size and lengths.mean() > 0 else 1.0
    norm = params.k1 * (1.0 - params.b + params.b * lengths[coo.row] / average)
    data = coo.data * (params.k1 + 1.0) / (coo.data + norm)
    return sparse.csc_matrix((data, (coo.row, coo.col)), shape=tf.shape)


def presence(matrix: sparse.spmatrix) -> sparse.csc_matrix:
    """1 where ``matrix`` is non-zero (what document frequencies count), by column."""
    binary = sparse.csc_matrix(matrix, copy=True)
    binary.data = np.ones_like(binary.data)
    return binary


def sublinear(tf: sparse.csr_matrix) -> sparse.csr_matrix:
    """``1 + ln(tf)`` where ``tf`` is non-zero."""
    out = sparse.csr_matrix(tf, copy=True)
    out.data = 1.0 + np.log(out.data)
    return out
