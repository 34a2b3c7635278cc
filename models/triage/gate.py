"""The gate: a label goes live only when its precision, measured on data the
classifier has not seen, reaches the repository's bar (pure functions).

Every classifier Steward uses on a repository (nearest neighbours over its history,
or a fine-tuned model) is gated the same way, on the repository's own labelled items
in time order:

1. **Calibrate**: a label's threshold is the lowest probability at which applying it
   would have been right often enough on earlier items
   (:func:`models.triage.calibration.choose_threshold`, Laplace-smoothed).
2. **Measure**, rolling forward through the newest part (``measure_fraction`` of the
   history): each item is judged at the threshold that only the items *older* than it
   would have set, so every measurement is on data the threshold never saw; the
   deployed threshold is then calibrated on the whole history.
3. **Decide**: the label is *live* when it was applied at least ``min_support`` times
   and its smoothed precision ``(right + 1) / (applied + 2)`` reaches ``target``;
   otherwise it stays in *shadow*: decided and recorded, never applied.

The smoothing is deliberate: ten right out of ten is 0.92 smoothed, not 1.0, so a
label goes live on a few measurements only when they leave no doubt. A label that
never reaches the bar on history can still be promoted later by
:func:`live_verdict`, from what people did with its shadow decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from models.triage.calibration import NEVER, candidates, choose_threshold, smoothed_precision

LIVE = "live"
SHADOW = "shadow"


@dataclass(frozen=True)
class GatePolicy:
    """The bar a label must clear, and how history is split to measure it."""

    #: Smoothed precision a label needs on the newest items (``triage.precision``).
    target: float = 0.95
    #: Applications it must have been measured on (``triage.min_support``).
    min_support: int = 10
    #: Share of the history, newest first, that is measured on (each item at the
    #: threshold the items older than it set); the oldest rest only calibrates.
    measure_fraction: float = 0.7


@dataclass(frozen=True)
class LabelGate:
    """One label's gate: its threshold, what was measured, and whether it is live."""

    label: str
    threshold: float
    applied: int
    correct: int
    positives: int
    measured_on: int
    live: bool
    reason: str

    @property
    def precision(self) -> float | None:
        """Measured precision (None when the label was never applied)."""
        return self.correct / self.applied if self.applied else None

    @property
    def coverage(self) -> float:
        """Share of the measured items the label was applied to."""
        return self.applied / self.measured_on if self.measured_on else 0.0

    @property
    def state(self) -> str:
        """``live`` or ``shadow``."""
        return LIVE if self.live else SHADOW

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (with the derived precision and coverage)."""
        return {**asdict(self), "precision": self.precision, "coverage": self.coverage}


def verdict(applied: int, correct: int, policy: GatePolicy) -> tuple[bool, str]:
    """Whether measurements let a label be live, and a sentence that says why."""
    if applied < policy.min_support:
        return False, f"applied {applied} time(s) on measured items; {policy.min_support} needed"
    smoothed = smoothed_precision(correct, applied)
    measured = f"{correct}/{applied} right (smoothed {smoothed:.3f})"
    if smoothed < policy.target:
        return False, f"{measured} is below the bar of {policy.target:.2f}"
    return True, f"{measured} reaches the bar of {policy.target:.2f}"


def time_cut(count: int, measure_fraction: float) -> int:
    """Index of the first measured item of ``count`` chronological items (both parts get
    at least one item when there are two or more).
    """
    if count < 2:
        return count
    measured = min(max(round(count * measure_fraction), 1), count - 1)
    return count - measured


def gate_labels(
    probs: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    *,
    policy: GatePolicy,
    single_label: bool = True,
) -> dict[str, LabelGate]:
    """Gate every label from chronological probabilities ``probs`` (n × L) and 0/1 ``truth``.

    Single-label: a label is applied to an item only when it is the item's top label
    and its probability reaches the threshold. ``probs`` must be what the classifier
    said about each item *before* it could learn from it (out of time, or held out).
    """
    cut = time_cut(len(probs), policy.measure_fraction)
    return {
        label: _gate_one(probs, truth, j, label=label, cut=cut, policy=policy, single=single_label)
        for j, label in enumerate(labels)
    }


def _gate_one(
    probs: np.ndarray,
    truth: np.ndarray,
    column: int,
    *,
    label: str,
    cut: int,
    policy: GatePolicy,
    single: bool,
) -> LabelGate:
    """Rolling measurement: every item from ``cut`` on is judged at the threshold that
    the items before it would have set; the deployed threshold comes from all items.
    """
    scores, right = candidates(probs, truth, column, single_label=single)
    rows = np.flatnonzero(probs.argmax(axis=1) == column) if single else np.arange(len(probs))
    applied = correct = 0
    step = max(1, (len(probs) - cut) // 200)  # recalibrate at most ~200 times
    for start in range(cut, len(probs), step):
        older = rows < start
        threshold = choose_threshold(scores[older], right[older], target=policy.target)
        now = (rows >= start) & (rows < start + step) & (scores >= threshold)
        applied += int(now.sum())
        correct += int(right[now].sum())
    return judged(
        LabelGate(
            label=label,
            threshold=choose_threshold(scores, right, target=policy.target),
            applied=applied,
            correct=correct,
            positives=int(truth[cut:, column].sum()),
            measured_on=len(probs) - cut,
            live=False,
            reason="no threshold reaches the bar on the history",
        ),
        policy,
    )


def judged(gate: LabelGate, policy: GatePolicy) -> LabelGate:
    """``gate`` with its live state and reason from what was measured (a label without a
    threshold keeps the reason it came with and stays in shadow).
    """
    if gate.threshold >= NEVER:
        return _with(gate, live=False, reason=gate.reason)
    live, reason = verdict(gate.applied, gate.correct, policy)
    return _with(gate, live=live, reason=reason)


def measure(
    probs: np.ndarray,
    truth: np.ndarray,
    column: int,
    *,
    label: str,
    threshold: float,
    policy: GatePolicy,
    single: bool,
) -> LabelGate:
    """One label's gate at a given threshold, measured on ``probs`` (unseen items)."""
    scores, right = candidates(probs, truth, column, single_label=single)
    hits = scores >= threshold
    return judged(
        LabelGate(
            label=label,
            threshold=float(threshold),
            applied=int(hits.sum()),
            correct=int(right[hits].sum()),
            positives=int(truth[:, column].sum()),
            measured_on=len(probs),
            live=False,
            reason="its calibration set no threshold",
        ),
        policy,
    )


