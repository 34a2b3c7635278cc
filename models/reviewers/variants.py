"""One chronological replay that scores several ranker variants at the cost of about one.

The expensive part of a replay is comparing each change with the whole past (path, text and
encoder similarity: ``ReviewerIndex.query``). Ranker variants that differ only in what the
learned ranker does with those comparisons (the encoder signals on or off, the strength of
its regularisation) can share that work: one history and one query per change, then one
feature matrix per change (the plain variant's features are the first ``len(FEATURES)``
columns of the encoder variant's), and one ``OnlineRanker`` per variant on top.

The protocol is ``evaluate.replay``'s (and ``tasks.evaluate_people``'s for the authors
target), event for event: a change is ranked from changes merged strictly before it
(``as_of``), the author never a candidate, and learnt from only after it was ranked. With the
default variant and ``learn_window`` at the ranker's ``max_train_changes`` the rankings
equal ``evaluate.replay``'s exactly (tested). What is recorded per evaluated change (the
full ranking of every variant, the truth and the change's times) is enough to simulate
review load afterwards for any number of load policies (``loadsim``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from models.reviewers.data import Change
from models.reviewers.evaluate import Metrics, _events
from models.reviewers.features import FEATURES, Query
from models.reviewers.history import History
from models.reviewers.index import ReviewerIndex, Target, issue_view
from models.reviewers.ranker import OnlineRanker, RankerConfig


@dataclass(frozen=True)
class Variant:
    """A ranker configuration the replay scores: encoder signals on or off, regularisation."""

    encoder: bool = False
    regularization: float = RankerConfig().regularization

    @property
    def name(self) -> str:
        """A short label, e.g. ``encoder C=1``."""
        return f"{'encoder' if self.encoder else 'plain'} C={self.regularization:g}"

    def ranker_config(self) -> RankerConfig:
        """The ``RankerConfig`` of this variant (everything else at its default)."""
        return replace(RankerConfig(), regularization=self.regularization)


@dataclass
class Ranked:
    """One evaluated change: its times, window (0 tune, 1 check), truth (logins, and person
    ids with -1 for people the history has not seen) and, per variant, candidate ids best
    first with their scores."""

    created: float
    merged: float
    window: int
    truth_logins: tuple[str, ...]
    truth: frozenset[int]
    orders: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


@dataclass
class VariantReplay:
    """What one shared replay recorded: the variants, their rankers, every evaluated change."""

    variants: tuple[Variant, ...]
    rankers: list[OnlineRanker]
    ranked: list[Ranked]
    people: list[str]


@dataclass(frozen=True)
class Windows:
    """Merge-order positions: learn from ``learn_from``, tune on ``[tune, check)``, check on
    ``[check, end)``. Before ``tune`` the ranker learns from every ``learn_stride``-th change
    only (each one it learns from is compared with the whole past: the costly part)."""

    learn_from: int
    tune: int
    check: int
    end: int
    learn_stride: int = 1

    def learns(self, position: int) -> bool:
        """Whether the ranker learns from the change at ``position``."""
        if position >= self.tune:
            return True
        return position >= self.learn_from and (self.tune - position) % self.learn_stride == 0


def replay_variants(
    changes: Sequence[Change],
    plans: Mapping[Target, Sequence[Variant]],
    windows: Windows,
    *,
    as_of: str = "merged",
    vectors: Mapping[str, np.ndarray] | None = None,
) -> dict[Target, VariantReplay]:
    """Replay ``changes`` (merge order), ranking positions ``[tune, end)`` with each variant
    of each target (``reviewers``: who reviews the change; ``authors``: who resolves it,
    from its issue view).

    The targets share one history, so every change is added once; ``vectors`` (encoder
    vectors by ``encoder_text``) give the history its semantic index, needed by any
    variant with ``encoder=True``.
    """
    shared = shared_history(vectors)
    bases = {target: ReviewerIndex(target=target, learn=False) for target in plans}
    for base in bases.values():
        base.history = shared  # one history; the targets differ in candidates and truth
    runs = {
        target: VariantReplay(
            tuple(plan), [OnlineRanker(v.ranker_config()) for v in plan], [], shared.people
        )
        for target, plan in plans.items()
    }
    queries: dict[tuple[Target, int], Query | None] = {}
    for _, kind, position, change in _events(changes, windows.tune, windows.end, as_of):
        for target, run in runs.items():
            if kind == 0:
                window = 0 if position < windows.check else 1
                queries[target, position] = _rank(bases[target], change, run, window)
            elif windows.learns(position):
                _learn(bases[target], change, queries.pop((target, position), None), run)
        if kind == 1:
            shared.add(change)
    return runs


def _widths(run: VariantReplay) -> list[int | None]:
    """Feature columns each variant reads: all of them, or the plain ``FEATURES`` only."""
    return [None if v.encoder else len(FEATURES) for v in run.variants]


def _view(base: ReviewerIndex, change: Change) -> Change:
    """What is ranked: the change itself, or for the authors target its issue view."""
    return issue_view(change) if base.target == "authors" else change


def _rank(base: ReviewerIndex, change: Change, run: VariantReplay, window: int) -> Query | None:
    """Rank ``change`` with every variant and record it; returns the query for reuse."""
    logins = tuple(sorted(base.truth(change)))
    if not logins or len(base) == 0:
        return None
    view = _view(base, change)
    query = base.query(view)
    ids = base.candidates(view.author)
    features = base.features(query, ids)
    truth = frozenset(base.history.person_ids.get(login, -1) for login in logins)
    record = Ranked(change.created_at, change.merged_at, window, logins, truth)
    for ranker, width in zip(run.rankers, _widths(run), strict=True):
        scores = ranker.score(features[:, :width])
        order = np.argsort(-scores, kind="stable")
        record.orders.append((ids[order], scores[order]))
    run.ranked.append(record)
    return query


def _learn(base: ReviewerIndex, change: Change, query: Query | None, run: VariantReplay) -> None:
    """Every variant learns from ``change`` as ``ReviewerIndex.add`` would, sharing a query."""
    truth, seen = base.truth(change), base.learning_view(change)
    if not truth or not len(base):
        return
    if query is None or query.size != len(base) or query.change != seen:
        query = base.query(seen)  # stale or never ranked: compare with the past now
    ids = base.candidates(seen.author)
    labels = np.isin(ids, [base.history.person_ids.get(r, -1) for r in truth])
    if not labels.any():
        return
    features = base.features(query, ids)
    for ranker, width in zip(run.rankers, _widths(run), strict=True):
        ranker.observe(features[:, :width], labels, key=len(base))


def reciprocal_ranks(replay: VariantReplay, variant: int, window: int) -> np.ndarray:
    """Reciprocal rank of the first true person per evaluated change of ``window`` (0 if
    none is ranked), for one variant."""
    out = []
    for record in replay.ranked:
        if record.window != window:
            continue
        ids = record.orders[variant][0]
        hits = np.flatnonzero(np.isin(ids, list(record.truth)))
        out.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
    return np.asarray(out, dtype=float)


def window_sizes(
    n: int, *, tune_max: int, check_max: int, learn_window: int, learn_stride: int = 1
) -> Windows:
    """Split ``n`` changes: the newest quarter (at most ``check_max``) checks, the 35 % before
    it (at most ``tune_max``) tunes, and learning starts ``learn_window`` before the tuning
    (from every ``learn_stride``-th change there).

    The shares keep both windows a sizeable part of a small history; the caps bound the
    replay's cost on a large one, where the newest changes describe today's team best.
    """
    check = min(max(n // 4, 1), check_max)
    tune = min(max(int(n * 0.35), 1), tune_max)
    tune_start = max(n - check - tune, 1)
    learn_from = max(tune_start - learn_window, 0)
    return Windows(learn_from, tune_start, n - check, n, learn_stride)


def shared_history(vectors: Mapping[str, np.ndarray] | None) -> History:
    """An empty history for ``replay_variants``, with the encoder's vectors when given."""
    if vectors is None:
        return History()
    from models.reviewers.tasks import semantic_index

    return History(semantic=semantic_index(vectors))


def variant_metrics(replay: VariantReplay, variant: int, window: int) -> dict[str, float]:
    """Top-k accuracy and MRR of one variant on one window (``Metrics.as_dict``)."""
    metrics = Metrics()
    for record in replay.ranked:
        if record.window == window:
            hits = np.flatnonzero(np.isin(record.orders[variant][0], list(record.truth)))
            metrics.record_first(int(hits[0]) if len(hits) else None)
    return metrics.as_dict()
