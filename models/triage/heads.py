"""Heads alone: a repository's classifier trained on an encoder that stays as it is.

When an org's encoder need not move (little of the data it was fine-tuned on changed,
or a new repository is small beside it), a repository that changed gets a new linear
head over the frozen encoder's pooled embeddings, and a new TF-IDF channel, instead of
a fine-tuning of the encoder: one pass of inference over its issues rather than three
fine-tunings with back-propagation. The recipe otherwise follows
:func:`models.triage.train.train_with_evidence`: thresholds calibrated on out-of-fold
predictions (the head that scores an item never saw it), the same out-of-fold
predictions kept as the label gate's evidence, the final head fitted on every item.
The encoder, though, saw most of the items before: thresholds and evidence come from
the items it never trained on only (:func:`calibrated`; on NLBSE'24, thresholds chosen
over items the encoder had seen applied labels at 0.84 precision on new issues).

The head is a logistic regression (softmax over the labels, or one sigmoid per label
for multi-label taxonomies) on standardised embeddings, folded back into a plain
``torch.nn.Linear`` over the raw ones: the saved model is like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from models.triage.calibration import NEVER, calibrate_thresholds
from models.triage.data import LabelledItem, by_repo
from models.triage.finetune import FineTuned, Task, TrainConfig, make_tasks
from models.triage.lexical import blend
from models.triage.text import prepare_text
from models.triage.train import (
    CrossFitted,
    check_trainable,
    cross_fitted,
    fit_lexical,
    oof_metrics,
    stratified_folds,
)

if TYPE_CHECKING:
    import torch

    from models.encoder import Encoder
    from models.triage.model import TriageModel

#: Inverse regularisation strength of the heads' logistic regression.
HEAD_C = 1.0
#: Items the encoder never trained on that a repository needs for its thresholds.
MIN_UNSEEN = 30
#: The bias of a label a head never saw (never predicted) or always saw.
CONSTANT = 30.0


def fit_weights(
    emb: np.ndarray, targets: np.ndarray, *, multi_label: bool, c: float = HEAD_C
) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(labels, dim)`` and biases of a head over raw embeddings ``emb``."""
    mean, scale = emb.mean(axis=0), emb.std(axis=0) + 1e-6
    x = (emb - mean) / scale
    if multi_label:
        coef, bias = _independent(x, targets, c)
    else:
        coef, bias = _softmax(x, targets, c)
    weight = coef / scale  # standardisation folded into the linear layer
    return weight, bias - weight @ mean


def _softmax(x: np.ndarray, targets: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One multinomial regression; two labels become a symmetric softmax."""
    from sklearn.linear_model import LogisticRegression

    y = targets.argmax(axis=1)
    present = np.unique(y)
    coef = np.zeros((targets.shape[1], x.shape[1]))
    bias = np.full(targets.shape[1], -CONSTANT)
    if len(present) == 1:
        bias[present[0]] = CONSTANT
        return coef, bias
    model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    if len(present) == 2:
        coef[present[0]], coef[present[1]] = -model.coef_[0] / 2, model.coef_[0] / 2
        bias[present[0]], bias[present[1]] = -model.intercept_[0] / 2, model.intercept_[0] / 2
    else:
        coef[present], bias[present] = model.coef_, model.intercept_
    return coef, bias


def _independent(x: np.ndarray, targets: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One binary regression per label."""
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((targets.shape[1], x.shape[1]))
    bias = np.zeros(targets.shape[1])
    for j in range(targets.shape[1]):
        column = targets[:, j]
        if column.min() == column.max():
            bias[j] = CONSTANT if column.max() else -CONSTANT
            continue
        model = LogisticRegression(C=c, max_iter=2000).fit(x, column)
        coef[j], bias[j] = model.coef_[0], model.intercept_[0]
    return coef, bias


def probabilities(
    weights: tuple[np.ndarray, np.ndarray], emb: np.ndarray, *, multi_label: bool
) -> np.ndarray:
    """A head's probabilities for embeddings ``emb`` (as the saved model computes them)."""
    logits = emb @ weights[0].T + weights[1]
    if multi_label:
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True))


def linear(weights: tuple[np.ndarray, np.ndarray], device: str) -> torch.nn.Linear:
    """The head as a ``torch.nn.Linear`` (what a saved model holds)."""
    import torch

    coef, bias = weights
    head = torch.nn.Linear(coef.shape[1], coef.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(coef.astype(np.float32)))
        head.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    return head.to(device).eval()


