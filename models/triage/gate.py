"""The gate: a label goes live only when the lower confidence bound of its precision,
measured on items neither the classifier nor the threshold saw, reaches the repository's
bar (pure functions).

Every classifier Steward uses (nearest neighbours over a repository's issues or pull
requests, a fine-tuned model) is gated the same way, on the repository's own labelled
items:

1. **Held-out scores**: each item's probabilities come from a classifier that did not
   learn from it (nearest neighbours: leave one out; a fine-tuned model: out of fold).
2. **Cross-fitted thresholds**: the items are dealt into ``folds`` folds interleaved in
   time (item ``i`` into fold ``i mod folds``). For each fold a threshold is chosen on
   the other folds (:func:`bound_threshold`, with a margin: where they would clear the
   bar with five times less doubt) and the fold's items are judged at it, so
   every item is judged at a threshold it did not help choose. The folds' counts add up
   to the label's measurement; a fine-tuned model adds its holdout, judged at the
   deployed threshold.
3. **Deployed threshold**: the strictest of the fold thresholds and the one the whole
   history sets: never looser than any threshold the measurement judged.
4. **Bound**: the one-sided Clopper–Pearson lower bound of the measured precision at
   ``confidence`` (:func:`precision_bound`). The label is *live* when that bound reaches
   ``target``; otherwise it stays in *shadow*: decided and recorded, never applied.

Why a bound and not the measured precision: a threshold judged on a few dozen items
looks better than it is. 25 right out of 25 is a point estimate of 1.0 but only says,
with 95 % confidence, that the label is right at least 88.7 % of the time; at the
default bar (0.95 with 95 % confidence) a label needs 59 right decisions without a
mistake, or 93 with one. Later, people's labels on the bot's decisions add evidence
the same way (:func:`live_verdict`): a shadow label goes live once the bound over its
history and its judged shadow decisions reaches the bar, and a live label is demoted
as soon as the bound over its history and what people kept of its labels falls below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from models.triage.calibration import NEVER, candidates

LIVE = "live"
SHADOW = "shadow"
#: How far :func:`evidence_needed` looks (right decisions in a row) before it gives up.
MAX_EVIDENCE = 1_000_000


@dataclass(frozen=True)
class GatePolicy:
    """The bar a label must clear, and how its evidence is gathered."""

    #: The precision the lower bound must reach (``triage.precision``).
    target: float = 0.95
    #: Applications a label needs at the least, whatever the bound (``triage.min_support``).
    min_support: int = 10
    #: Confidence of the lower bound (``triage.confidence``): 0.95 means a label that
    #: is really below the bar passes at most 5 % of the time.
    confidence: float = 0.95
    #: Folds of the cross-fitted threshold choice.
    folds: int = 5

    @property
    def choice_confidence(self) -> float:
        """The confidence thresholds are chosen at: five times less doubt than the test's
        (0.99 for 0.95). A threshold chosen where the bound only just clears the bar sits
        on the edge of the clean region, and the held-out test then fails labels that
        are really above it; one chosen deeper in passes more of them, with higher
        precision (``benchmarks/bench_gate_splits.py``: more labels live and fewer
        misses on the next issues).
        """
        return 1.0 - (1.0 - self.confidence) / 5.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GatePolicy:
        """The policy a profile stored (unknown keys ignored, missing ones defaulted)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def precision_bound(correct: float, applied: float, confidence: float) -> float:
    """One-sided Clopper–Pearson lower bound of a precision of ``correct``/``applied``.

    Exact (from the beta distribution), so it never claims more than the counts show:
    0 for no evidence, ``(1 - confidence) ** (1 / n)`` for ``n`` right out of ``n``.
    Counts may be fractional (:func:`bound_threshold` scales them).
    """
    return float(precision_bounds(np.array([correct]), np.array([applied]), confidence)[0])


def precision_bounds(correct: np.ndarray, applied: np.ndarray, confidence: float) -> np.ndarray:
    """:func:`precision_bound` of many counts at once."""
    from scipy.stats import beta

    c = np.asarray(correct, dtype=float)
    n = np.asarray(applied, dtype=float)
    some = (c > 0) & (n > 0)
    safe_c = np.where(some, c, 1.0)
    safe_n = np.where(some, n, 2.0)
    bound = beta.ppf(1.0 - confidence, safe_c, safe_n - safe_c + 1.0)
    return np.asarray(np.where(some, bound, 0.0), dtype=float)


def passes(correct: float, applied: float, policy: GatePolicy) -> bool:
    """Whether measurements clear the bar: enough applications and a bound at the target."""
    if applied < policy.min_support:
        return False
    return precision_bound(correct, applied, policy.confidence) >= policy.target


