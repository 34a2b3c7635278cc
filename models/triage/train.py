"""Fine-tuning, threshold calibration and cross-validation of triage models.

One encoder is fine-tuned on every repository of the training file pooled, with one
linear head per repository (the NLBSE protocol allows a shared encoder; each repo
keeps its own classifier). Single-label taxonomies use softmax cross-entropy,
multi-label ones (several independent label families) a sigmoid per label.
Thresholds come from cross-fitted predictions: the encoder that scores an item never
saw it during fine-tuning.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from models.defaults import model_name
from models.triage.calibration import NEVER, calibrate_thresholds
from models.triage.data import (
    DatasetError,
    LabelledItem,
    by_repo,
    is_multi_label,
    label_set,
)
from models.triage.evaluate import evaluate_repo
from models.triage.lexical import LexicalModel, blend
from models.triage.model import TriageMeta, TriageModel, state_digest
from models.triage.text import TextOptions, prepare_text

if TYPE_CHECKING:
    import torch

    from models.encoder import Encoder


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (saved into each model's ``triage.json``)."""

    base_model: str
    epochs: int = 3
    batch_size: int = 16
    max_length: int = 256
    lr: float = 8e-5
    head_lr: float = 3e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0
    freeze_embeddings: bool = True
    calibration_folds: int = 2
    #: Weight of a supervised contrastive term (SupCon) that pulls issues with the same
    #: labels together in the encoder's space (0: cross-entropy alone). On NLBSE'24
    #: (3-fold CV, two seeds) 0.3 raised mean macro F1 by 0.006 at no extra cost.
    contrastive_weight: float = 0.3
    contrastive_temperature: float = 0.2
    #: Weight of the TF-IDF channel in the blended probabilities (0: encoder only).
    lexical_weight: float = 0.5
    target_precision: float = 0.95
    device: str | None = None
    #: Autocast: ``auto`` (bf16 on GPUs and on CPUs with native bf16), ``bf16`` or ``fp32``.
    precision: str = "auto"
    text: TextOptions = field(default_factory=TextOptions)
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the packaged base model by its name, not its local folder)."""
        data = asdict(self)
        data["text"] = self.text.to_dict()
        data["base_model"] = model_name(self.base_model)
        return data


@dataclass(frozen=True)
class Task:
    """One repository's classification problem."""

    repo: str
    labels: list[str]
    multi_label: bool

    def targets(self, items: Sequence[LabelledItem]) -> np.ndarray:
        """0/1 matrix ``(len(items), len(labels))``; labels outside the taxonomy are ignored."""
        index = {lab: j for j, lab in enumerate(self.labels)}
        out = np.zeros((len(items), len(self.labels)), dtype=np.float32)
        for i, item in enumerate(items):
            for lab in item.labels:
                if lab in index:
                    out[i, index[lab]] = 1.0
        return out


def make_tasks(groups: Mapping[str, Sequence[LabelledItem]]) -> dict[str, Task]:
    """A task per repository, single-label when every item has exactly one label."""
    return {
        repo: Task(repo, label_set(items), is_multi_label(items)) for repo, items in groups.items()
    }


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


def seed_everything(seed: int) -> None:
    """Make a run repeatable (same data order, initialisation and dropout masks)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class FineTuned:
    """A fine-tuned shared encoder and its per-repository heads."""

    encoder: Encoder
    heads: dict[str, torch.nn.Linear]
    tasks: dict[str, Task]
    config: TrainConfig
    step_losses: list[float] = field(default_factory=list)

    def texts(self, items: Sequence[LabelledItem]) -> list[str]:
        """Model inputs of ``items``."""
        return [prepare_text(it.title, it.body, self.config.text) for it in items]

    def predict_proba(self, repo: str, items: Sequence[LabelledItem]) -> np.ndarray:
        """Probabilities of ``repo``'s labels for ``items``."""
        return self.to_model(repo).predict_proba(items)

    def to_model(
        self,
        repo: str,
        thresholds: Mapping[str, float] | None = None,
        *,
        fingerprint: str = "",
        metrics: Mapping[str, Any] | None = None,
    ) -> TriageModel:
        """A saveable ``TriageModel`` for one repository (shares this encoder)."""
        task = self.tasks[repo]
        meta = TriageMeta(
            labels=list(task.labels),
            multi_label=task.multi_label,
            thresholds=dict(thresholds or dict.fromkeys(task.labels, NEVER)),
            base_model=model_name(self.config.base_model),
            max_length=self.config.max_length,
            text=self.config.text.to_dict(),
            repo=repo,
            fingerprint=fingerprint,
            metrics=dict(metrics or {}),
            train_config=self.config.to_dict(),
        )
        self.heads[repo].eval()
        return TriageModel(self.encoder, self.heads[repo], meta)


