"""How the channels become one ranking: standardised scores, weighted, summed.

Each channel's scores are turned into z-scores over the query's candidates (how far
above the usual candidate an issue stands), then weighted and added:

    fused = w_encoder · z(cosine) + w_words · z(ln(1 + BM25)) − w_recency · z(ln(1 + days))

* BM25 is taken on a log scale first: its scores are heavy-tailed (a long query gives a
  few issues huge scores), and on a raw scale one outlier sets the spread of the whole
  channel. Cosines are already bounded.
* Recency: duplicates are mostly filed soon after the report they repeat (the same
  failure hits several people after a release). ``days`` is how long before the new
  issue a candidate was filed; its log makes a day against a week count as much as a
  month against half a year.
* Standardising puts the channels on one scale without training; a channel that does
  not separate anything (all candidates alike) contributes nothing.

The weights are one small dataclass so a repository's own history can calibrate them.
The defaults: encoder and words count equally (no tuning); the recency weight, 0.15, is
the middle of the range (0.1 to 0.2) where it helped both trackers of
``docs/duplicates.md`` (chosen on them, so their numbers are in-sample for that one value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class FusionWeights:
    """Weight of each channel's z-score in the fused score."""

    encoder: float = 0.5
    words: float = 0.5
    recency: float = 0.15


#: The channels alone, and the fusion without recency (the evaluation's ablations).
ENCODER_ONLY = FusionWeights(encoder=1.0, words=0.0, recency=0.0)
WORDS_ONLY = FusionWeights(encoder=0.0, words=1.0, recency=0.0)
NO_RECENCY = FusionWeights(recency=0.0)


@dataclass(frozen=True)
class Channels:
    """Raw scores of every indexed issue for one query (``age_days`` None: no time)."""

    cosine: np.ndarray
    bm25: np.ndarray
    age_days: np.ndarray | None = None


def standardise(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(scores - mean) / std`` with mean and std over ``mask``; all zero when std is 0."""
    values = np.asarray(scores, dtype=np.float64)
    chosen = values[mask]
    if chosen.size < 2:
        return np.zeros_like(values)
    spread = float(chosen.std())
    if spread <= 1e-12:
        return np.zeros_like(values)
    return (values - float(chosen.mean())) / spread


def fuse(channels: Channels, mask: np.ndarray, weights: FusionWeights) -> np.ndarray:
    """The fused score of every issue (rank by it within ``mask``)."""
    fused = np.zeros(channels.cosine.shape[0], dtype=np.float64)
    if weights.encoder:
        fused += weights.encoder * standardise(channels.cosine, mask)
    if weights.words:
        fused += weights.words * standardise(np.log1p(np.maximum(channels.bm25, 0.0)), mask)
    if weights.recency and channels.age_days is not None:
        age = np.log1p(np.maximum(channels.age_days, 0.0))
        fused -= weights.recency * standardise(age, mask)
    return fused


def age_in_days(created: np.ndarray, at: float) -> np.ndarray:
    """How many days before ``at`` each issue was created (negative: after it)."""
    return (at - np.asarray(created, dtype=np.float64)) / SECONDS_PER_DAY