def evidence_needed(correct: int, applied: int, policy: GatePolicy) -> int:
    """How many more right decisions in a row the label needs to clear the bar (0: it
    clears it now); :data:`MAX_EVIDENCE` when a target of 1 can never be reached.
    """
    if passes(correct, applied, policy):
        return 0
    low, high = 1, 1
    while not passes(correct + high, applied + high, policy):
        if high >= MAX_EVIDENCE:
            return MAX_EVIDENCE
        low, high = high + 1, high * 2
    while low < high:  # the smallest k in [low, high] that passes
        mid = (low + high) // 2
        if passes(correct + mid, applied + mid, policy):
            high = mid
        else:
            low = mid + 1
    return high


def verdict(applied: int, correct: int, policy: GatePolicy) -> tuple[bool, str]:
    """Whether measurements let a label be live, and a sentence that says why."""
    measured = f"{correct}/{applied} right"
    if applied == 0:
        return False, f"never applied on held-out items; {_needs(correct, applied, policy)}"
    bound = precision_bound(correct, applied, policy.confidence)
    # Rounded down: a bound of 0.9497 must not read as 0.950, the bar it missed.
    shown = math.floor(bound * 1000) / 1000
    said = f"{measured}: precision ≥ {shown:.3f} with {policy.confidence:.0%} confidence"
    if bound < policy.target or applied < policy.min_support:
        return (
            False,
            f"{said}, below the bar of {policy.target:.2f}; {_needs(correct, applied, policy)}",
        )
    return True, f"{said}, reaches the bar of {policy.target:.2f}"


def _needs(correct: int, applied: int, policy: GatePolicy) -> str:
    more = evidence_needed(correct, applied, policy)
    if more >= MAX_EVIDENCE:
        return "no amount of evidence reaches the bar"
    return f"needs {more} more right decision(s) without a mistake"


def bound_threshold(
    scores: np.ndarray, right: np.ndarray, policy: GatePolicy, *, scale: float = 1.0
) -> float:
    """The threshold of a label: the lowest score whose "apply when score ≥ it" set
    clears the bar at :attr:`GatePolicy.choice_confidence`, its counts taken ``scale``
    times; when none does, the score where that bound is highest (the most promising
    threshold: people's later judgments of the decisions there add to its evidence).
    :data:`NEVER` with fewer than ``min_support`` candidates.

    ``scale`` lets a fold's threshold be chosen as the whole history's would be: the
    other folds hold ``(folds - 1) / folds`` of the evidence.
    """
    if len(scores) == 0:
        return NEVER
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    hits = np.cumsum(right[order].astype(float)) * scale
    counts = np.arange(1, len(order) + 1, dtype=float) * scale
    bounds = precision_bounds(hits, counts, policy.choice_confidence)
    # Ties: a cut inside a run of equal scores is not a real threshold.
    distinct = np.append(ranked[1:] < ranked[:-1], True)
    eligible = distinct & (counts >= policy.min_support)
    clears = np.flatnonzero(eligible & (bounds >= policy.target))
    if len(clears):
        return float(ranked[clears[-1]])
    if not eligible.any():
        return NEVER
    return float(ranked[int(np.argmax(np.where(eligible, bounds, -1.0)))])


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
    #: The bar it was judged against (stored with it, so it reads alone).
    target: float = GatePolicy.target
    confidence: float = GatePolicy.confidence
    min_support: int = GatePolicy.min_support
    #: People's judgments of the bot's decisions at this threshold, as of the last
    #: re-judgement (:func:`live_verdict`): evidence beside the history's.
    judged: int = 0
    judged_correct: int = 0

    @property
    def evidence_applied(self) -> int:
        """Decisions judged in all: on the history and by people."""
        return self.applied + self.judged

    @property
    def evidence_correct(self) -> int:
        """Of those, the right ones."""
        return self.correct + self.judged_correct

    @property
    def precision(self) -> float | None:
        """Measured precision (None when the label was never applied)."""
        return self.correct / self.applied if self.applied else None

    @property
    def coverage(self) -> float:
        """Share of the measured items the label was applied to."""
        return self.applied / self.measured_on if self.measured_on else 0.0

    @property
    def policy(self) -> GatePolicy:
        """The bar this gate was judged against."""
        return GatePolicy(
            target=self.target, confidence=self.confidence, min_support=self.min_support
        )

    @property
    def bound(self) -> float:
        """The lower confidence bound of its precision, over all its evidence."""
        return precision_bound(self.evidence_correct, self.evidence_applied, self.confidence)

    @property
    def needed(self) -> int:
        """More right decisions in a row it needs to clear the bar (0: it does)."""
        return evidence_needed(self.evidence_correct, self.evidence_applied, self.policy)

    @property
    def state(self) -> str:
        """``live`` or ``shadow``."""
        return LIVE if self.live else SHADOW

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (with the derived precision, coverage, bound and need)."""
        return {
            **asdict(self),
            "precision": self.precision,
            "coverage": self.coverage,
            "bound": self.bound,
            "needed": self.needed,
        }


def judge(gate: LabelGate, policy: GatePolicy) -> LabelGate:
    """``gate`` judged against ``policy``: its live state and reason from what was
    measured (a label without a threshold keeps its reason and stays in shadow).
    """
    bar = {
        "target": policy.target,
        "confidence": policy.confidence,
        "min_support": policy.min_support,
    }
    if gate.threshold >= NEVER:
        return _with(gate, live=False, reason=gate.reason, **bar)
    live, reason = verdict(gate.evidence_applied, gate.evidence_correct, policy)
    return _with(gate, live=live, reason=reason, **bar)


@dataclass(frozen=True)
class Evidence:
    """One label's measurement: the deployed threshold and the held-out counts."""

    threshold: float
    applied: int
    correct: int


