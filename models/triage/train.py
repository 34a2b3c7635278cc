"""Training triage models: threshold calibration, cross-validation and the final
models (the fine-tuning itself is :mod:`models.triage.finetune`).

Thresholds come from cross-fitted predictions: the encoder that scores an item never
saw it during fine-tuning; the same out-of-fold predictions are the evidence the label
gate judges a fine-tuned model on (:func:`train_with_evidence`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from models.triage.calibration import NEVER, calibrate_thresholds
from models.triage.data import (
    DatasetError,
    LabelledItem,
    by_repo,
    label_set,
)
from models.triage.evaluate import evaluate_repo
from models.triage.finetune import Task, TrainConfig, fine_tune, make_tasks
from models.triage.lexical import LexicalModel, blend
from models.triage.model import TriageModel, state_digest
from models.triage.text import prepare_text

if TYPE_CHECKING:
    pass


def trainability_problems(groups: Mapping[str, Sequence[LabelledItem]], folds: int) -> list[str]:
    """Why these repositories cannot be trained with ``folds``-fold cross-fitting (pure)."""
    problems = []
    for repo, items in groups.items():
        labels = label_set(items)
        if len(labels) < 2:
            found = ", ".join(labels) or "none"
            problems.append(
                f"{repo}: labels found: {found}; a classifier needs at least two labels"
            )
        if folds >= 2 and len(items) < folds:
            problems.append(
                f"{repo}: {len(items)} labelled issue(s) cannot be split into {folds} folds "
                "(add data or use fewer folds)"
            )
    return problems


def check_trainable(groups: Mapping[str, Sequence[LabelledItem]], folds: int) -> None:
    """Raise ``DatasetError`` listing every problem ``trainability_problems`` finds."""
    problems = trainability_problems(groups, folds)
    if problems:
        raise DatasetError("cannot train on this data:\n  " + "\n  ".join(problems))


def item_key(item: LabelledItem) -> str:
    """What makes two training items the same issue (a corrected item is repeated in
    training: its copies must share a fold, or a fold model learns the item it scores).
    """
    return json.dumps([item.repo, item.number, item.created_at, item.title, item.body])


def stratified_folds(
    groups: Mapping[str, Sequence[LabelledItem]], k: int, seed: int
) -> Iterator[tuple[dict[str, list[LabelledItem]], dict[str, list[int]]]]:
    """K folds stratified within each repository, the copies of one item in one fold:
    (training items, test positions per repo).
    """
    splits: dict[str, list[np.ndarray]] = {}
    for repo, items in groups.items():
        splits[repo] = _repo_folds(items, k, seed)
    for fold in range(k):
        test = {repo: sorted(map(int, parts[fold])) for repo, parts in splits.items()}
        train = {
            repo: [it for i, it in enumerate(groups[repo]) if i not in set(test[repo])]
            for repo in groups
        }
        yield train, test


def _repo_folds(items: Sequence[LabelledItem], k: int, seed: int) -> list[np.ndarray]:
    """Test positions of each fold for one repository's items."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    keys = ["|".join(sorted(it.labels)) for it in items]
    ids = [item_key(it) for it in items]
    distinct = dict(zip(ids, keys, strict=True))
    counts = {key: list(distinct.values()).count(key) for key in distinct.values()}
    splitter: Any = (
        StratifiedGroupKFold(k, shuffle=True, random_state=seed)
        if min(counts.values()) >= k
        else GroupKFold(k, shuffle=True, random_state=seed)
    )
    return [test for _, test in splitter.split(np.zeros(len(items)), keys, groups=ids)]


def fit_lexical(items: Sequence[LabelledItem], task: Task, cfg: TrainConfig) -> LexicalModel | None:
    """The repository's TF-IDF channel, or None when the blend is switched off."""
    if cfg.lexical_weight <= 0:
        return None
    texts = [prepare_text(it.title, it.body, cfg.text) for it in items]
    return LexicalModel.fit(texts, task.targets(items), multi_label=task.multi_label)


