"""Per-repository matching settings, chosen by replaying the repository's own history.

One policy for every repository is the wrong shape: a team where one person reviews most
changes pays for a load discount that spreads requests far more than its history ever did,
and an encoder feature that helps one repository's texts does nothing for another's.
``choose_settings`` replays a repository's history once (``variants.replay_variants``:
the protocol of ``steward eval-reviewers``) and chooses, from the older part only:

* for reviewers, the ranker variant (encoder feature on or off, regularisation) and the
  load discount: the mildest strength of ``LOAD_GRID`` that keeps the busiest reviewer's
  share of requests at or below the history's own share (by one standard error);
* for people for an issue, the ranker variant.

A variant replaces the default only when it beats it on the tuning window by more than one
standard error of the paired difference; then the newest changes (the check window, never
used to choose) must not contradict the choice, else the default stays. Every number behind
a choice is kept in the ``MatchingChoice`` (JSON: ``to_json``/``from_json``), which a worker
stores with the repository's matching state; ``needs_rechoice`` says when enough new history
arrived to choose again, and ``effective_load`` lets an organisation's ``reviewers.load``
setting win over the calibrated discount.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from models.reviewers.constraints import LOAD_POLICY, Load
from models.reviewers.data import Change
from models.reviewers.index import Target
from models.reviewers.loadsim import LoadOutcome, simulate
from models.reviewers.ranker import RankerConfig
from models.reviewers.variants import (
    Variant,
    VariantReplay,
    Windows,
    reciprocal_ranks,
    replay_variants,
    window_sizes,
)

#: Format of the stored choice; a choice of another version is made again.
CHOICE_VERSION = 1
#: Below this many changes the replay's windows are too small to tell policies apart.
MIN_CHANGES = 150
#: Evaluated changes a window needs before its numbers decide anything.
MIN_EVALUATED = 30
#: Caps of the tuning and check windows, and the ranker's learning before them (from every
#: ``LEARN_STRIDE``-th change): they bound the cost on a long history (each change the
#: replay ranks or learns from is compared with the whole past) and keep the choice about
#: the recent team.
TUNE_MAX, CHECK_MAX, LEARN_WINDOW, LEARN_STRIDE = 600, 400, 1000, 2
#: Load policies tried: the bot's rule (``LOAD_POLICY``: workload up to the average is free)
#: at strengths from none to about seven times the fixed one's, about a factor of sqrt(2)
#: apart. One parameter, so that "the mildest discount that keeps the share" is well
#: defined and few candidates compete on noisy numbers.
LOAD_GRID: tuple[Load, ...] = tuple(
    replace(LOAD_POLICY, per_request=strength)
    for strength in (0.0, 0.1, 0.15, 0.25, 0.35, 0.5, 0.7, 1.0, 1.2, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0)
)
#: Regularisation strengths tried (sklearn's ``C``: smaller is stronger, for short histories).
REGULARIZATIONS: tuple[float, ...] = (RankerConfig().regularization, 0.1)
#: The tasks a choice covers, and whom each one ranks.
TASKS: tuple[str, ...] = ("reviewers", "people")
_TARGETS: dict[str, Target] = {"reviewers": "reviewers", "people": "authors"}
#: Choose again once this many new changes arrived, or half a check window if that is more.
RECHOOSE_MIN_NEW = 100


@dataclass(frozen=True)
class VariantScore:
    """A ranker variant's MRR (no load) on the tuning and check windows."""

    encoder: bool
    regularization: float
    tune_mrr: float
    check_mrr: float