def bucketed_order(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (little padding, still random across epochs)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 32
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def optimizer_for(
    encoder: Encoder, heads: Sequence[torch.nn.Module], cfg: TrainConfig
) -> torch.optim.Optimizer:
    """AdamW: no weight decay on biases and norms; heads learn faster than the encoder."""
    import torch

    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in encoder.model.named_parameters():
        if cfg.freeze_embeddings and name.startswith("embeddings."):
            # Frozen word embeddings: faster steps and less drift on 300 items per repo.
            param.requires_grad_(False)
            continue
        (no_decay if param.ndim < 2 else decay).append(param)
    head_params = [p for h in heads for p in h.parameters()]
    return torch.optim.AdamW(
        [
            {"params": decay, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "lr": cfg.lr, "weight_decay": 0.0},
            {"params": head_params, "lr": cfg.head_lr, "weight_decay": 0.0},
        ]
    )


def warmup_linear(total: int, warmup_ratio: float) -> Callable[[int], float]:
    """Learning-rate multiplier: linear warm-up, then linear decay to zero."""
    warm = max(1, math.ceil(total * warmup_ratio))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return factor


def batch_loss(
    emb: torch.Tensor,
    repos: Sequence[str],
    targets: torch.Tensor,
    heads: Mapping[str, torch.nn.Linear],
    tasks: Mapping[str, Task],
) -> torch.Tensor:
    """Mean over the batch of each item's loss under its own repository's head."""
    import torch.nn.functional as F

    total = emb.new_zeros(())
    for repo in dict.fromkeys(repos):
        rows = [i for i, r in enumerate(repos) if r == repo]
        logits = heads[repo](emb[rows])
        width = logits.shape[1]
        target = targets[rows, :width]
        if tasks[repo].multi_label:
            loss = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / width
        else:
            loss = F.cross_entropy(logits, target.argmax(dim=1), reduction="sum")
        total = total + loss
    return total / len(repos)


def contrastive_loss(emb: torch.Tensor, keys: Sequence[Any], temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) over one batch.

    Rows with equal ``keys`` (their label sets) are positives for each other, all other
    rows negatives. Rows without a positive in the batch do not count; a batch with
    none at all gives 0.
    """
    import torch
    import torch.nn.functional as F

    z = F.normalize(emb.float(), dim=-1)
    n = len(keys)
    codes = {key: j for j, key in enumerate(dict.fromkeys(keys))}
    key_ids = torch.tensor([codes[key] for key in keys], device=z.device)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    positive = (key_ids[:, None] == key_ids[None, :]) & ~eye
    counts = positive.sum(dim=1)
    anchors = counts > 0
    if not bool(anchors.any()):
        return z.new_zeros(())
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    mean_positive = log_prob.masked_fill(~positive, 0.0).sum(dim=1)[anchors] / counts[anchors]
    return -mean_positive.mean()


def training_loss(
    emb: torch.Tensor,
    repos: Sequence[str],
    targets: torch.Tensor,
    keys: Sequence[Any],
    heads: Mapping[str, torch.nn.Linear],
    tasks: Mapping[str, Task],
    cfg: TrainConfig,
) -> torch.Tensor:
    """What one fine-tuning step minimises: the heads' loss plus the contrastive term."""
    loss = batch_loss(emb, repos, targets, heads, tasks)
    if cfg.contrastive_weight > 0:
        loss = loss + cfg.contrastive_weight * contrastive_loss(
            emb, keys, cfg.contrastive_temperature
        )
    return loss


def stacked_targets(
    groups: Mapping[str, Sequence[LabelledItem]],
    tasks: Mapping[str, Task],
    pairs: Sequence[tuple[str, LabelledItem]],
) -> np.ndarray:
    """0/1 targets of every (repository, item) pair, padded to the widest label set."""
    width = max(len(t.labels) for t in tasks.values())
    targets = np.zeros((len(pairs), width), dtype=np.float32)
    for repo, items in groups.items():
        rows = [i for i, (r, _) in enumerate(pairs) if r == repo]
        targets[rows, : len(tasks[repo].labels)] = tasks[repo].targets(items)
    return targets


def epoch_bar(order: Sequence[Sequence[int]], epoch: int, cfg: TrainConfig) -> Any:
    """The progress bar over one epoch's batches (off unless ``cfg.progress``)."""
    from tqdm.auto import tqdm

    return tqdm(
        order,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        file=sys.stderr,
        disable=not cfg.progress,
        leave=False,
    )


def optimizer_step(optimizer: Any, schedule: Any, loss: Any) -> None:
    """Back-propagate ``loss``, clip the gradient norm to 1 and step optimizer and schedule."""
    import torch

    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
    optimizer.step()
    schedule.step()


def fine_tune(
    groups: Mapping[str, Sequence[LabelledItem]], tasks: Mapping[str, Task], cfg: TrainConfig
) -> FineTuned:
    """Fine-tune a fresh copy of ``cfg.base_model`` with one head per repository."""
    import torch

    from models.encoder import Encoder

    seed_everything(cfg.seed)
    encoder = Encoder.from_pretrained(
        cfg.base_model, device=cfg.device, max_length=cfg.max_length, precision=cfg.precision
    )
    heads = {
        r: torch.nn.Linear(encoder.dim, len(tasks[r].labels)).to(encoder.device) for r in groups
    }
    pairs = [(repo, item) for repo, items in groups.items() for item in items]
    ids = encoder.tokenize([prepare_text(it.title, it.body, cfg.text) for _, it in pairs])
    target_t = torch.from_numpy(stacked_targets(groups, tasks, pairs)).to(encoder.device)
    label_keys = [tuple(sorted(item.labels)) for _, item in pairs]

    optimizer = optimizer_for(encoder, list(heads.values()), cfg)
    rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(pairs) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_linear(steps_per_epoch * cfg.epochs, cfg.warmup_ratio)
    )
    result = FineTuned(encoder, heads, dict(tasks), cfg)
    encoder.model.train()
    for epoch in range(cfg.epochs):
        order = bucketed_order([len(x) for x in ids], cfg.batch_size, rng)
        bar = epoch_bar(order, epoch, cfg)
        for rows in bar:
            batch = next(encoder.batches(ids, len(rows), order=rows))
            loss = training_loss(
                encoder.embed(batch),
                [pairs[i][0] for i in rows],
                target_t[rows],
                [label_keys[i] for i in rows],
                heads,
                tasks,
                cfg,
            )
            optimizer_step(optimizer, schedule, loss)
            result.step_losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{result.step_losses[-1]:.3f}")
    encoder.model.eval()
    return result


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
