"""Review load simulated over recorded rankings, for many load policies at once.

``evaluate.replay`` simulates load while it ranks: Steward requests as many reviewers as
the change really had (its top suggestions after the discount), each request counts 1 until
the change merges and then fades with a half-life, and the discount for a later change reads
the requests open when it was created (``bot_load`` of ``workload``, relative to the
average loaded person). The rankings themselves do not depend on the load, so the same
simulation can run afterwards over what ``variants.replay_variants`` recorded, once per
policy, for the cost of a discount and a sort per change. ``Requests`` computes the bot's
rule with arrays; it equals ``LoadTracker.load_at`` (tested).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.reviewers.constraints import WORKLOAD_HALF_LIFE_DAYS, Load, _norm
from models.reviewers.evaluate import Metrics, busiest_share
from models.reviewers.variants import Ranked, VariantReplay

#: Requests older than this many half-lives weigh under 2 %; ``LoadTracker`` forgets them.
_FORGET_HALF_LIVES = 6


class Requests:
    """Simulated review requests as arrays: who (person id), created, closed."""

    def __init__(self, groups: np.ndarray, half_life_days: float = WORKLOAD_HALF_LIFE_DAYS) -> None:
        """``groups[i]``: the load key of person ``i`` (logins equal once normalised share
        one, as in ``relative_load``)."""
        self.groups = groups
        self.rate = math.log(2.0) / (half_life_days * 86_400.0)
        self.half_life_days = half_life_days
        self.person: list[int] = []
        self.created: list[float] = []
        self.closed: list[float] = []

    def relative(self, moment: float) -> np.ndarray:
        """Workload per load key at ``moment`` divided by the mean over loaded keys."""
        size = int(self.groups.max()) + 1 if len(self.groups) else 0
        if not self.person:
            return np.zeros(size)
        created, closed = np.asarray(self.created), np.asarray(self.closed)
        age = np.where(moment < closed, 0.0, moment - closed)
        weight = np.where(created > moment, 0.0, np.exp(-self.rate * age))
        counts = np.bincount(self.groups[np.asarray(self.person)], weight, size)
        loaded = counts[counts > 0]
        return counts / (loaded.mean() if len(loaded) else 1.0)

    def assign(self, created: float, closed: float, people: Sequence[int] | np.ndarray) -> None:
        """Open one request per person until ``closed``; forget long-faded ones as
        ``LoadTracker.assign`` does (the same rule, so the numbers agree)."""
        for person in people:
            self.person.append(int(person))
            self.created.append(created)
            self.closed.append(closed)
        horizon = closed - _FORGET_HALF_LIVES * self.half_life_days * 86_400.0
        start = next((i for i, m in enumerate(self.closed) if m >= horizon), len(self.closed))
        if start > len(self.closed) // 2:
            del self.person[:start], self.created[:start], self.closed[:start]


def load_groups(people: Sequence[str]) -> np.ndarray:
    """Per person id, the id of its normalised login (the key the load rule counts by)."""
    keys: dict[str, int] = {}
    return np.asarray([keys.setdefault(_norm(p), len(keys)) for p in people], dtype=int)


@dataclass(frozen=True)
class LoadOutcome:
    """One load policy on one window: as-run metrics and busiest shares.

    ``share`` is the busiest person's share of Steward's simulated requests, ``history_share``
    the same share of the real reviews in the same window, ``share_error`` the standard
    error of their difference (``share_gap_error``); ``rr`` holds the reciprocal ranks (for
    paired comparisons; not serialised).
    """

    per_request: float
    free_load: float
    metrics: dict[str, float]
    share: float
    history_share: float
    rr: tuple[float, ...] = field(default=(), compare=False, repr=False)
    share_error: float = 0.0

    @property
    def mrr(self) -> float:
        """As-run mean reciprocal rank."""
        return float(self.metrics.get("mrr", 0.0))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (without ``rr``)."""
        return {
            "per_request": self.per_request,
            "free_load": self.free_load,
            "metrics": dict(self.metrics),
            "share": self.share,
            "history_share": self.history_share,
            "share_error": self.share_error,
        }