@dataclass(frozen=True)
class TaskChoice:
    """What was chosen for one task (``reviewers`` or ``people``) and why.

    ``load`` (reviewers only) is the chosen policy on the tuning and check windows, beside
    the fixed policy's numbers on the same windows; ``weights`` are what the chosen ranker
    had learnt at the end of the replay (standardised inputs), for inspection.
    """

    task: str
    encoder: bool = False
    regularization: float = RankerConfig().regularization
    reason: str = "defaults"
    variants: tuple[VariantScore, ...] = ()
    load: LoadOutcome | None = None
    load_check: LoadOutcome | None = None
    fixed: LoadOutcome | None = None
    fixed_check: LoadOutcome | None = None
    load_tried: tuple[LoadOutcome, ...] = ()
    load_reason: str = ""
    weights: dict[str, float] = field(default_factory=dict)

    def policy(self) -> Load:
        """The load discount to run with: the chosen one, else the fixed ``LOAD_POLICY``."""
        if self.load is None:
            return LOAD_POLICY
        return replace(
            LOAD_POLICY, per_request=self.load.per_request, free_load=self.load.free_load
        )

    def ranker_config(self) -> RankerConfig:
        """The ranker configuration of the chosen variant."""
        return replace(RankerConfig(), regularization=self.regularization)


