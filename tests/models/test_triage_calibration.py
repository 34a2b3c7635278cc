"""Threshold calibration and the apply decision, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from models.triage.calibration import (
    NEVER,
    applied_stats,
    calibrate_thresholds,
    candidates,
    choose_threshold,
    labels_to_apply,
    precision_coverage_curve,
)

TH = {"bug": 0.8, "feature": 0.6, "question": NEVER}


@pytest.mark.parametrize(
    ("probs", "thresholds", "override", "single", "expected"),
    [
        ({"bug": 0.9, "feature": 0.05, "question": 0.05}, TH, None, True, ["bug"]),
        ({"bug": 0.7, "feature": 0.2, "question": 0.1}, TH, None, True, []),
        ({"bug": 0.1, "feature": 0.1, "question": 0.99}, TH, None, True, []),  # never applied
        ({"bug": 0.7, "feature": 0.3}, TH, {"bug": 0.5}, True, ["bug"]),  # per-label override
        ({"bug": 0.85, "feature": 0.1}, TH, 0.9, True, []),  # global floor raises the bar
        ({"bug": 0.9, "feature": 0.7}, TH, None, False, ["bug", "feature"]),  # multi-label
        ({"bug": 0.9, "feature": 0.7}, TH, None, True, ["bug"]),  # single-label: top only
        ({"unknown": 0.99}, TH, None, False, []),  # no threshold → never
        ({}, TH, None, False, []),
    ],
)
def test_labels_to_apply(
    probs: dict[str, float],
    thresholds: dict[str, float],
    override: dict[str, float] | float | None,
    single: bool,
    expected: list[str],
) -> None:
    assert labels_to_apply(probs, thresholds, override, single_label=single) == expected


@pytest.mark.parametrize(
    ("scores", "correct", "target", "expected"),
    [
        ([], [], 0.95, NEVER),
        ([0.9, 0.8, 0.7], [1, 1, 1], 0.95, NEVER),  # 3 hits are too few to trust
        ([0.9, 0.8, 0.7], [1, 1, 1], 0.75, 0.7),  # smoothed (3+1)/(3+2) = 0.8 at 0.7
        ([0.9, 0.8, 0.7], [1, 1, 0], 0.75, 0.8),  # (2+1)/(2+2) = 0.75 at 0.8
        # 41/43 ≥ 0.95 still holds with one miss at 0.4; the second miss breaks it.
        ([*np.linspace(1, 0.5, 40), 0.4, 0.3], [1] * 40 + [0, 0], 0.95, 0.4),
        ([0.9, 0.9, 0.5], [1, 0, 1], 0.6, 0.5),  # no cut inside tied scores
    ],
)
def test_choose_threshold(
    scores: list[float], correct: list[int], target: float, expected: float
) -> None:
    got = choose_threshold(np.array(scores, dtype=float), np.array(correct, dtype=bool), target)
    assert got == pytest.approx(expected)


def test_calibrated_thresholds_reach_target_precision_on_their_data() -> None:
    rng = np.random.default_rng(0)
    n, labels = 600, ["bug", "feature", "question"]
    truth_idx = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), truth_idx] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.eye(3)[truth_idx]
    th = calibrate_thresholds(probs, truth, labels, single_label=True, target=0.95)
    stats = applied_stats(probs, truth, labels, th, single_label=True)
    assert stats.precision >= 0.95
    assert 0.0 < stats.coverage < 1.0
    coverage, precision = precision_coverage_curve(probs, truth)
    assert coverage[-1] == pytest.approx(1.0) and precision[0] >= precision[-1]


def test_multi_label_calibration_is_per_label() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.9], [0.2, 0.95], [0.1, 0.2]] * 20)
    truth = np.array([[1, 0], [1, 1], [0, 1], [0, 0]] * 20)
    th = calibrate_thresholds(probs, truth, ["a", "b"], single_label=False, target=0.95)
    assert th["a"] == pytest.approx(0.8) and th["b"] == pytest.approx(0.9)
    stats = applied_stats(probs, truth, ["a", "b"], th, single_label=False)
    assert stats.precision == 1.0 and stats.coverage == pytest.approx(0.75)


def test_single_label_calibration_shares_one_top_label_threshold() -> None:
    # Each label alone has too few confident items to prove 95 % precision; pooled
    # over labels, the top-label probability does.
    rows = [([0.9, 0.05, 0.05], 0), ([0.05, 0.9, 0.05], 1), ([0.05, 0.05, 0.9], 2)] * 15
    rows += [([0.5, 0.3, 0.2], 1)] * 10
    probs = np.array([p for p, _ in rows])
    truth = np.eye(3)[[t for _, t in rows]]
    labels = ["bug", "feature", "question"]
    th = calibrate_thresholds(probs, truth, labels, single_label=True, target=0.95)
    assert th == dict.fromkeys(labels, pytest.approx(0.9))
    per_label = {
        lab: choose_threshold(*candidates(probs, truth, j, single_label=True), target=0.95)
        for j, lab in enumerate(labels)
    }
    assert all(t == NEVER for t in per_label.values())
    stats = applied_stats(probs, truth, labels, th, single_label=True)
    assert stats.precision == 1.0 and stats.coverage == pytest.approx(45 / 55)
