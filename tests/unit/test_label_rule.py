"""One label rule: the bot and ``steward evaluate`` turn probabilities into labels alike.

``steward evaluate`` scores :func:`models.triage.calibration.labels_to_apply` (through
``applied_stats``); the bot calls :func:`workers.triage.decide.choose_labels`, which adds
only the repository's own constraints (labels that exist, allow/deny, aliases, labels a
person removed, ``max_labels``). With none of those in play both must pick the same
labels for every item.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.config_schema import TriageConfig
from models.triage.calibration import NEVER, applied_stats, labels_to_apply
from workers.triage.decide import Prediction, choose_labels

LABELS = ["bug", "docs", "feature", "question"]


def bot_labels(
    probs: dict[str, float],
    thresholds: dict[str, float],
    *,
    single_label: bool,
    min_confidence: dict[str, float] | None = None,
) -> list[str]:
    """What the bot applies when the repository has every label and sets no limits."""
    config = TriageConfig(min_confidence=min_confidence or {}, max_labels=len(LABELS))
    prediction = Prediction(probs, thresholds, single_label=single_label, source="model")
    return [name for name, _ in choose_labels(prediction, repo_labels=LABELS, config=config)]


CASES = [
    # name, probabilities, thresholds, single_label, min_confidence
    ("single: top clears", [0.7, 0.1, 0.1, 0.1], [0.6] * 4, True, None),
    ("single: top below", [0.5, 0.3, 0.1, 0.1], [0.6] * 4, True, None),
    ("single: only the top may apply", [0.5, 0.45, 0.05, 0.0], [0.4] * 4, True, None),
    ("single: exactly at the threshold", [0.6, 0.2, 0.1, 0.1], [0.6] * 4, True, None),
    ("multi: two clear", [0.9, 0.2, 0.8, 0.1], [0.85, 0.5, 0.7, 0.5], False, None),
    ("multi: none clear", [0.4, 0.2, 0.3, 0.1], [0.85, 0.5, 0.7, 0.5], False, None),
    ("never threshold", [0.99, 0.0, 0.0, 0.0], [NEVER, 0.5, 0.5, 0.5], False, None),
    ("override lowers a label", [0.3, 0.2, 0.8, 0.1], [0.85, 0.5, 0.7, 0.5], False, {"bug": 0.25}),
    ("override raises a label", [0.9, 0.2, 0.8, 0.1], [0.85, 0.5, 0.7, 0.5], False, {"bug": 0.95}),
    ("override on single label", [0.55, 0.3, 0.1, 0.05], [0.9] * 4, True, {"bug": 0.5}),
    ("ties broken by name", [0.4, 0.4, 0.1, 0.1], [0.3] * 4, True, None),
]


@pytest.mark.parametrize(
    ("probs", "thresholds", "single", "overrides"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bot_and_evaluate_choose_the_same_labels(
    probs: list[float],
    thresholds: list[float],
    single: bool,
    overrides: dict[str, float] | None,
) -> None:
    p = dict(zip(LABELS, probs, strict=True))
    t = dict(zip(LABELS, thresholds, strict=True))
    measured = labels_to_apply(p, t, overrides, single_label=single)
    assert bot_labels(p, t, single_label=single, min_confidence=overrides) == measured


@pytest.mark.parametrize("single", [True, False])
def test_applied_precision_counts_what_the_bot_would_apply(single: bool) -> None:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(len(LABELS)), size=300) if single else rng.random((300, 4))
    truth = (rng.random((300, 4)) < 0.3).astype(int)
    thresholds = dict(zip(LABELS, [0.35, 0.5, 0.45, 0.6], strict=True))
    stats = applied_stats(probs, truth, LABELS, thresholds, single_label=single)
    applied = correct = 0
    for row, true_row in zip(probs, truth, strict=True):
        chosen = bot_labels(
            dict(zip(LABELS, row.tolist(), strict=True)), thresholds, single_label=single
        )
        applied += len(chosen)
        correct += sum(int(true_row[LABELS.index(name)]) for name in chosen)
    assert (stats.applied, stats.correct) == (applied, correct)
    assert applied > 0
