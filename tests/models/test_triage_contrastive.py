"""The supervised contrastive term: low when issues with the same labels sit together,
high when they are mixed up, zero when a batch has no pair with equal labels."""

from __future__ import annotations

import math

import pytest
import torch

from models.triage.finetune import contrastive_loss

BUG, FEAT = ("bug",), ("feature",)


def test_clustered_batch_scores_lower_than_mixed_batch() -> None:
    keys = [BUG, BUG, FEAT, FEAT]
    clustered = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = clustered[[0, 2, 1, 3]]
    assert contrastive_loss(clustered, keys, 0.2) < contrastive_loss(mixed, keys, 0.2)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ([BUG, FEAT, ("question",)], 0.0),  # no positives at all
        # Identical embeddings: each anchor's one positive has probability 1/3.
        ([BUG, BUG, FEAT, ("question",)], math.log(3)),
    ],
)
def test_known_values(keys: list[tuple[str, ...]], expected: float) -> None:
    emb = torch.ones(len(keys), 4)
    assert float(contrastive_loss(emb, keys, 0.5)) == pytest.approx(expected, abs=1e-6)


def test_gradient_is_finite_and_pulls_positives_together() -> None:
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.2]], requires_grad=True)
    loss = contrastive_loss(emb, [BUG, BUG, FEAT], 0.2)
    loss.backward()  # type: ignore[no-untyped-call]
    assert emb.grad is not None and torch.isfinite(emb.grad).all()
    step = emb.detach() - 0.1 * emb.grad
    before = torch.cosine_similarity(emb[0], emb[1], dim=0)
    after = torch.cosine_similarity(step[0], step[1], dim=0)
    assert after > before


@pytest.mark.slow
def test_fine_tune_with_the_contrastive_term() -> None:
    from models.defaults import base_model
    from models.triage.data import LabelledItem
    from models.triage.finetune import TrainConfig, fine_tune, make_tasks

    texts = ["app crashes", "add dark mode", "segfault on start", "support export to csv"]
    labels = [("bug",), ("feature",)] * 2
    items = [LabelledItem("o/r", t, "", lab) for t, lab in zip(texts, labels, strict=True)]
    groups = {"o/r": items}
    cfg = TrainConfig(
        base_model=base_model({}),
        epochs=1,
        batch_size=4,
        max_length=16,
        contrastive_weight=0.5,
        progress=False,
        device="cpu",
    )
    tuned = fine_tune(groups, make_tasks(groups), cfg)
    assert len(tuned.step_losses) == 1 and math.isfinite(tuned.step_losses[0])
    # Cross-entropy of 2 labels starts near log 2; the contrastive term adds to it.
    assert tuned.step_losses[0] > 0.5 * math.log(2)
