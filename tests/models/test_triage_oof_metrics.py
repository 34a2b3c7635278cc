"""Cross-validated metrics of out-of-fold predictions: the applied count, precision and
coverage describe the same nested-threshold decisions."""

from __future__ import annotations

import numpy as np
import pytest

from models.triage.data import LabelledItem
from models.triage.finetune import TrainConfig, make_tasks
from models.triage.train import oof_metrics

LABELS = ("bug", "feature", "question")


def test_applied_count_matches_precision_and_coverage() -> None:
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), 40)
    items = [LabelledItem("o/r", f"t{i}", "", (LABELS[t],)) for i, t in enumerate(truth)]
    probs = np.full((len(truth), 3), 0.05)
    confident = rng.random(len(truth)) < 0.6
    probs[confident, truth[confident]] = 0.9  # confident and right
    unsure = np.flatnonzero(~confident)
    probs[unsure] = rng.dirichlet(np.ones(3), len(unsure)) * 0.6  # unsure, often wrong
    groups = {"o/r": items}
    cfg = TrainConfig(base_model="unused", seed=0, progress=False)
    report = oof_metrics(groups, make_tasks(groups), {"o/r": probs}, cfg, k=3)["o/r"]
    assert report["applied"] > 0
    # Single-label: one label per covered item.
    assert report["applied"] == pytest.approx(report["coverage"] * len(items))
    assert report["applied_precision"] >= 0.95
