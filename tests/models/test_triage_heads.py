"""Heads alone (``models/triage/heads.py``): the logistic head folded into a
``torch.nn.Linear`` computes what was fitted, labels a head never saw are never
predicted, and a training over a frozen encoder calibrates thresholds out of fold, keeps
the evidence and names the encoder it was trained on.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from models.triage.calibration import NEVER
from models.triage.data import LabelledItem
from models.triage.finetune import TrainConfig
from models.triage.heads import fit_weights, linear, probabilities, train_heads

WORDS = ("crash", "please", "how")
LABELS = ("bug", "feature", "question")


class WordEncoder:
    """A frozen stand-in encoder: one noisy axis per keyword found in the text."""

    device = "cpu"

    def __init__(self, noise: float = 0.3) -> None:
        self.noise = noise
        self.calls = 0

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, text in enumerate(texts):
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            out[i] = rng.normal(0, self.noise, 8) + 5.0  # far from the origin: needs the bias
            for j, word in enumerate(WORDS):
                out[i, j] += 2.0 if word in text else 0.0
        return out


def issues(repo: str, count: int, *, seed: int = 0) -> list[LabelledItem]:
    """``count`` issues per label, the label's keyword in each title."""
    rng = np.random.default_rng(seed)
    return [
        LabelledItem(
            repo=repo,
            title=f"{WORDS[j]} {int(rng.integers(10**6))}",
            body="",
            labels=(LABELS[j],),
            number=n * 3 + j + 1,
        )
        for n in range(count)
        for j in range(len(LABELS))
    ]


@pytest.mark.parametrize("multi_label", [False, True], ids=["softmax", "sigmoid"])
def test_the_saved_head_computes_the_fitted_probabilities(multi_label: bool) -> None:
    rng = np.random.default_rng(1)
    emb = rng.normal(3.0, 2.0, (60, 8))
    targets = np.zeros((60, 4))
    targets[np.arange(60), (emb[:, 0] > 3).astype(int) + (emb[:, 1] > 3).astype(int)] = 1
    weights = fit_weights(emb, targets, multi_label=multi_label)
    expected = probabilities(weights, emb, multi_label=multi_label)
    logits = linear(weights, "cpu")(torch.from_numpy(emb.astype(np.float32)))
    got = (logits.sigmoid() if multi_label else logits.softmax(dim=-1)).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert expected[:, 3].max() < 1e-6  # the fourth label never occurs: never predicted
    predicted = expected[:, :3].argmax(axis=1)
    assert (predicted == targets[:, :3].argmax(axis=1)).mean() > 0.8


def test_two_labels_make_a_symmetric_softmax() -> None:
    emb = np.array([[0.0], [0.2], [1.0], [1.2]])
    targets = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    probs = probabilities(fit_weights(emb, targets, multi_label=False), emb, multi_label=False)
    assert list(probs.argmax(axis=1)) == [0, 0, 1, 1]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_heads_alone_train_calibrate_and_name_the_encoder() -> None:
    encoder = WordEncoder()
    items = issues("o/a", 20) + issues("o/b", 15, seed=1)
    cfg = TrainConfig(base_model="unused", calibration_folds=2, lexical_weight=0.0)
    models, evidence = train_heads(items, encoder, cfg, digest="abc123", log=lambda _: None)  # type: ignore[arg-type]
    assert set(models) == {"o/a", "o/b"} and set(evidence) == {"o/a", "o/b"}
    assert encoder.calls == 2  # one pass of inference per repository, nothing else
    fresh = issues("o/a", 10, seed=7)
    model = models["o/a"]
    probs = model.predict_proba(fresh)
    truth = [LABELS.index(it.labels[0]) for it in fresh]
    assert (probs.argmax(axis=1) == truth).mean() > 0.9
    assert model.meta.encoder_digest == "abc123"
    assert model.meta.metrics["heads_alone"] is True
    assert all(t < NEVER for t in model.meta.thresholds.values())  # out-of-fold calibration
    assert len(evidence["o/b"].probs) == 45  # each training item scored once, out of fold
    assert model.apply(model.predict(fresh[:1])[0]) == [fresh[0].labels[0]]


def test_without_calibration_folds_nothing_is_applied() -> None:
    cfg = TrainConfig(base_model="unused", calibration_folds=0, lexical_weight=0.0)
    models, evidence = train_heads(issues("o/a", 10), WordEncoder(), cfg, digest="d", log=print)  # type: ignore[arg-type]
    assert evidence == {}
    assert set(models["o/a"].meta.thresholds.values()) == {NEVER}


def test_thresholds_and_evidence_come_from_the_items_the_encoder_never_saw() -> None:
    seen = issues("o/a", 30)
    new = [replace(it, number=(it.number or 0) + 1000) for it in issues("o/a", 12, seed=5)]
    fresh = {it.number for it in new}
    cfg = TrainConfig(base_model="unused", calibration_folds=2, lexical_weight=0.0)

    def heads(min_unseen: int) -> Any:
        return train_heads(
            [*seen, *new],
            WordEncoder(),  # type: ignore[arg-type]
            cfg,
            digest="d",
            unseen=lambda it: it.number in fresh,
            min_unseen=min_unseen,
            log=print,
        )

    models, evidence = heads(30)
    assert len(evidence["o/a"].probs) == 36  # the 36 new issues only, out of 126
    assert all(t < NEVER for t in models["o/a"].meta.thresholds.values())
    # Too few unseen issues: thresholds that apply nothing and no evidence.
    models, evidence = heads(37)
    assert evidence == {} and set(models["o/a"].meta.thresholds.values()) == {NEVER}