def fold_of(count: int, folds: int) -> np.ndarray:
    """Each of ``count`` chronological items' fold: interleaved, so every fold spans the
    whole history and none is only the oldest or the newest items.
    """
    return np.arange(count) % max(1, folds)


def cross_fit(
    scores: np.ndarray, right: np.ndarray, folds: np.ndarray, policy: GatePolicy
) -> Evidence:
    """Judge each fold's candidates at the threshold the other folds chose; the deployed
    threshold is the strictest of those and of the one all candidates choose.
    """
    parts = np.unique(folds)
    if len(parts) < 2:
        return Evidence(NEVER, 0, 0)
    scale = len(parts) / (len(parts) - 1)
    applied = correct = 0
    strictest = bound_threshold(scores, right, policy)
    for part in parts:
        mine = folds == part
        threshold = bound_threshold(scores[~mine], right[~mine], policy, scale=scale)
        strictest = max(strictest, threshold)
        hits = mine & (scores >= threshold)
        applied += int(hits.sum())
        correct += int(right[hits].sum())
    return Evidence(strictest, applied, correct)


def _candidate_rows(probs: np.ndarray, column: int, single: bool) -> np.ndarray:
    if single:
        return np.flatnonzero(probs.argmax(axis=1) == column)
    return np.arange(len(probs))


def gate_labels(
    probs: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    *,
    policy: GatePolicy,
    single_label: bool = True,
    holdout: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, LabelGate]:
    """Gate every label from held-out probabilities ``probs`` (n × L, items in time
    order) and 0/1 ``truth``, cross-fitting the thresholds.

    Single-label: a label is applied to an item only when it is the item's top label
    and its probability reaches the threshold. ``holdout`` (probabilities and truth of
    newer items a final model never saw) is judged at the deployed threshold and counts
    as more evidence.
    """
    folds = fold_of(len(probs), min(policy.folds, len(probs)))
    return {
        label: _gate_one(
            probs,
            truth,
            j,
            label=label,
            folds=folds,
            policy=policy,
            single=single_label,
            holdout=holdout,
        )
        for j, label in enumerate(labels)
    }


