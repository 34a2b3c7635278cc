"""Pure decisions of scheduled retraining: enough history, the time-ordered split,
the label vocabulary, whether a candidate model replaces the live one, and which
old versions and shared encoders retention deletes.

Nothing here touches GitHub, the disk or a model: the flow
(:mod:`workers.retrain.flow`) gathers the data and the scores and asks these
functions what to do, so every rule is testable as a table of cases.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class Score:
    """The numbers the promotion rule compares, measured on one holdout."""

    macro_f1: float
    applied_precision: float
    applied: int = 0

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> Score:
        """From an ``evaluate_repo`` result."""
        return cls(
            macro_f1=float(metrics["macro_f1"]),
            # A model that applied nothing has no precision; the promotion rule's floor
            # then stays where a perfect one would put it.
            applied_precision=float(
                1.0 if metrics["applied_precision"] is None else metrics["applied_precision"]
            ),
            applied=int(metrics.get("applied", 0)),
        )


@dataclass(frozen=True)
class Decision:
    """Promote the candidate or not, and why (recorded with the version)."""

    promote: bool
    reason: str


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


def promotion(
    candidate: Score, current: Score | None, policy: RetrainPolicy, *, same_data: bool = False
) -> Decision:
    """Whether the candidate replaces the live model (both scored on the same holdout).

    With no live model the candidate goes live. Otherwise it must beat the live
    model's macro F1 by ``margin``, and if it applies labels at all, its applied
    precision may not fall more than ``precision_tolerance`` below the live one's.
    A candidate trained on the same data as the live model (``same_data``: it came
    along in its org's pooled training) need only hold its macro F1 within ``margin``:
    moving it to the org's new encoder keeps one encoder per org in memory.
    """
    if current is None:
        return Decision(True, "no live model")
    floor = current.applied_precision - policy.precision_tolerance
    if candidate.applied and candidate.applied_precision < floor:
        return Decision(
            False,
            f"applied precision {candidate.applied_precision:.3f} is below the live "
            f"model's {current.applied_precision:.3f} - {policy.precision_tolerance}",
        )
    gain = candidate.macro_f1 - current.macro_f1
    if same_data and gain >= -policy.margin:
        return Decision(
            True,
            f"same data on the org's shared encoder: macro F1 {candidate.macro_f1:.3f} holds "
            f"{current.macro_f1:.3f} within {policy.margin}",
        )
    if gain < policy.margin:
        return Decision(
            False,
            f"macro F1 {candidate.macro_f1:.3f} does not beat the live model's "
            f"{current.macro_f1:.3f} by {policy.margin}",
        )
    return Decision(True, f"macro F1 {candidate.macro_f1:.3f} beats {current.macro_f1:.3f}")


def align_probs(
    model_labels: Sequence[str], probs: np.ndarray, target_labels: Sequence[str]
) -> np.ndarray:
    """A model's probabilities re-ordered to ``target_labels`` (0 for labels it lacks),
    so an older model with another vocabulary is scored on the same columns.
    """
    index = {lab: j for j, lab in enumerate(model_labels)}
    out = np.zeros((len(probs), len(target_labels)), dtype=np.float32)
    for j, lab in enumerate(target_labels):
        if lab in index:
            out[:, j] = probs[:, index[lab]]
    return out


def data_fingerprint(items: Iterable[LabelledItem], labels: Sequence[str]) -> str:
    """``sha256:<hex>`` of the training data as used (items in order and the vocabulary)."""
    digest = hashlib.sha256(json.dumps(list(labels)).encode())
    for it in items:
        row = [it.number, it.created_at, it.title, it.body, list(it.labels)]
        digest.update(json.dumps(row, ensure_ascii=False).encode() + b"\n")
    return "sha256:" + digest.hexdigest()


def already_trained(fingerprint: str, versions: Sequence[Mapping[str, Any]]) -> int | None:
    """The version number already trained on exactly this data, if any."""
    for row in reversed(versions):
        if row.get("fingerprint") == fingerprint:
            return version_of(row)
    return None


def version_of(row: Mapping[str, Any]) -> int | None:
    """The per-repository version number of a ``model_versions`` row (its folder name)."""
    name = str(row.get("path") or "").rstrip("/").rsplit("/", 1)[-1]
    return int(name) if name.isdigit() else None


def next_version(existing: Iterable[str]) -> int:
    """One more than the largest numeric folder name (1 for none)."""
    numbers = [int(name) for name in existing if name.isdigit()]
    return max(numbers, default=0) + 1


def apply_corrections(
    items: Sequence[LabelledItem], feedback: Iterable[Mapping[str, Any]]
) -> tuple[list[LabelledItem], set[int]]:
    """Items with the labels people corrected the bot to, and the corrected numbers.

    A label people removed after the bot applied it goes (``label_removed``); a label
    they added after the bot decided comes (``label_added``). The collector's refresh
    usually has the same labels already; the recorded corrections make sure they count
    even before it ran.
    """
    changes: dict[int, tuple[set[str], set[str]]] = {}
    for row in feedback:
        added, removed = changes.setdefault(int(row["number"]), (set(), set()))
        if row["kind"] == "label_added":
            added.add(str(row["subject"]))
            removed.discard(str(row["subject"]))
        elif row["kind"] == "label_removed":
            removed.add(str(row["subject"]))
            added.discard(str(row["subject"]))
    out, corrected = [], set()
    for item in items:
        if item.number is None or item.number not in changes:
            out.append(item)
            continue
        added, removed = changes[item.number]
        labels = tuple(dict.fromkeys(lab for lab in (*item.labels, *added) if lab not in removed))
        corrected.add(item.number)
        out.append(replace(item, labels=labels))
    return out, corrected


def weighted(train: Sequence[LabelledItem], corrected: set[int], weight: int) -> list[LabelledItem]:
    """The training items with each corrected one repeated ``weight`` times in all, so
    the next model learns most from the decisions people had to fix.
    """
    out = []
    for item in train:
        out.extend([item] * (weight if item.number in corrected else 1))
    return out


# ------------------------------------------------------------------ retention


@dataclass(frozen=True)
class ModelRef:
    """What one model folder on disk needs from the encoder store."""

    #: ``encoder_digest`` of its ``triage.json`` ('' when it names none).
    digest: str
    #: Whether it holds its own encoder (``config.json`` in the folder): such a folder
    #: (what ``steward train --out`` writes) needs nothing from the store.
    standalone: bool = False


def versions_to_prune(
    numbers: Iterable[int], *, live: int | None, keep: int, pinned: Collection[int] = ()
) -> list[int]:
    """Version numbers of one repository to delete, oldest first.

    Kept: the newest ``keep`` versions, the ``live`` one (the live link's target, however
    old: it is what the bot uses), and any ``pinned`` one (the version the database marks
    promoted, which the next run points the link back to if a crash left them apart).
    ``keep`` is at least 1: the newest version always stays, so a version number is never
    given to a second model (the next one is numbered after the newest on disk).
    """
    if keep < 1:
        raise ValueError(f"keep must be 1 or more, not {keep}")
    newest_first = sorted(set(numbers), reverse=True)
    kept = {*newest_first[:keep], *pinned}
    if live is not None:
        kept.add(live)
    return sorted(n for n in newest_first if n not in kept)


def referenced_digests(refs: Iterable[ModelRef]) -> set[str]:
    """Digests of the encoder store some kept model folder loads its encoder from."""
    return {ref.digest for ref in refs if ref.digest and not ref.standalone}


def encoders_to_prune(
    ages: Mapping[str, float], *, referenced: Collection[str], min_age: float
) -> list[str]:
    """Folders of the encoder store to delete, by name: unreferenced and old enough.

    ``ages`` maps each folder's name to seconds since it was last written. A young
    unreferenced folder stays: another org's retrain stores its encoder before it
    publishes the version that names it, and must not find it gone. Leftovers of a
    killed write (``.tmp-*``) are never referenced, so they go once they are as old.
    """
    return sorted(name for name, age in ages.items() if name not in referenced and age >= min_age)
