"""The gate: labels go live only on precision measured on the newest items."""

from __future__ import annotations

import numpy as np
import pytest

from models.triage.calibration import NEVER
from models.triage.data import LabelInfo, LabelledItem
from models.triage.gate import (
    GatePolicy,
    LabelGate,
    LiveCounts,
    gate_from_json,
    gate_labels,
    live_verdict,
    time_cut,
    verdict,
)
from models.triage.zeroshot import ZeroShotClassifier

LABELS = ["bug", "feature"]


def history(n: int, *, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Chronological two-label probabilities where the top label is wrong ``noise`` of the time."""
    rng = np.random.default_rng(seed)
    truth_col = rng.integers(0, 2, n)
    conf = rng.uniform(0.55, 1.0, n)
    wrong = rng.random(n) < noise
    top = np.where(wrong, 1 - truth_col, truth_col)
    probs = np.zeros((n, 2))
    probs[np.arange(n), top] = conf
    probs[np.arange(n), 1 - top] = 1 - conf
    truth = np.zeros((n, 2), dtype=int)
    truth[np.arange(n), truth_col] = 1
    return probs, truth


@pytest.mark.parametrize(
    ("n", "noise", "live"),
    [
        (400, 0.0, {"bug": True, "feature": True}),  # clean and plentiful: live
        (400, 0.3, {"bug": False, "feature": False}),  # a third wrong at every confidence
        (12, 0.0, {"bug": False, "feature": False}),  # right, but too little to tell
        (0, 0.0, {"bug": False, "feature": False}),  # no history at all
    ],
)
def test_gate_needs_precision_and_support(n: int, noise: float, live: dict[str, bool]) -> None:
    probs, truth = history(n, noise=noise) if n else (np.zeros((0, 2)), np.zeros((0, 2)))
    gates = gate_labels(probs, truth, LABELS, policy=GatePolicy(target=0.95, min_support=10))
    assert {label: g.live for label, g in gates.items()} == live
    for g in gates.values():
        assert g.reason
        if not n:
            assert g.threshold == NEVER and g.applied == 0


def test_measured_on_the_newest_items_only() -> None:
    probs, truth = history(200, noise=0.0)
    probs[100:] = probs[100:, ::-1]  # the newest half: the classifier got worse
    gates = gate_labels(probs, truth, LABELS, policy=GatePolicy(measure_fraction=0.5))
    assert not any(g.live for g in gates.values())
    assert all(g.measured_on == 100 for g in gates.values())


@pytest.mark.parametrize(
    ("applied", "correct", "live"),
    [(9, 9, False), (10, 10, False), (18, 18, True), (40, 39, True), (40, 37, False)],
)
def test_verdict_smooths_small_samples(applied: int, correct: int, live: bool) -> None:
    ok, why = verdict(applied, correct, GatePolicy(target=0.95, min_support=10))
    assert ok is live and why


@pytest.mark.parametrize(("count", "cut"), [(0, 0), (1, 1), (2, 1), (3, 1), (10, 5), (11, 5)])
def test_time_cut(count: int, cut: int) -> None:
    assert time_cut(count, 0.5) == cut


GATE = LabelGate(
    "bug", 0.8, applied=20, correct=20, positives=25, measured_on=50, live=False, reason="x"
)


@pytest.mark.parametrize(
    ("live", "counts", "after"),
    [
        (False, LiveCounts(shadow_judged=20, shadow_correct=20), True),  # promoted
        (False, LiveCounts(shadow_judged=20, shadow_correct=15), False),
        (False, LiveCounts(shadow_judged=5, shadow_correct=5), False),
        (True, LiveCounts(live_applied=20, live_correct=12), False),  # demoted
        (True, LiveCounts(live_applied=20, live_correct=20), True),
        (True, LiveCounts(live_applied=3, live_correct=0), True),  # too few to judge
    ],
)
def test_live_verdict(live: bool, counts: LiveCounts, after: bool) -> None:
    gate = gate_from_json({**GATE.to_json(), "live": live})
    changed = live_verdict(gate, counts, GatePolicy(target=0.95, min_support=10))
    assert changed.live is after
    if after != live:
        assert changed.reason.startswith("promoted" if after else "demoted")


def test_json_round_trip() -> None:
    assert gate_from_json(GATE.to_json()) == GATE
    assert GATE.to_json()["precision"] == 1.0 and GATE.coverage == 0.4


class Letters:
    """A tiny encoder: bag of letters a–e, so similarity is easy to reason about."""

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[t.count(c) + 0.01 for c in "abcde"] for t in texts], dtype=np.float32)


def test_prequential_scores_use_only_older_examples() -> None:
    items = [
        LabelledItem("o/r", "aaaa", "", ("x",), "2024-01-01"),
        LabelledItem("o/r", "eeee", "", ("y",), "2024-01-02"),
        LabelledItem("o/r", "aaab", "", ("x",), "2024-01-03"),
        LabelledItem("o/r", "eeed", "", ("y",), "2024-01-04"),
    ]
    labels = [LabelInfo("x", "ccc"), LabelInfo("y", "ccc")]  # names say nothing
    clf = ZeroShotClassifier(labels, items, encoder=Letters(), prior_examples=0.5)
    probs = clf.prequential_probs()
    assert probs.shape == (4, 2)
    assert abs(probs[0, 0] - 0.5) < 1e-6  # the first item had no neighbours: names only
    assert probs[2, 0] > 0.9 and probs[3, 1] > 0.9  # later items learn from older ones
    # the same item scored with everything as examples is at least as sure
    (full,) = clf.predict([items[2]])
    assert full["x"] >= probs[2, 0] - 1e-6