def out_of_fold(
    groups: Mapping[str, Sequence[LabelledItem]],
    tasks: Mapping[str, Task],
    cfg: TrainConfig,
    k: int,
    log: Callable[[str], None] = print,
) -> dict[str, np.ndarray]:
    """Probabilities of every item from a model whose encoder and head never saw it."""
    oof = {repo: np.zeros((len(items), len(tasks[repo].labels))) for repo, items in groups.items()}
    for fold, (train, test) in enumerate(stratified_folds(groups, k, cfg.seed)):
        log(f"fold {fold + 1}/{k}: fine-tuning on {sum(map(len, train.values()))} items")
        tuned = fine_tune(train, tasks, cfg)
        hits = total = 0
        for repo, rows in test.items():
            fold_items = [groups[repo][i] for i in rows]
            probs = tuned.predict_proba(repo, fold_items)
            lexical = fit_lexical(train[repo], tasks[repo], cfg)
            if lexical is not None:
                texts = [prepare_text(it.title, it.body, cfg.text) for it in fold_items]
                probs = blend(probs, lexical.predict_proba(texts), cfg.lexical_weight)
            oof[repo][rows] = probs
            truth = tasks[repo].targets(fold_items)
            hits += int(truth[np.arange(len(rows)), probs.argmax(axis=1)].sum())
            total += len(rows)
        log(f"fold {fold + 1}/{k}: top-label accuracy {hits / max(total, 1):.3f} on {total} items")
    return oof


def nested_thresholds(
    probs: np.ndarray, truth: np.ndarray, task: Task, k: int, seed: int, target: float
) -> list[tuple[np.ndarray, dict[str, float]]]:
    """(test rows, thresholds chosen on the other rows) per fold: honest applied precision."""
    from sklearn.model_selection import KFold

    out = []
    for train_rows, test_rows in KFold(k, shuffle=True, random_state=seed).split(probs):
        th = calibrate_thresholds(
            probs[train_rows],
            truth[train_rows],
            task.labels,
            single_label=not task.multi_label,
            target=target,
        )
        out.append((test_rows, th))
    return out


def oof_metrics(
    groups: Mapping[str, Sequence[LabelledItem]],
    tasks: Mapping[str, Task],
    oof: Mapping[str, np.ndarray],
    cfg: TrainConfig,
    k: int,
) -> dict[str, dict[str, Any]]:
    """Per-repo metrics of out-of-fold predictions; thresholds are themselves cross-validated."""
    from models.triage.calibration import applied_stats

    result = {}
    for repo, items in groups.items():
        task, probs = tasks[repo], oof[repo]
        truth = task.targets(items)
        report = evaluate_repo(
            task.labels,
            truth,
            probs,
            dict.fromkeys(task.labels, NEVER),
            multi_label=task.multi_label,
        )
        applied = correct = covered = 0
        for rows, th in nested_thresholds(probs, truth, task, k, cfg.seed, cfg.target_precision):
            stats = applied_stats(
                probs[rows], truth[rows], task.labels, th, single_label=not task.multi_label
            )
            applied, correct = applied + stats.applied, correct + stats.correct
            covered += round(stats.coverage * len(rows))
        report["applied_precision"] = correct / applied if applied else None
        report["coverage"] = covered / max(len(items), 1)
        report["applied"] = applied
        result[repo] = report
    return result


