"""Training readiness (``models/triage/plan.py``) as tables: the split by time, which
labels a repository has enough issues of, and the items left once labels are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.triage.data import LabelledItem
from models.triage.plan import RetrainPolicy, plan_training, restrict, time_split

BASE = datetime(2024, 1, 1, tzinfo=UTC)


def item(day: int, *labels: str, number: int | None = None) -> LabelledItem:
    """An issue created ``day`` days after BASE."""
    when = (BASE + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return LabelledItem(
        repo="o/r", title=f"t{day}", body="", labels=labels, created_at=when, number=number or day
    )


@pytest.mark.parametrize(
    ("days", "fraction", "train", "holdout"),
    [
        pytest.param([3, 1, 2, 5, 4], 0.2, [1, 2, 3, 4], [5], id="newest fifth held out"),
        pytest.param(list(range(10)), 0.2, list(range(8)), [8, 9], id="exact 80/20"),
        pytest.param([1, 2], 0.2, [1], [2], id="at least one held out"),
        pytest.param([1, 2, 3], 0.9, [1], [2, 3], id="at least one trained on"),
        pytest.param([7], 0.2, [7], [], id="one item: nothing to hold out"),
        pytest.param([], 0.2, [], [], id="empty"),
    ],
)
def test_time_split(days: list[int], fraction: float, train: list[int], holdout: list[int]) -> None:
    split = time_split([item(d) for d in days], fraction)
    assert [it.number for it in split.train] == train
    assert [it.number for it in split.holdout] == holdout


def test_time_split_breaks_ties_by_number() -> None:
    same_day = [item(1, number=n) for n in (3, 1, 2)]
    assert [it.number for it in time_split(same_day, 0.34).holdout] == [3]


def history(counts: dict[str, int]) -> list[LabelledItem]:
    """Items with labels interleaved over time (so every label is spread out)."""
    order = [lab for i in range(max(counts.values())) for lab, n in counts.items() if i < n]
    return [item(day, lab) for day, lab in enumerate(order)]


@pytest.mark.parametrize(
    ("counts", "policy", "ready", "labels", "why"),
    [
        pytest.param(
            {"bug": 60, "feature": 60}, RetrainPolicy(), True, ["bug", "feature"], "ready"
        ),
        pytest.param({"bug": 40, "feature": 40}, RetrainPolicy(), False, [], "80 labelled issues"),
        pytest.param({"bug": 150}, RetrainPolicy(), False, [], "1 label(s)"),
        pytest.param(
            {"bug": 100, "feature": 50, "wontfix": 5},
            RetrainPolicy(),
            True,
            ["bug", "feature"],
            "ready",
            id="rare label left out",
        ),
        pytest.param(
            {"bug": 30, "feature": 30},
            RetrainPolicy(min_items=40, min_per_label=5),
            True,
            ["bug", "feature"],
            "ready",
            id="thresholds are parameters",
        ),
        pytest.param(
            {"bug": 100, "feature": 100},
            RetrainPolicy(min_labels=3),
            False,
            [],
            "2 label(s)",
            id="needs three labels",
        ),
    ],
)
def test_plan_training(
    counts: dict[str, int], policy: RetrainPolicy, ready: bool, labels: list[str], why: str
) -> None:
    readiness = plan_training(history(counts), policy)
    assert readiness.ready is ready and why in readiness.reason
    if ready:
        assert readiness.plan is not None and readiness.plan.labels == labels
        split = readiness.plan.split
        assert split.train[-1].created_at <= split.holdout[0].created_at  # by time, no overlap


def test_plan_ignores_unlabelled_items_and_counts_labels_on_the_training_part() -> None:
    items = history({"bug": 80, "feature": 80}) + [item(500 + i) for i in range(50)]
    # "new" appears only in the newest issues: it is not learned yet, and dropped.
    items += [item(1000 + i, "new") for i in range(30)]
    readiness = plan_training(items, RetrainPolicy())
    assert readiness.plan is not None and readiness.plan.labels == ["bug", "feature"]
    assert all("new" not in it.labels for it in readiness.plan.split.holdout)


def test_restrict_drops_labels_and_items_left_without_one() -> None:
    kept = restrict([item(1, "bug", "p1"), item(2, "p1")], ["bug"])
    assert [(it.number, it.labels) for it in kept] == [(1, ("bug",))]
