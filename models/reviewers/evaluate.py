"""Chronological replay: Steward's ranker and RevFinder on the same history, same run.

Changes are replayed in merge order. For each change in the evaluated slice (by default the
last half), both rankers see only changes merged strictly before it; the author is dropped
from the candidates and from the truth, and changes left without a true reviewer are
skipped. The index learns from a change only after it has been ranked.

Review load is simulated as well: Steward requests as many reviewers as the change really
had (its top suggestions after the load discount); each request stays open from the
change's creation until its merge, and the discount for a later change counts the requests
open when that change was created. The busiest person's share of all requests is then
comparable with the same share in the real history.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from models.reviewers.constraints import (
    LOAD_POLICY,
    WORKLOAD_HALF_LIFE_DAYS,
    Load,
    Request,
    apply_load,
    bot_load,
    workload,
)
from models.reviewers.data import Change
from models.reviewers.features import Query
from models.reviewers.index import ReviewerIndex

K_VALUES: tuple[int, ...] = (1, 3, 5, 10)
#: Discount policy of the replay: the bot's own (``constraints.LOAD_POLICY``).
REPLAY_LOAD = LOAD_POLICY
#: Half-life of a simulated request after its change merged: recent work still counts.
LOAD_HALF_LIFE_DAYS = WORKLOAD_HALF_LIFE_DAYS


@dataclass
class Metrics:
    """Top-k accuracy (any true reviewer in the top k) and mean reciprocal rank."""

    k_values: tuple[int, ...] = K_VALUES
    hits: Counter[int] = field(default_factory=Counter)
    reciprocal_rank: float = 0.0
    n: int = 0

    def record(self, ranking: Sequence[str], truth: set[str]) -> None:
        """Score one ranked list against the true reviewers."""
        self.record_first(next((i for i, login in enumerate(ranking) if login in truth), None))

    def record_first(self, first: int | None) -> None:
        """Score one ranked list by the position of its first true person (``None``: absent)."""
        self.n += 1
        if first is None:
            return
        self.reciprocal_rank += 1.0 / (first + 1)
        for k in self.k_values:
            if first < k:
                self.hits[k] += 1

    def as_dict(self) -> dict[str, float]:
        """``{"top1", "top3", ..., "mrr", "n"}`` (rates rounded to 4 decimals)."""
        out: dict[str, float] = {
            f"top{k}": round(self.hits[k] / self.n, 4) if self.n else 0.0 for k in self.k_values
        }
        out["mrr"] = round(self.reciprocal_rank / self.n, 4) if self.n else 0.0
        out["n"] = self.n
        return out


@dataclass
class LoadTracker:
    """Simulated review requests from the replay's own suggestions."""

    policy: Load
    half_life_days: float = LOAD_HALF_LIFE_DAYS
    created: list[float] = field(default_factory=list)
    merged: list[float] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def load_at(self, moment: float) -> Load:
        """Workload at ``moment`` relative to the average reviewer's, as the discount's input.

        A request counts 1 while its change is open and then decays with the half-life;
        dividing by the mean over loaded people makes the discount independent of how many
        changes a repository merges per week.
        """
        requests = [
            Request(login, created, merged)
            for login, created, merged in zip(self.logins, self.created, self.merged, strict=True)
        ]
        # The bot's rule (``workload`` then ``bot_load``) on the simulated requests: the
        # replay measures exactly what the bot does.
        return bot_load(workload(requests, moment, self.half_life_days), policy=self.policy)

    def assign(self, change: Change, logins: Sequence[str]) -> None:
        """Open requests for ``logins`` on ``change`` until it merges."""
        for login in logins:
            self.created.append(change.created_at)
            self.merged.append(change.merged_at)
            self.logins.append(login)
        # Requests that have decayed to nothing can be forgotten: keep the lists short.
        horizon = change.merged_at - 6 * self.half_life_days * 86_400.0
        start = next((i for i, m in enumerate(self.merged) if m >= horizon), len(self.merged))
        if start > len(self.merged) // 2:
            del self.created[:start], self.merged[:start], self.logins[:start]


def busiest_share(counts: Counter[str]) -> tuple[str, float]:
    """The person with most requests and their share of all requests."""
    total = sum(counts.values())
    if not total:
        return "", 0.0
    login, top = counts.most_common(1)[0]
    return login, round(top / total, 4)