def simulate(
    replay: VariantReplay,
    variant: int,
    policy: Load,
    half_life_days: float = WORKLOAD_HALF_LIFE_DAYS,
) -> tuple[LoadOutcome, LoadOutcome]:
    """Run ``policy`` over the recorded rankings of ``variant``: the tuning and check windows.

    The simulated requests carry over from the tuning window into the check window, as they
    would in a replay of both.
    """
    requests = Requests(load_groups(replay.people), half_life_days)
    metrics = (Metrics(), Metrics())
    rows: tuple[list[_Row], list[_Row]] = ([], [])
    for record in replay.ranked:
        ids, scores = record.orders[variant]
        chosen = _discounted(ids, scores, requests, record.created, policy)
        hits = np.flatnonzero(np.isin(chosen, list(record.truth)))
        first = int(hits[0]) if len(hits) else None
        metrics[record.window].record_first(first)
        requested = chosen[: len(record.truth_logins)]
        rows[record.window].append(
            _Row(
                0.0 if first is None else 1.0 / (first + 1),
                tuple(replay.people[i] for i in requested),
                record.truth_logins,
            )
        )
        requests.assign(record.created, record.merged, requested)
    tune, check = (_outcome(policy, metrics[w], rows[w]) for w in (0, 1))
    return tune, check


@dataclass(frozen=True)
class _Row:
    """One simulated change: reciprocal rank, who Steward asked, who really reviewed."""

    rr: float
    asked: tuple[str, ...]
    real: tuple[str, ...]


def _outcome(policy: Load, metrics: Metrics, rows: Sequence[_Row]) -> LoadOutcome:
    asked = Counter(login for row in rows for login in row.asked)
    real = Counter(login for row in rows for login in row.real)
    return LoadOutcome(
        policy.per_request,
        policy.free_load,
        metrics.as_dict(),
        busiest_share(asked)[1],
        busiest_share(real)[1],
        tuple(row.rr for row in rows),
        share_gap_error([row.asked for row in rows], [row.real for row in rows]),
    )


def share_gap_error(
    asked: Sequence[Sequence[str]],
    real: Sequence[Sequence[str]],
    *,
    blocks: int = 20,
    draws: int = 200,
    seed: int = 0,
) -> float:
    """Standard error of (Steward's busiest share - the history's) on a window, by a block
    bootstrap: the window is cut into ``blocks`` runs of consecutive changes, which are
    resampled with replacement. Whole runs are resampled because reviews come in streaks
    (one person covers a period), which makes single changes far from independent.
    """
    if len(asked) < 2 * blocks:
        return 0.0
    people = {login: i for i, login in enumerate(sorted({*_flat(asked), *_flat(real)}))}
    counts = np.zeros((2, blocks, len(people)))
    for side, rows in enumerate((asked, real)):
        for position, row in enumerate(rows):
            for login in row:
                counts[side, position * blocks // len(rows), people[login]] += 1
    picks = np.random.default_rng(seed).integers(0, blocks, size=(draws, blocks))
    sums = counts[:, picks].sum(axis=2)  # (side, draw, person)
    shares = sums.max(axis=2) / np.maximum(sums.sum(axis=2), 1.0)
    return round(float(np.std(shares[0] - shares[1])), 4)


def _flat(rows: Sequence[Sequence[str]]) -> list[str]:
    return [login for row in rows for login in row]


def _discounted(
    ids: np.ndarray, scores: np.ndarray, requests: Requests, moment: float, policy: Load
) -> np.ndarray:
    """Candidate ids re-ordered by score times the policy's load factor (stable)."""
    if policy.per_request == 0:
        return ids
    load = requests.relative(moment)[requests.groups[ids]]
    factor = 1.0 / (1.0 + policy.per_request * np.maximum(load - policy.free_load, 0.0))
    return ids[np.argsort(-(scores * factor), kind="stable")]


def ranked_windows(ranked: Sequence[Ranked]) -> tuple[int, int]:
    """How many evaluated changes each window holds (tuning, check)."""
    tune = sum(1 for r in ranked if r.window == 0)
    return tune, len(ranked) - tune