def _gate_one(
    probs: np.ndarray,
    truth: np.ndarray,
    column: int,
    *,
    label: str,
    folds: np.ndarray,
    policy: GatePolicy,
    single: bool,
    holdout: tuple[np.ndarray, np.ndarray] | None,
) -> LabelGate:
    scores, right = candidates(probs, truth, column, single_label=single)
    rows = _candidate_rows(probs, column, single)
    found = cross_fit(scores, right, folds[rows], policy)
    applied, correct, measured_on = found.applied, found.correct, len(probs)
    positives = int(truth[:, column].sum()) if len(truth) else 0
    if holdout is not None and found.threshold < NEVER:
        h_scores, h_right = candidates(*holdout, column, single_label=single)
        hits = h_scores >= found.threshold
        applied, correct = applied + int(hits.sum()), correct + int(h_right[hits].sum())
    if holdout is not None:
        measured_on += len(holdout[0])
        positives += int(holdout[1][:, column].sum()) if len(holdout[1]) else 0
    gate = LabelGate(
        label=label,
        threshold=found.threshold,
        applied=applied,
        correct=correct,
        positives=positives,
        measured_on=measured_on,
        live=False,
        reason=(
            f"no threshold: {len(scores)} candidate item(s) in the history, fewer than the "
            f"{policy.min_support} needed"
            if len(probs)
            else "nothing of this kind in the labelled history to measure it on"
        ),
    )
    return judge(gate, policy)


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
    return judge(
        LabelGate(
            label=label,
            threshold=float(threshold),
            applied=int(hits.sum()),
            correct=int(right[hits].sum()),
            positives=int(truth[:, column].sum()) if len(truth) else 0,
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
    """Gate a model whose thresholds were chosen elsewhere on held-out items it never
    saw (what a model trained without calibration folds is judged by).
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


def people_evidence(threshold: float, counts: LiveCounts) -> tuple[int, int]:
    """(judged, right) of the bot's decisions on a label that people's labels judged:
    every live one, and the shadow ones at or above ``threshold``.
    """
    if counts.shadow:
        above = [right for prob, right in counts.shadow if prob >= threshold]
        shadow_n, shadow_right = len(above), sum(above)
    else:  # counts without probabilities: judged at the gate's threshold
        shadow_n, shadow_right = counts.shadow_judged, counts.shadow_correct
    return counts.live_applied + shadow_n, counts.live_correct + shadow_right


def live_verdict(gate: LabelGate, counts: LiveCounts, policy: GatePolicy) -> LabelGate:
    """Re-judge a label on all its evidence at its threshold: the history's measurement
    plus what people did with the bot's decisions (recounted from scratch each time, so
    nothing counts twice). A shadow label goes live once the bound clears the bar; a
    live one is demoted as soon as it does not. A shadow label that does not clear it at
    its own threshold (none set, or people's decisions fall below it) may still go live
    at a threshold cross-fitted on its judged shadow decisions alone.

    Shadow decisions count as right when a person later applied the label, live ones
    when nobody removed it (see ``workers.triage.live_eval``).
    """
    rejudged = _at_threshold(gate, counts, policy) if gate.threshold < NEVER else gate
    if rejudged.live or gate.live:
        return rejudged
    return _threshold_from_people(rejudged, counts, policy)


def _at_threshold(gate: LabelGate, counts: LiveCounts, policy: GatePolicy) -> LabelGate:
    judged_n, judged_right = people_evidence(gate.threshold, counts)
    if (judged_n, judged_right) == (gate.judged, gate.judged_correct):
        return gate
    updated = _with(gate, judged=judged_n, judged_correct=judged_right)
    live, reason = verdict(updated.evidence_applied, updated.evidence_correct, policy)
    said = f"history {gate.correct}/{gate.applied} and people {judged_right}/{judged_n}: {reason}"
    if live and not gate.live:
        said = f"promoted from shadow: {said}"
    elif gate.live and not live:
        said = (
            f"demoted: people kept {counts.live_correct} of {counts.live_applied} applied; {said}"
        )
    return _with(updated, live=live, reason=said)


def _threshold_from_people(gate: LabelGate, counts: LiveCounts, policy: GatePolicy) -> LabelGate:
    if not counts.shadow:
        return gate
    probs = np.array([[prob] for prob, _ in counts.shadow], dtype=float)
    truth = np.array([[int(right)] for _, right in counts.shadow], dtype=int)
    new = gate_labels(probs, truth, [gate.label], policy=policy, single_label=False)[gate.label]
    if not new.live:
        return gate
    # The history measured nothing at this threshold: the evidence is people's alone.
    return _with(
        new,
        applied=0,
        correct=0,
        judged=new.applied,
        judged_correct=new.correct,
        positives=gate.positives,
        measured_on=gate.measured_on,
        reason=f"promoted from shadow at threshold {new.threshold:.3f}: {new.reason}",
    )


def _with(gate: LabelGate, **changes: Any) -> LabelGate:
    return LabelGate(**{**asdict(gate), **changes})


def gate_from_json(data: Mapping[str, Any]) -> LabelGate:
    """A gate from :meth:`LabelGate.to_json` (derived fields ignored; a gate stored
    before the bar was kept with it reads with the default bar).
    """
    return LabelGate(
        label=str(data["label"]),
        threshold=float(data["threshold"]),
        applied=int(data["applied"]),
        correct=int(data["correct"]),
        positives=int(data["positives"]),
        measured_on=int(data["measured_on"]),
        live=bool(data["live"]),
        reason=str(data["reason"]),
        target=float(data.get("target", GatePolicy.target)),
        confidence=float(data.get("confidence", GatePolicy.confidence)),
        min_support=int(data.get("min_support", GatePolicy.min_support)),
        judged=int(data.get("judged", 0)),
        judged_correct=int(data.get("judged_correct", 0)),
    )


#: Why a discussion's label waits in shadow: the history holds no labelled discussions.
DISCUSSIONS_UNMEASURED = (
    "no labelled discussions in the history to measure it on: decided in shadow at the "
    "issues' threshold until people's labels on discussions clear the bar"
)


def for_discussions(gates: Mapping[str, LabelGate]) -> list[LabelGate]:
    """Discussions' gates from the issues' (discussions are classified as issues): the
    same thresholds, no evidence yet, so every label starts in shadow and goes live only
    on what people's labels on discussions show (:func:`live_verdict`).
    """
    return [
        _with(
            gate,
            applied=0,
            correct=0,
            positives=0,
            measured_on=0,
            judged=0,
            judged_correct=0,
            live=False,
            reason=DISCUSSIONS_UNMEASURED,
        )
        for gate in gates.values()
    ]
