"""Pure decisions of scheduled retraining: whether a candidate model replaces the live
one, which data it was trained on, and the corrections people made (when a repository is
ready and how it is split: :mod:`models.triage.plan`; what retention deletes:
:mod:`workers.modelstore`).

Nothing here touches GitHub, the disk or a model: the flow
(:mod:`workers.retrain.flow`) gathers the data and the scores and asks these
functions what to do, so every rule is testable as a table of cases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from models.triage.data import LabelledItem
from models.triage.plan import RetrainPolicy
from workers.modelstore import version_of


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
