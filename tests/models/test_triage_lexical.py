"""The TF-IDF channel: fitting, probabilities, save/load without pickles, blending."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.triage.lexical import LexicalModel, blend

TEXTS = [
    "app crashes on start",
    "crash when saving the file",
    "segfault after update",
    "please add dark mode",
    "feature request: export to csv",
    "support yaml config",
    "how do I configure the proxy",
    "question about the install",
    "where are logs written",
] * 2
SINGLE = np.repeat(np.eye(3, dtype=np.float32), 3, axis=0)
SINGLE = np.vstack([SINGLE, SINGLE])


def test_single_label_probabilities_sum_to_one_and_follow_words() -> None:
    model = LexicalModel.fit(TEXTS, SINGLE, multi_label=False)
    probs = model.predict_proba(["the app crashes on save", "add a dark theme please"])
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert probs[0].argmax() == 0 and probs[1].argmax() == 1


def test_two_labels_become_a_symmetric_softmax() -> None:
    targets = SINGLE[:, :2].copy()
    targets[SINGLE[:, 2] == 1] = [1, 0]
    probs = LexicalModel.fit(TEXTS, targets, multi_label=False).predict_proba(["dark mode"])
    assert probs.shape == (1, 2) and np.isclose(probs.sum(), 1.0) and probs[0, 1] > 0.5


def test_multi_label_is_independent_and_handles_constant_columns() -> None:
    targets = np.hstack([SINGLE, np.ones((len(TEXTS), 1), dtype=np.float32)])
    probs = LexicalModel.fit(TEXTS, targets, multi_label=True).predict_proba(["crash"])
    assert probs.shape == (1, 4) and probs[0, 3] > 0.99 and not np.isclose(probs.sum(), 1.0)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = LexicalModel.fit(TEXTS, SINGLE, multi_label=False)
    model.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pickle"))
    loaded = LexicalModel.load(tmp_path)
    assert loaded is not None
    sample = ["it crashes", "add csv export"]
    assert np.allclose(loaded.predict_proba(sample), model.predict_proba(sample))
    assert LexicalModel.load(tmp_path / "missing") is None


@pytest.mark.parametrize(("weight", "expected"), [(0.0, 0.2), (1.0, 0.8), (0.5, 0.5)])
def test_blend(weight: float, expected: float) -> None:
    assert np.isclose(blend(np.array([[0.2]]), np.array([[0.8]]), weight)[0, 0], expected)