@dataclass(frozen=True)
class MatchingChoice:
    """A repository's matching settings and the replay behind them (module doc)."""

    version: int
    n_changes: int
    as_of: str
    windows: Windows
    reviewers: TaskChoice
    people: TaskChoice
    seconds: float = 0.0

    def to_json(self) -> str:
        """The choice as one JSON object (reciprocal ranks left out)."""
        return json.dumps(choice_as_dict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MatchingChoice:
        """The inverse of ``to_json``."""
        return choice_from_dict(json.loads(text))

    def check_window(self) -> int:
        """How many changes the check window held."""
        return self.windows.end - self.windows.check


def choose_settings(
    changes: Sequence[Change],
    *,
    vectors: Mapping[str, np.ndarray] | None = None,
    as_of: str = "merged",
    tasks: Collection[str] = TASKS,
) -> MatchingChoice:
    """Choose a repository's matching settings by replaying ``changes`` (module doc).

    ``vectors`` maps ``history.encoder_text`` of each change (and of its issue view, for
    people) to its encoder vector; without them the encoder feature stays off. ``as_of``
    is the replay's moment of ranking: ``"merged"`` (RevFinder's protocol, the default of
    ``eval-reviewers``) lets the ranker learn from the very comparison it ranked with;
    ``"created"`` (what the bot sees when a pull request opens, and what it chooses
    with) compares each evaluated change twice, which costs 15-55 % more. ``tasks``
    limits the work to ``reviewers`` and/or ``people`` (the other keeps its defaults). A
    pure function of its arguments, apart from the time it reports.
    """
    started = time.perf_counter()
    ordered = sorted(changes, key=lambda c: c.merged_at)
    windows = window_sizes(
        len(ordered),
        tune_max=TUNE_MAX,
        check_max=CHECK_MAX,
        learn_window=LEARN_WINDOW,
        learn_stride=LEARN_STRIDE,
    )
    if len(ordered) < MIN_CHANGES:
        reason = f"{len(ordered)} changes: fewer than {MIN_CHANGES}, defaults kept"
        chosen = {task: TaskChoice(task, reason=reason) for task in TASKS}
    else:
        chosen = _choose_by_replay(ordered, windows, vectors, as_of=as_of, tasks=tasks)
    seconds = round(time.perf_counter() - started, 2)
    return MatchingChoice(
        CHOICE_VERSION,
        len(ordered),
        as_of,
        windows,
        chosen["reviewers"],
        chosen["people"],
        seconds,
    )


def _choose_by_replay(
    ordered: Sequence[Change],
    windows: Windows,
    vectors: Mapping[str, np.ndarray] | None,
    *,
    as_of: str,
    tasks: Collection[str],
) -> dict[str, TaskChoice]:
    """One shared replay of every task asked for, then each task's choice."""
    chosen = {task: TaskChoice(task, reason="not chosen") for task in TASKS}
    variants = variant_grid(encoder=vectors is not None)
    plans = {_TARGETS[task]: variants for task in TASKS if task in tasks}
    # One thread: the replay is many small matrix products, which BLAS threads only slow
    # down on a shared CPU (the ranker's fits are limited the same way).
    with threadpool_limits(limits=1):
        runs = replay_variants(ordered, plans, windows, as_of=as_of, vectors=vectors)
    if "reviewers" in tasks:
        chosen["reviewers"] = _choose_reviewers(runs["reviewers"])
    if "people" in tasks:
        chosen["people"] = _choose_ranker("people", runs["authors"])
    return chosen


def variant_grid(*, encoder: bool) -> tuple[Variant, ...]:
    """The ranker variants tried; the first is the default (no encoder, default ``C``).

    The regularisation strengths without the encoder, and the encoder at the default one:
    each variant is one more ranker to train along the replay, and the encoder's signals
    are what a variant with it is about.
    """
    plain = tuple(Variant(False, c) for c in REGULARIZATIONS)
    return (*plain, Variant(True, REGULARIZATIONS[0])) if encoder else plain


def _choose_reviewers(run: VariantReplay) -> TaskChoice:
    """The reviewers' ranker variant, then the load discount on top of it."""
    chosen = _choose_ranker("reviewers", run)
    if not chosen.variants:  # too little to evaluate: the fixed policy stays
        return chosen
    index = _variant_index(run, chosen)
    tune, check = zip(*(simulate(run, index, policy) for policy in LOAD_GRID), strict=True)
    fixed = LOAD_GRID.index(LOAD_POLICY)
    pick, reason = choose_load(tune, check, fixed)
    return replace(
        chosen,
        load=tune[pick],
        load_check=check[pick],
        fixed=tune[fixed],
        fixed_check=check[fixed],
        load_tried=tuple(tune),
        load_reason=reason,
    )


def _variant_index(run: VariantReplay, choice: TaskChoice) -> int:
    """Position of the chosen variant in the replay."""
    return run.variants.index(Variant(choice.encoder, choice.regularization))


def _choose_ranker(task: str, run: VariantReplay) -> TaskChoice:
    """The ranker variant for ``task``: ``choose_variant`` on the replay's reciprocal ranks."""
    tune = [reciprocal_ranks(run, i, 0).tolist() for i in range(len(run.variants))]
    check = [reciprocal_ranks(run, i, 1).tolist() for i in range(len(run.variants))]
    if len(tune[0]) < MIN_EVALUATED or len(check[0]) < MIN_EVALUATED:
        reason = f"{len(tune[0])}+{len(check[0])} changes to evaluate: too few, defaults kept"
        return TaskChoice(task, reason=reason)
    pick, reason = choose_variant(tune, check)
    scores = tuple(
        VariantScore(v.encoder, v.regularization, _mean(t), _mean(c))
        for v, t, c in zip(run.variants, tune, check, strict=True)
    )
    variant = run.variants[pick]
    weights = run.rankers[pick].weights()
    return TaskChoice(
        task, variant.encoder, variant.regularization, reason, scores, weights=weights
    )


def _mean(values: Sequence[float]) -> float:
    return round(float(np.mean(values)), 4) if len(values) else 0.0


def paired_gain(candidate: Sequence[float], default: Sequence[float]) -> tuple[float, float]:
    """Mean of ``candidate - default`` over the same changes, and its standard error."""
    diff = np.asarray(candidate, dtype=float) - np.asarray(default, dtype=float)
    if len(diff) < 2:
        return float(diff.mean()) if len(diff) else 0.0, float("inf")
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def choose_variant(
    tune: Sequence[Sequence[float]], check: Sequence[Sequence[float]]
) -> tuple[int, str]:
    """Index of the variant to use (0 is the default) and why, from reciprocal ranks.

    The variant with the largest mean gain over the default on the tuning window, among
    those that gain more than one standard error; kept only if on the check window it does
    not lose to the default by more than one standard error.
    """
    gains = [paired_gain(rr, tune[0]) for rr in tune]
    clear = [i for i, (gain, error) in enumerate(gains) if i and gain > error]
    if not clear:
        return 0, "no variant beat the default by more than its standard error"
    best = max(clear, key=lambda i: gains[i][0])
    gain, error = paired_gain(check[best], check[0])
    if gain < -error:
        return 0, f"variant {best} gained {gains[best][0]:+.3f} MRR, but {gain:+.3f} on the check"
    return (
        best,
        f"variant {best}: {gains[best][0]:+.3f} MRR (±{gains[best][1]:.3f}), check {gain:+.3f}",
    )


def choose_load(
    tune: Sequence[LoadOutcome], check: Sequence[LoadOutcome], fixed: int
) -> tuple[int, str]:
    """Index of the load policy (``tune[i]`` and ``check[i]`` are policy ``i`` on the two
    windows; ``fixed`` is the fixed policy's index) and why.

    The mildest discount (smallest ``per_request``) whose busiest share on the tuning window
    stays at or below the history's by at least the standard error of their difference (a
    share that only just fits on one window does not fit the next one half of the time);
    when none does, the mildest that keeps it at all; when none keeps it (no discount can
    move work off the one person who knows the code), the fixed policy. The fixed policy
    also stays when the check window contradicts: the choice breaks the share limit there
    and the fixed one keeps it, or both keep it and the choice's MRR is lower by more than
    one standard error.
    """
    for margin, reason in (
        (True, "the mildest discount that keeps the busiest share below the history's"),
        (False, "the mildest discount that keeps the busiest share (within its error)"),
    ):
        keeps = [i for i, o in enumerate(tune) if _keeps_share(o, margin=margin)]
        if keeps:
            pick = min(keeps, key=lambda i: (tune[i].per_request, i))
            return _checked_load(pick, fixed, check, reason)
    return fixed, "no discount kept the history's busiest share: the fixed policy"


def _keeps_share(outcome: LoadOutcome, *, margin: bool) -> bool:
    """Steward's busiest share at or below the history's (by one standard error)."""
    error = outcome.share_error if margin else 0.0
    return outcome.share + error <= outcome.history_share


def _checked_load(
    pick: int, fixed: int, check: Sequence[LoadOutcome], reason: str
) -> tuple[int, str]:
    """``pick`` unless the check window contradicts it (``choose_load``)."""
    chosen, base = check[pick], check[fixed]
    if chosen.share > chosen.history_share >= base.share:
        return fixed, "the check window's busiest share broke the limit: the fixed policy"
    gain, error = paired_gain(chosen.rr, base.rr)
    if base.share <= base.history_share and gain < -error:
        return fixed, f"the check window lost {gain:+.3f} MRR to the fixed policy: kept it"
    return pick, reason


def needs_rechoice(choice: MatchingChoice | None, n_changes_now: int) -> bool:
    """True when a repository's settings should be chosen again.

    Never chosen (and enough history now), a stored choice of another format, a history
    that shrank (rebuilt), or at least ``RECHOOSE_MIN_NEW`` new changes and half a check
    window since the choice: by then the newest changes, the ones that describe today's
    team, have moved enough to change the numbers.
    """
    if choice is None:
        return n_changes_now >= MIN_CHANGES
    if choice.version != CHOICE_VERSION or n_changes_now < choice.n_changes:
        return True
    if choice.n_changes < MIN_CHANGES:
        return n_changes_now >= MIN_CHANGES
    new = n_changes_now - choice.n_changes
    return new >= max(RECHOOSE_MIN_NEW, choice.check_window() // 2)


@dataclass(frozen=True)
class EffectiveLoad:
    """The load policy the bot runs with, and where it came from (for ``steward status``)."""

    policy: Load
    source: str  # "config" (reviewers.load), "calibrated" or "default"


def effective_load(
    config_load: Mapping[str, float] | None, choice: MatchingChoice | None
) -> EffectiveLoad:
    """The organisation's ``reviewers.load`` setting when a maintainer set it, else the
    calibrated discount of ``choice``, else the fixed ``LOAD_POLICY``.

    ``config_load`` holds ``per_request`` and/or ``free_load`` (missing keys take
    ``LOAD_POLICY``'s); ``{"per_request": 0}`` turns the discount off. Negative values are
    refused (``ValueError``): a setting that cannot be run is reported, not guessed at.
    """
    if config_load:
        unknown = set(config_load) - {"per_request", "free_load"}
        if unknown:
            raise ValueError(f"reviewers.load: unknown keys {sorted(unknown)}")
        values = {key: float(value) for key, value in config_load.items()}
        if any(value < 0 for value in values.values()):
            raise ValueError(f"reviewers.load: values must be at least 0, not {values}")
        policy = replace(
            LOAD_POLICY,
            per_request=values.get("per_request", LOAD_POLICY.per_request),
            free_load=values.get("free_load", LOAD_POLICY.free_load),
        )
        return EffectiveLoad(policy, "config")
    if choice is not None and choice.reviewers.load is not None:
        return EffectiveLoad(choice.reviewers.policy(), "calibrated")
    return EffectiveLoad(LOAD_POLICY, "default")


def choice_as_dict(choice: MatchingChoice) -> dict[str, Any]:
    """JSON-ready form of a choice (``to_json``)."""
    return {
        "version": choice.version,
        "n_changes": choice.n_changes,
        "as_of": choice.as_of,
        "windows": vars(choice.windows),
        "reviewers": _task_as_dict(choice.reviewers),
        "people": _task_as_dict(choice.people),
        "seconds": choice.seconds,
    }


def _task_as_dict(task: TaskChoice) -> dict[str, Any]:
    loads = ("load", "load_check", "fixed", "fixed_check")
    out: dict[str, Any] = {
        key: getattr(task, key)
        for key in ("task", "encoder", "regularization", "reason", "load_reason", "weights")
    }
    out["variants"] = [vars(v) for v in task.variants]
    out.update({key: _outcome_dict(getattr(task, key)) for key in loads})
    out["load_tried"] = [o.as_dict() for o in task.load_tried]
    return out


def _outcome_dict(outcome: LoadOutcome | None) -> dict[str, object] | None:
    return None if outcome is None else outcome.as_dict()


def choice_from_dict(raw: Mapping[str, Any]) -> MatchingChoice:
    """A choice from its ``choice_as_dict`` form."""
    return MatchingChoice(
        version=int(raw["version"]),
        n_changes=int(raw["n_changes"]),
        as_of=str(raw["as_of"]),
        windows=Windows(**raw["windows"]),
        reviewers=_task_from_dict(raw["reviewers"]),
        people=_task_from_dict(raw["people"]),
        seconds=float(raw.get("seconds", 0.0)),
    )


def _task_from_dict(raw: Mapping[str, Any]) -> TaskChoice:
    return TaskChoice(
        task=str(raw["task"]),
        encoder=bool(raw["encoder"]),
        regularization=float(raw["regularization"]),
        reason=str(raw["reason"]),
        variants=tuple(VariantScore(**v) for v in raw.get("variants", ())),
        load=_outcome(raw.get("load")),
        load_check=_outcome(raw.get("load_check")),
        fixed=_outcome(raw.get("fixed")),
        fixed_check=_outcome(raw.get("fixed_check")),
        load_tried=tuple(LoadOutcome(**o) for o in raw.get("load_tried", ())),
        load_reason=str(raw.get("load_reason", "")),
        weights={str(k): float(v) for k, v in raw.get("weights", {}).items()},
    )


def _outcome(raw: Mapping[str, Any] | None) -> LoadOutcome | None:
    return None if raw is None else LoadOutcome(**raw)