@dataclass
class ReplayReport:
    """Everything one replay measured."""

    steward: Metrics = field(default_factory=Metrics)
    revfinder: Metrics = field(default_factory=Metrics)
    steward_with_load: Metrics = field(default_factory=Metrics)
    popularity: Metrics = field(default_factory=Metrics)  # most past reviews first
    tfidf: Metrics = field(default_factory=Metrics)  # summed TF-IDF similarity of reviewed changes
    real_requests: Counter[str] = field(default_factory=Counter)
    steward_requests: Counter[str] = field(default_factory=Counter)  # without the discount
    loaded_requests: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    n_changes: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: ``steward``, ``revfinder``, baselines and the ``load`` section."""
        real, real_share = busiest_share(self.real_requests)
        plain, plain_share = busiest_share(self.steward_requests)
        loaded, loaded_share = busiest_share(self.loaded_requests)
        return {
            "steward": self.steward.as_dict(),
            "revfinder": self.revfinder.as_dict(),
            "popularity": self.popularity.as_dict(),
            "tfidf": self.tfidf.as_dict(),
            "load": {
                "real_busiest": real,
                "real_busiest_share": real_share,
                "steward_busiest": loaded,
                "steward_busiest_share": loaded_share,
                "steward_no_discount_busiest": plain,
                "steward_no_discount_busiest_share": plain_share,
                "requests": sum(self.real_requests.values()),
                "steward_with_load": self.steward_with_load.as_dict(),
            },
        }


def _events(
    changes: Sequence[Change], first: int, last: int, as_of: str
) -> list[tuple[float, int, int, Change]]:
    """Replay events ``(time, kind, position, change)`` in order; kind 0 ranks, 1 adds.

    Positions are in merge order. A change is ranked at its merge time (``as_of="merged"``,
    the protocol of the RevFinder paper) or at its creation time (``"created"``, what the
    bot sees when a pull request opens); at equal times ranking comes first, so only
    changes merged strictly before count as past.
    """
    ordered = sorted(changes, key=lambda c: c.merged_at)
    events = [(c.merged_at, 1, p, c) for p, c in enumerate(ordered[:last])]
    for position in range(first, last):
        change = ordered[position]
        moment = change.created_at if as_of == "created" else change.merged_at
        events.append((moment, 0, position, change))
    events.sort(key=lambda event: event[:3])
    return events


def replay(
    changes: Sequence[Change],
    *,
    eval_from: float = 0.5,
    eval_to: float = 1.0,
    as_of: str = "merged",
    load: Load | None = None,
    load_half_life_days: float = LOAD_HALF_LIFE_DAYS,
    k_values: Sequence[int] = K_VALUES,
    index: ReviewerIndex | None = None,
    progress: bool = False,
) -> ReplayReport:
    """Replay ``changes``; evaluate positions ``[eval_from, eval_to)`` of the merge order.

    ``as_of`` picks when a change is ranked (``"merged"`` or ``"created"``, see
    ``_events``). ``load`` sets the discount policy; a simulated request counts fully while
    its change is open and then decays with ``load_half_life_days``.
    """
    if as_of not in ("merged", "created"):
        raise ValueError(f"as_of must be 'merged' or 'created', not {as_of!r}")
    started = time.perf_counter()
    index = index if index is not None else ReviewerIndex()
    tracker = LoadTracker(load or REPLAY_LOAD, load_half_life_days)
    ks = tuple(sorted(set(k_values)))
    report = ReplayReport(
        steward=Metrics(ks),
        revfinder=Metrics(ks),
        steward_with_load=Metrics(ks),
        popularity=Metrics(ks),
        tfidf=Metrics(ks),
    )
    report.n_changes = len(changes)
    first, last = int(len(changes) * eval_from), int(len(changes) * eval_to)
    # Examples older than the ranker's training window would be dropped before the first
    # evaluated change anyway: skip computing them.
    learn_from, learning = first - index.ranker.config.max_train_changes, index.learn
    queries: dict[int, Query | None] = {}
    with tqdm(total=last, file=sys.stderr, disable=not progress, desc="replay") as bar:
        for _, kind, position, change in _events(changes, first, last, as_of):
            if kind == 0:
                queries[position] = _evaluate(index, change, report, tracker)
                continue
            index.learn = learning and position >= learn_from
            # A query is reused only if nothing was added since (ReviewerIndex checks).
            index.add(change, queries.pop(position, None))
            bar.update(1)
    index.learn = learning
    report.seconds = time.perf_counter() - started
    return report


def _evaluate(
    index: ReviewerIndex, change: Change, report: ReplayReport, tracker: LoadTracker
) -> Query | None:
    """Rank one change with both rankers and record metrics and load; returns its query."""
    truth = {r for r in change.reviewers if r and r != change.author}
    if not truth or len(index) == 0:
        return None
    query = index.query(change)
    steward = index.rank(change, query)
    report.steward.record([login for login, _ in steward], truth)
    report.revfinder.record([login for login, _ in index.revfinder(change, query)], truth)
    for metrics, ranking in zip(
        (report.popularity, report.tfidf), baseline_rankings(index, change, query), strict=True
    ):
        metrics.record(ranking, truth)
    loaded = apply_load(steward, tracker.load_at(change.created_at))
    report.steward_with_load.record([login for login, _ in loaded], truth)
    report.real_requests.update(truth)
    report.steward_requests.update(login for login, _ in steward[: len(truth)])
    requested = [login for login, _ in loaded[: len(truth)]]
    report.loaded_requests.update(requested)
    tracker.assign(change, requested)
    return query


def baseline_rankings(index: ReviewerIndex, change: Change, query: Query) -> list[list[str]]:
    """Simple baselines over the index's candidates: most past reviews, and most summed
    TF-IDF similarity of the changes each person reviewed (ties: first seen first)."""
    history = index.history
    ids = index.candidates(change.author)
    rc, rp = history.review_change.view, history.review_person.view
    text = np.bincount(rp, query.text_similarity[rc], history.n_people)
    return [
        [history.people[i] for i in ids[np.argsort(-scores[ids], kind="stable")]]
        for scores in (history.review_counts(), text)
    ]