def gate_at_thresholds(
    probs: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    *,
    thresholds: Mapping[str, float],
    policy: GatePolicy,
    single_label: bool,
) -> dict[str, LabelGate]:
    """Gate a model whose thresholds were calibrated elsewhere (a fine-tuned model's, on
    its training data) on held-out items it never saw.
    """
    return {
        label: measure(
            probs,
            truth,
            j,
            label=label,
            threshold=float(thresholds.get(label, NEVER)),
            policy=policy,
            single=single_label,
        )
        for j, label in enumerate(labels)
    }


@dataclass(frozen=True)
class LiveCounts:
    """What people did with one label's decisions since it was gated."""

    live_applied: int = 0
    live_correct: int = 0
    shadow_judged: int = 0
    shadow_correct: int = 0
    #: The judged shadow decisions in time order: (probability, whether people agreed).
    shadow: tuple[tuple[float, bool], ...] = ()


def live_verdict(gate: LabelGate, counts: LiveCounts, policy: GatePolicy) -> LabelGate:
    """Promote a shadow label whose shadow decisions people confirmed often enough, or
    demote a live label people corrected too often; otherwise the gate as it was.

    Shadow decisions count as right when a person later applied the label, live ones
    when nobody removed it (see ``workers.triage.live_eval``).
    """
    if gate.live:
        if counts.live_applied < policy.min_support:
            return gate
        smoothed = smoothed_precision(counts.live_correct, counts.live_applied)
        if smoothed >= policy.target:
            return gate
        why = (
            f"demoted: people kept {counts.live_correct} of {counts.live_applied} applied "
            f"(smoothed {smoothed:.3f} < {policy.target:.2f})"
        )
        return _with(gate, live=False, reason=why)
    return _promotion(gate, counts, policy)


def _promotion(gate: LabelGate, counts: LiveCounts, policy: GatePolicy) -> LabelGate:
    """A shadow label goes live when people confirmed its decisions: those at its own
    threshold reach the bar, or (a label whose history set no threshold) a threshold
    calibrated on the earlier judged decisions holds on the later ones.
    """
    if not counts.shadow:  # counts without probabilities: judged at the gate's threshold
        live, reason = verdict(counts.shadow_judged, counts.shadow_correct, policy)
        return _with(gate, live=True, reason=f"promoted from shadow: {reason}") if live else gate
    above = [right for prob, right in counts.shadow if prob >= gate.threshold]
    live, reason = verdict(len(above), sum(above), policy)
    if live:
        return _with(gate, live=True, reason=f"promoted from shadow: {reason}")
    probs = np.array([[prob] for prob, _ in counts.shadow], dtype=float)
    truth = np.array([[int(right)] for _, right in counts.shadow], dtype=int)
    rolled = gate_labels(probs, truth, [gate.label], policy=policy, single_label=False)
    new = rolled[gate.label]
    if not new.live:
        return gate
    return LabelGate(
        **{
            **asdict(new),
            "positives": gate.positives,
            "reason": f"promoted from shadow at threshold {new.threshold:.3f}: {new.reason}",
        }
    )


def _with(gate: LabelGate, *, live: bool, reason: str) -> LabelGate:
    return LabelGate(**{**asdict(gate), "live": live, "reason": reason})


def gate_from_json(data: Mapping[str, Any]) -> LabelGate:
    """A gate from :meth:`LabelGate.to_json` (derived fields ignored)."""
    return LabelGate(
        label=str(data["label"]),
        threshold=float(data["threshold"]),
        applied=int(data["applied"]),
        correct=int(data["correct"]),
        positives=int(data["positives"]),
        measured_on=int(data["measured_on"]),
        live=bool(data["live"]),
        reason=str(data["reason"]),
    )