def heads_out_of_fold(
    groups: Mapping[str, Sequence[LabelledItem]],
    tasks: Mapping[str, Task],
    emb: Mapping[str, np.ndarray],
    cfg: TrainConfig,
) -> dict[str, np.ndarray]:
    """Every item scored by a head (and TF-IDF channel) fitted without it."""
    k = cfg.calibration_folds
    oof = {repo: np.zeros((len(items), len(tasks[repo].labels))) for repo, items in groups.items()}
    for train, test in stratified_folds(groups, k, cfg.seed):
        for repo, rows in test.items():
            task, held = tasks[repo], set(rows)
            fit_rows = [i for i in range(len(groups[repo])) if i not in held]
            truth = task.targets(groups[repo])
            weights = fit_weights(
                emb[repo][fit_rows], truth[fit_rows], multi_label=task.multi_label
            )
            probs = probabilities(weights, emb[repo][rows], multi_label=task.multi_label)
            lexical = fit_lexical(train[repo], task, cfg)
            if lexical is not None:
                texts = [
                    prepare_text(groups[repo][i].title, groups[repo][i].body, cfg.text)
                    for i in rows
                ]
                probs = blend(probs, lexical.predict_proba(texts), cfg.lexical_weight)
            oof[repo][rows] = probs
    return oof


def calibrated(
    groups: Mapping[str, Sequence[LabelledItem]],
    tasks: Mapping[str, Task],
    emb: Mapping[str, np.ndarray],
    cfg: TrainConfig,
    *,
    unseen: Callable[[LabelledItem], bool] | None = None,
    min_unseen: int = MIN_UNSEEN,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]], dict[str, CrossFitted]]:
    """Each repository's thresholds, out-of-fold metrics and evidence, measured on the
    items ``unseen`` says the encoder never trained on (default: every item).

    An encoder that trained on an item places it where its label is, so a head scored
    out of fold on such items looks surer than it will be on new issues: thresholds
    chosen there apply labels at lower precision. A repository with fewer than
    ``min_unseen`` unseen items gets thresholds that apply nothing and no evidence, as
    does every repository without calibration folds.
    """
    thresholds = {repo: dict.fromkeys(t.labels, NEVER) for repo, t in tasks.items()}
    if cfg.calibration_folds < 2:
        return thresholds, {}, {}
    oof = heads_out_of_fold(groups, tasks, emb, cfg)
    rows = {
        repo: [i for i, it in enumerate(items) if unseen is None or unseen(it)]
        for repo, items in groups.items()
    }
    kept = {repo: r for repo, r in rows.items() if len(r) >= min_unseen}
    sub = {repo: [groups[repo][i] for i in r] for repo, r in kept.items()}
    sub_oof = {repo: oof[repo][r] for repo, r in kept.items()}
    metrics = oof_metrics(sub, tasks, sub_oof, cfg, cfg.calibration_folds) if sub else {}
    evidence = {}
    for repo, items in sub.items():
        task = tasks[repo]
        thresholds[repo] = calibrate_thresholds(
            sub_oof[repo],
            task.targets(items),
            task.labels,
            single_label=not task.multi_label,
            target=cfg.target_precision,
        )
        evidence[repo] = cross_fitted(items, task, sub_oof[repo])
    return thresholds, metrics, evidence


def train_heads(
    items: Sequence[LabelledItem],
    encoder: Encoder,
    cfg: TrainConfig,
    *,
    digest: str,
    unseen: Callable[[LabelledItem], bool] | None = None,
    min_unseen: int = MIN_UNSEEN,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, TriageModel], dict[str, CrossFitted]]:
    """One model per repository of ``items``: a new head (and TF-IDF channel) on
    ``encoder`` (whose stored digest is ``digest``), fitted on every item, thresholds
    calibrated out of fold on the items ``unseen`` says the encoder never trained on
    (:func:`calibrated`), and each repository's out-of-fold evidence on those."""
    groups = by_repo(items)
    check_trainable(groups, cfg.calibration_folds)
    tasks = make_tasks(groups)
    log(f"heads alone on encoder {digest[:12]}: embedding {len(items)} issues")
    emb = {
        repo: encoder.encode([prepare_text(it.title, it.body, cfg.text) for it in rows])
        for repo, rows in groups.items()
    }
    thresholds, metrics, evidence = calibrated(
        groups, tasks, emb, cfg, unseen=unseen, min_unseen=min_unseen
    )
    heads = {
        repo: linear(
            fit_weights(emb[repo], task.targets(groups[repo]), multi_label=task.multi_label),
            encoder.device,
        )
        for repo, task in tasks.items()
    }
    tuned = FineTuned(encoder, heads, dict(tasks), cfg)
    models = {}
    for repo in groups:
        recorded = {
            "cross_fitted": metrics.get(repo, {}),
            "calibration_folds": cfg.calibration_folds,
        }
        model = tuned.to_model(repo, thresholds[repo], metrics={**recorded, "heads_alone": True})
        model.meta.encoder_digest = digest
        model.attach_lexical(fit_lexical(groups[repo], tasks[repo], cfg), cfg.lexical_weight)
        models[repo] = model
    log(f"heads alone: {len(models)} repositories")
    return models, evidence