def cross_validate(
    items: Sequence[LabelledItem], cfg: TrainConfig, k: int = 5, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """K-fold estimate of the NLBSE score (mean over repos of macro F1) and of calibration."""
    groups = by_repo(items)
    check_trainable(groups, k)
    tasks = make_tasks(groups)
    oof = out_of_fold(groups, tasks, cfg, k, log)
    repos = oof_metrics(groups, tasks, oof, cfg, k)
    return {
        "folds": k,
        "repos": repos,
        "mean_macro_f1": float(np.mean([r["macro_f1"] for r in repos.values()])),
        "config": cfg.to_dict(),
    }


@dataclass(frozen=True)
class CrossFitted:
    """One repository's training items as models that never saw them scored them: the
    out-of-fold probabilities (each item once, in training order) and the truth.
    """

    labels: list[str]
    probs: np.ndarray
    truth: np.ndarray
    multi_label: bool


def cross_fitted(items: Sequence[LabelledItem], task: Task, probs: np.ndarray) -> CrossFitted:
    """The out-of-fold evidence of one repository, each item once (corrected items are
    repeated in training; their copies share a fold and a probability).
    """
    keep = list({item_key(it): i for i, it in reversed(list(enumerate(items)))}.values())
    rows = sorted(keep)
    truth = task.targets([items[i] for i in rows])
    return CrossFitted(list(task.labels), probs[rows], truth, task.multi_label)


def train_models(
    items: Sequence[LabelledItem],
    cfg: TrainConfig,
    fingerprint: str = "",
    log: Callable[[str], None] = print,
) -> dict[str, TriageModel]:
    """Calibrate thresholds by cross-fitting, then fine-tune on everything: one model per repo."""
    return train_with_evidence(items, cfg, fingerprint, log)[0]


def train_with_evidence(
    items: Sequence[LabelledItem],
    cfg: TrainConfig,
    fingerprint: str = "",
    log: Callable[[str], None] = print,
) -> tuple[dict[str, TriageModel], dict[str, CrossFitted]]:
    """:func:`train_models`, plus each repository's out-of-fold evidence (empty without
    calibration folds): what the label gate judges a fine-tuned model on.
    """
    groups = by_repo(items)
    check_trainable(groups, cfg.calibration_folds)
    tasks = make_tasks(groups)
    thresholds = {repo: dict.fromkeys(t.labels, NEVER) for repo, t in tasks.items()}
    metrics: dict[str, dict[str, Any]] = {}
    evidence: dict[str, CrossFitted] = {}
    k = cfg.calibration_folds
    if k >= 2:
        oof = out_of_fold(groups, tasks, cfg, k, log)
        metrics = oof_metrics(groups, tasks, oof, cfg, k)
        for repo, task in tasks.items():
            thresholds[repo] = calibrate_thresholds(
                oof[repo],
                task.targets(groups[repo]),
                task.labels,
                single_label=not task.multi_label,
                target=cfg.target_precision,
            )
            evidence[repo] = cross_fitted(groups[repo], task, oof[repo])
    else:
        log("no calibration folds: thresholds stay above 1, so no label is applied automatically")
    return final_models(groups, tasks, thresholds, metrics, cfg, fingerprint, log), evidence


def final_models(
    groups: Mapping[str, Sequence[LabelledItem]],
    tasks: Mapping[str, Task],
    thresholds: Mapping[str, dict[str, float]],
    metrics: Mapping[str, dict[str, Any]],
    cfg: TrainConfig,
    fingerprint: str,
    log: Callable[[str], None],
) -> dict[str, TriageModel]:
    """Fine-tune on every item and package one model per repository."""
    k = cfg.calibration_folds
    log(f"final fine-tuning on {sum(map(len, groups.values()))} items")
    tuned = fine_tune(groups, tasks, cfg)
    digest = state_digest(tuned.encoder.model)  # once, not once per repository saved
    models = {}
    for repo in groups:
        model = tuned.to_model(
            repo,
            thresholds[repo],
            fingerprint=fingerprint,
            metrics={"cross_fitted": metrics.get(repo, {}), "calibration_folds": k},
        )
        model.meta.encoder_digest = digest
        model.attach_lexical(fit_lexical(groups[repo], tasks[repo], cfg), cfg.lexical_weight)
        models[repo] = model
    return models
