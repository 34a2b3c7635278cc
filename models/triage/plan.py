"""When a repository's labelled history is ready for its own fine-tuned model, and how it
is split for training: time order, the newest part held out, the labels it has enough
of (pure functions over labelled items).

Both the bootstrap (whether to queue the org's first fine-tuning) and scheduled
retraining (what to train on) read these rules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from models.triage.data import LabelledItem


@dataclass(frozen=True)
class RetrainPolicy:
    """When a repository is ready for its own model, and when a new one goes live."""

    #: Labelled issues (after dropping rare labels) needed before training at all.
    min_items: int = 100
    #: Labels with at least ``min_per_label`` training items needed.
    min_labels: int = 2
    #: Training items a label needs to be learned (rarer labels are left out).
    min_per_label: int = 10
    #: Share of the newest items held out for evaluation.
    holdout_fraction: float = 0.2
    #: Holdout macro F1 a candidate must gain over the live model to replace it.
    margin: float = 0.01
    #: How far the candidate's applied precision may fall below the live model's.
    precision_tolerance: float = 0.02
    #: Train on at most this many of the newest training items (bounds CPU time).
    max_train_items: int = 5000
    #: How many times an item people corrected counts in training (1: like any other).
    correction_weight: int = 3
    #: A repository gets a new version only when at least this many of its labelled
    #: issues are new or relabelled since its newest version ...
    min_new_items: int = 20
    #: ... and they are at least this share of what that version was trained on.
    min_new_share: float = 0.05
    #: The org's encoder is fine-tuned again when this share of its training data is new
    #: or relabelled across the org (a new repository's issues count as new); below it,
    #: repositories that changed enough get heads alone on the encoder the org has.
    encoder_share: float = 0.25
    #: Training issues the encoder never trained on that a head alone is calibrated on.
    min_unseen: int = 30
    #: Versions of a repository kept on disk besides the live one: the newest this many
    #: (rollback targets; at least 1). Each version is small, but the encoder it names (~90 MB) is
    #: kept as long as any kept version names it, so this bounds the disk an org uses.
    keep_versions: int = 5


@dataclass(frozen=True)
class Split:
    """Oldest items for training, newest for the holdout."""

    train: list[LabelledItem]
    holdout: list[LabelledItem]

    @property
    def cutoff(self) -> str:
        """``created_at`` of the oldest holdout item ('' when the holdout is empty)."""
        return self.holdout[0].created_at if self.holdout else ""


@dataclass(frozen=True)
class Plan:
    """What to train on: the split restricted to the label vocabulary."""

    split: Split
    labels: list[str]


@dataclass(frozen=True)
class Readiness:
    """Whether a repository has enough labelled history; ``reason`` says why not."""

    ready: bool
    reason: str
    plan: Plan | None = None


def chronological(items: Iterable[LabelledItem]) -> list[LabelledItem]:
    """Items oldest first by ``created_at``, ties broken by issue number."""
    return sorted(items, key=lambda it: (it.created_at, it.number or 0))


def time_split(items: Sequence[LabelledItem], holdout_fraction: float) -> Split:
    """Oldest ``1 - holdout_fraction`` for training, the newest rest for the holdout.

    The holdout gets at least one item whenever there are two or more.
    """
    ordered = chronological(items)
    size = round(len(ordered) * holdout_fraction)
    size = min(max(size, 1), len(ordered) - 1) if len(ordered) >= 2 else 0
    cut = len(ordered) - size
    return Split(ordered[:cut], ordered[cut:])


def label_counts(items: Iterable[LabelledItem]) -> Counter[str]:
    """How many items carry each label."""
    return Counter(label for item in items for label in item.labels)


def vocabulary(items: Iterable[LabelledItem], min_per_label: int) -> list[str]:
    """Labels with at least ``min_per_label`` items, sorted."""
    return sorted(lab for lab, n in label_counts(items).items() if n >= min_per_label)


def restrict(items: Iterable[LabelledItem], labels: Sequence[str]) -> list[LabelledItem]:
    """Items with only the given labels; items left with none are dropped."""
    keep = set(labels)
    out = []
    for item in items:
        kept = tuple(lab for lab in item.labels if lab in keep)
        if kept:
            out.append(replace(item, labels=kept))
    return out


def plan_training(items: Sequence[LabelledItem], policy: RetrainPolicy) -> Readiness:
    """Split by time, learn the labels the training part has enough of, check the size.

    Only labelled items count. The vocabulary comes from the training part alone, so
    a label that appeared only recently waits until it has training examples.
    """
    labelled = [it for it in items if it.labels]
    split = time_split(labelled, policy.holdout_fraction)
    train_part = split.train[-policy.max_train_items :] if policy.max_train_items else split.train
    labels = vocabulary(train_part, policy.min_per_label)
    train, holdout = restrict(train_part, labels), restrict(split.holdout, labels)
    usable = len(train) + len(holdout)
    if len(labels) < policy.min_labels:
        return Readiness(
            False,
            f"{len(labels)} label(s) with ≥ {policy.min_per_label} training items; "
            f"{policy.min_labels} needed",
        )
    if usable < policy.min_items:
        return Readiness(False, f"{usable} labelled issues; {policy.min_items} needed")
    if not holdout:
        return Readiness(False, "no recent labelled issue to evaluate on")
    return Readiness(True, "ready", Plan(Split(train, holdout), labels))
