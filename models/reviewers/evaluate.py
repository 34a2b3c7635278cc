"""Chronological replay: Steward's ranker and RevFinder on the same history, same run.

Changes are replayed in merge order. For each change in the evaluated slice (by default the
last half), both rankers see only changes merged strictly before it; the author is dropped
from the candidates and from the truth, and changes left without a true reviewer are
skipped. The index learns from a change only after it has been ranked.

Review load is simulated as well: each change's top suggestion (after the load discount)
holds an open request from the change's creation until its merge, and the discount for a
later change counts the requests open when that change was created.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from tqdm import tqdm

from models.reviewers.constraints import Load, apply_load
from models.reviewers.data import Change
from models.reviewers.index import ReviewerIndex

K_VALUES: tuple[int, ...] = (1, 3, 5, 10)


@dataclass
class Metrics:
    """Top-k accuracy (any true reviewer in the top k) and mean reciprocal rank."""

    k_values: tuple[int, ...] = K_VALUES
    hits: Counter[int] = field(default_factory=Counter)
    reciprocal_rank: float = 0.0
    n: int = 0

    def record(self, ranking: Sequence[str], truth: set[str]) -> None:
        """Score one ranked list against the true reviewers."""
        self.n += 1
        first = next((i for i, login in enumerate(ranking) if login in truth), None)
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
    """Simulated open review requests from the replay's own suggestions."""

    policy: Load
    open: list[tuple[float, float, str]] = field(default_factory=list)  # created, merged, login
    assigned: Counter[str] = field(default_factory=Counter)

    def load_at(self, moment: float) -> Load:
        """Requests open at ``moment`` (created before it, merged after it)."""
        counts = Counter(login for created, merged, login in self.open if created <= moment < merged)
        return Load(
            open_requests=dict(counts),
            per_request=self.policy.per_request,
            busy_factor=self.policy.busy_factor,
        )

    def assign(self, change: Change, login: str) -> None:
        """Open a request for ``login`` on ``change`` until it merges."""
        self.assigned[login] += 1
        self.open.append((change.created_at, change.merged_at, login))
        # Requests merged long ago can no longer overlap anything: keep the list short.
        horizon = change.merged_at - 365 * 86_400.0
        self.open = [item for item in self.open if item[1] >= horizon]


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
    real_requests: Counter[str] = field(default_factory=Counter)
    steward_top1: Counter[str] = field(default_factory=Counter)
    loaded_top1: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    n_changes: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` object: ``steward``, ``revfinder`` and ``load`` sections."""
        real, real_share = busiest_share(self.real_requests)
        plain, plain_share = busiest_share(self.steward_top1)
        loaded, loaded_share = busiest_share(self.loaded_top1)
        return {
            "steward": self.steward.as_dict(),
            "revfinder": self.revfinder.as_dict(),
            "load": {
                "real_busiest": real,
                "real_busiest_share": real_share,
                "steward_top1_busiest": plain,
                "steward_top1_busiest_share": plain_share,
                "steward_loaded_top1_busiest": loaded,
                "steward_loaded_top1_busiest_share": loaded_share,
                "steward_with_load": self.steward_with_load.as_dict(),
            },
            "changes": self.n_changes,
            "seconds": round(self.seconds, 2),
        }


def _groups(changes: Sequence[Change]) -> Iterator[list[tuple[int, Change]]]:
    """Changes in merge order, grouped by identical merge time (none sees the others)."""
    ordered = sorted(enumerate(changes), key=lambda item: item[1].merged_at)
    for _, group in groupby(enumerate(c for _, c in ordered), key=lambda item: item[1].merged_at):
        yield list(group)


def replay(
    changes: Sequence[Change],
    *,
    eval_from: float = 0.5,
    eval_to: float = 1.0,
    load: Load | None = None,
    index: ReviewerIndex | None = None,
    progress: bool = False,
) -> ReplayReport:
    """Replay ``changes``; evaluate positions ``[eval_from, eval_to)`` of the merge order."""
    started = time.perf_counter()
    index = index if index is not None else ReviewerIndex()
    tracker = LoadTracker(load or Load())
    report = ReplayReport(n_changes=len(changes))
    first, last = int(len(changes) * eval_from), int(len(changes) * eval_to)
    bar = tqdm(total=last, file=sys.stderr, disable=not progress, desc="replay", unit="change")
    for group in _groups(changes):
        queries = {}
        for position, change in group:
            if first <= position < last:
                queries[position] = _evaluate(index, change, report, tracker)
        for position, change in group:
            if position < last:
                index.add(change, queries.get(position))
        bar.update(sum(1 for position, _ in group if position < last))
        if group[-1][0] >= last - 1:
            break
    bar.close()
    report.seconds = time.perf_counter() - started
    return report


def _evaluate(
    index: ReviewerIndex, change: Change, report: ReplayReport, tracker: LoadTracker
) -> Any:
    """Rank one change with both rankers and record metrics and load; returns its query."""
    truth = {r for r in change.reviewers if r and r != change.author}
    if not truth or len(index) == 0:
        return None
    query = index.query(change)
    steward = index.rank(change, query)
    report.steward.record([login for login, _ in steward], truth)
    report.revfinder.record([login for login, _ in index.revfinder(change, query)], truth)
    loaded = apply_load(steward, tracker.load_at(change.created_at))
    report.steward_with_load.record([login for login, _ in loaded], truth)
    report.real_requests.update(truth)
    if steward:
        report.steward_top1[steward[0][0]] += 1
    if loaded:
        report.loaded_top1[loaded[0][0]] += 1
        tracker.assign(change, loaded[0][0])
    return query
