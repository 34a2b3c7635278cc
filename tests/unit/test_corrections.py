"""Corrections reach training: people's label fixes applied to the history, weighted."""

from __future__ import annotations

from typing import Any

import pytest

from models.triage.data import LabelledItem
from workers.retrain.decide import apply_corrections, weighted


def item(number: int, *labels: str) -> LabelledItem:
    return LabelledItem("o/r", f"t{number}", "", tuple(labels), f"2024-01-0{number}", number)


def fix(number: int, kind: str, label: str) -> dict[str, Any]:
    return {"number": number, "kind": kind, "subject": label}


@pytest.mark.parametrize(
    ("feedback", "labels", "corrected"),
    [
        ([], [("bug",), ("question",)], set()),
        ([fix(1, "label_removed", "bug")], [(), ("question",)], {1}),
        (
            [fix(1, "label_removed", "bug"), fix(1, "label_added", "feature")],
            [("feature",), ("question",)],
            {1},
        ),
        ([fix(2, "label_added", "question")], [("bug",), ("question",)], {2}),  # no duplicate
        (  # the latest word wins: removed, then added back
            [fix(1, "label_removed", "bug"), fix(1, "label_added", "bug")],
            [("bug",), ("question",)],
            {1},
        ),
        ([fix(9, "label_added", "bug")], [("bug",), ("question",)], set()),  # not in history
    ],
)
def test_apply_corrections(
    feedback: list[dict[str, Any]], labels: list[tuple[str, ...]], corrected: set[int]
) -> None:
    items, changed = apply_corrections([item(1, "bug"), item(2, "question")], feedback)
    assert [i.labels for i in items] == labels
    assert changed == corrected


def test_corrected_items_weigh_more_in_training() -> None:
    train = [item(1, "bug"), item(2, "question"), item(3, "bug")]
    assert [i.number for i in weighted(train, {2}, 3)] == [1, 2, 2, 2, 3]
    assert weighted(train, set(), 3) == train
