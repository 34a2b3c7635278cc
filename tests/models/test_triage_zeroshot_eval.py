"""Zero-shot labelling (with a deterministic stand-in encoder) and evaluation output shape."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from models.triage.calibration import NEVER
from models.triage.data import LabelInfo, LabelledItem
from models.triage.evaluate import evaluate_repo, summarise, write_report
from models.triage.zeroshot import ZeroShotClassifier, label_text

VOCAB = ["crash", "error", "add", "support", "how", "docs"]


class BagOfWords:
    """A tiny encoder: counts of a few words (enough to make neighbours meaningful)."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return np.array(
            [[t.lower().count(w) + 0.01 for w in VOCAB] for t in texts], dtype=np.float32
        )


LABELS = [
    LabelInfo("kind/bug", "crash or error"),
    LabelInfo("feature", "add support"),
    LabelInfo("question", "how to, docs"),
]


def item(title: str, *labels: str) -> LabelledItem:
    return LabelledItem(repo="o/r", title=title, body="", labels=labels)


EXAMPLES = [
    item("app crash on start", "kind/bug"),
    item("error when saving", "kind/bug"),
    item("add dark mode support", "feature"),
    item("how do I configure", "question"),
    item("unrelated", "wontfix"),
]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("crash with error", "kind/bug"),
        ("please add support for X", "feature"),
        ("how to read the docs", "question"),
    ],
)
def test_zero_shot_picks_the_matching_label(title: str, expected: str) -> None:
    clf = ZeroShotClassifier(LABELS, EXAMPLES, encoder=BagOfWords())
    [probs] = clf.predict([item(title)])
    assert set(probs) == {"kind/bug", "feature", "question"}
    assert max(probs, key=probs.__getitem__) == expected
    assert sum(probs.values()) == pytest.approx(1.0)


def test_zero_shot_without_examples_uses_label_text() -> None:
    clf = ZeroShotClassifier(LABELS, [], encoder=BagOfWords())
    [probs] = clf.predict([item("crash")])
    assert max(probs, key=probs.__getitem__) == "kind/bug"
    assert clf.predict([]) == []
    assert label_text(LabelInfo("kind/bug", "x")) == "kind bug: x"
    with pytest.raises(ValueError):
        ZeroShotClassifier([], [])


def test_evaluate_repo_and_summary_shape(tmp_path: Path) -> None:
    labels = ["bug", "feature", "question"]
    truth = np.eye(3)[[0, 0, 1, 2]]
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    thresholds = {"bug": 0.85, "feature": 0.75, "question": NEVER}
    rep = evaluate_repo(labels, truth, probs, thresholds, multi_label=False)
    assert rep["labels"]["bug"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert rep["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert rep["applied_precision"] == 1.0 and rep["coverage"] == 0.5
    summary = summarise({"o/r": rep})
    assert set(summary) >= {"repos", "mean_macro_f1", "applied_precision", "coverage"}
    assert set(summary["repos"]["o/r"]) >= {"macro_f1", "applied_precision", "coverage"}
    page = write_report(tmp_path, summary, {"o/r": (labels, truth, probs)})
    assert page.name == "index.html"
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["o__r-confusion.png", "o__r-precision-coverage.png", "o__r-reliability.png"]
    assert all(name in page.read_text() for name in pngs)


def test_nothing_applied_is_not_a_perfect_precision(tmp_path: Path) -> None:
    """A model that applies nothing reports no precision: JSON null, "n/a" for people."""
    from models.triage.evaluate import describe_precision

    labels = ["bug", "feature"]
    truth = np.eye(2)[[0, 1]]
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    rep = evaluate_repo(labels, truth, probs, dict.fromkeys(labels, NEVER), multi_label=False)
    assert rep["applied"] == 0 and rep["applied_precision"] is None and rep["coverage"] == 0.0
    summary = summarise({"o/r": rep})
    assert summary["applied_precision"] is None
    assert describe_precision(None) == "n/a (nothing applied)"
    assert describe_precision(0.5) == "0.500"
    page = write_report(tmp_path, summary, {"o/r": (labels, truth, probs)})
    assert "n/a (nothing applied)" in page.read_text()
