"""What a scheduled retraining does with each repository of an org, from how much its
labelled data changed (pure: the flow, :mod:`workers.retrain.flow`, gathers the data).

Each trained version keeps what it was trained on as a *snapshot* (each issue's number
and labels); the org's shared encoder keeps the snapshot of every repository it was
fine-tuned on. A run compares today's labelled issues with both:

- a repository is retrained only when its data **changed enough** since its newest
  version: at least ``RetrainPolicy.min_new_items`` issues new or relabelled, and at
  least ``min_new_share`` of what that version trained on (a repository with no version
  yet always is);
- the org's encoder is fine-tuned again (every repository with enough history carried
  along, as one pooled training) only when the org's data moved: ``encoder_share`` or
  more of the encoder's training data is new or relabelled across the org's
  repositories, counting a new repository's issues as new; otherwise the changed
  repositories get **heads alone** on the encoder the org already has, which costs one
  pass of inference over their issues instead of three fine-tunings of the encoder, as
  long as each has ``min_unseen`` training issues the encoder never trained on to
  calibrate its head on (:mod:`models.triage.heads`).

Every repository gets a reason, which the run records and ``steward status`` shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.settings import Settings
from models.triage.data import LabelledItem
from models.triage.plan import RetrainPolicy

#: One repository's labelled issues as trained on: issue key → its labels, sorted.
Snapshot = Mapping[str, tuple[str, ...]]

#: Run modes: the encoder fine-tuned again, heads alone on the org's encoder, nothing.
ENCODER, HEADS, NOTHING = "encoder", "heads", "nothing"


def policy_of(settings: Settings, base: RetrainPolicy | None = None) -> RetrainPolicy:
    """``base`` (default: the defaults) with the thresholds this deployment set
    (``STEWARD_RETRAIN_MIN_NEW``, ``_MIN_SHARE``, ``_ENCODER_SHARE``)."""
    return replace(
        base or RetrainPolicy(),
        min_new_items=settings.retrain_min_new,
        min_new_share=settings.retrain_min_share,
        encoder_share=settings.retrain_encoder_share,
    )


def issue_key(item: LabelledItem) -> str:
    """What identifies an issue across runs: its number (its title when it has none)."""
    return str(item.number) if item.number is not None else f"title:{item.title}"


def snapshot(items: Iterable[LabelledItem]) -> dict[str, tuple[str, ...]]:
    """The snapshot of ``items`` (an item repeated in training counts once)."""
    return {issue_key(it): tuple(sorted(it.labels)) for it in items}


@dataclass(frozen=True)
class Change:
    """How many labelled issues are new or relabelled against a snapshot taken before.

    ``before`` is the size of that snapshot (None: there was none, so everything is new).
    """

    changed: int
    total: int
    before: int | None

    @property
    def share(self) -> float:
        """The changed issues as a share of the data trained on before (1.0 without any)."""
        if not self.before:
            return 1.0
        return self.changed / self.before


def change_since(now: Snapshot, before: Snapshot | None) -> Change:
    """Issues of ``now`` that ``before`` did not have with the same labels."""
    if before is None:
        return Change(len(now), len(now), None)
    changed = sum(1 for key, labels in now.items() if tuple(before.get(key, ())) != labels)
    return Change(changed, len(now), len(before))


@dataclass(frozen=True)
class RepoChange:
    """One repository with enough history, as a run sees it.

    ``since`` is its newest version (None: none yet); ``change`` is measured against that
    version's snapshot, ``encoder_change`` against the org encoder's snapshot of it.
    """

    repo: str
    change: Change
    encoder_change: Change
    since: int | None = None
    #: Its training issues the org's encoder never trained on (what a head alone is
    #: calibrated on; None: not known).
    unseen: int | None = None


@dataclass(frozen=True)
class RunPlan:
    """What the run trains: ``mode``, the repositories trained, why for each, and why
    the encoder moves or not (``why``)."""

    mode: str
    train: tuple[str, ...]
    why: str
    reasons: dict[str, str] = field(default_factory=dict)
    #: Repositories trained only because the encoder moves (their data changed little).
    carried: tuple[str, ...] = ()


def enough(change: Change, policy: RetrainPolicy) -> bool:
    """Whether a repository's data changed enough for a new version by itself."""
    if change.before is None:
        return True
    return change.changed >= policy.min_new_items and change.share >= policy.min_new_share


def describe(state: RepoChange, policy: RetrainPolicy) -> str:
    """A repository's change in words, against the thresholds."""
    change = state.change
    if state.since is None:
        return f"no trained version yet ({change.total} labelled issues)"
    if change.before is None:
        return f"version {state.since} recorded no snapshot of its data, and the data changed"
    if change.changed == 0:
        return f"no new labelled data since version {state.since}"
    return (
        f"{change.changed} labelled issue(s) new or relabelled since version {state.since} "
        f"({change.share:.1%} of its {change.before}); a new version needs at least "
        f"{policy.min_new_items} and {policy.min_new_share:.0%}"
    )


def plan_run(
    states: Sequence[RepoChange],
    *,
    policy: RetrainPolicy,
    encoder_known: bool,
    force: bool = False,
) -> RunPlan:
    """The run's plan for an org's repositories with enough history.

    ``encoder_known``: the org has an encoder whose training snapshot is recorded (without
    one there is nothing to put heads on). ``force`` retrains everything, encoder included.
    """
    names = tuple(s.repo for s in states)
    said = {s.repo: describe(s, policy) for s in states}
    if force:
        return RunPlan(ENCODER, names, "forced: the encoder is fine-tuned again", said)
    changed = tuple(s.repo for s in states if enough(s.change, policy))
    if not changed:
        return RunPlan(NOTHING, (), "no repository's data changed enough", said)
    moved = sum(s.encoder_change.changed for s in states)
    base = sum(s.encoder_change.before or 0 for s in states)
    share = moved / base if base else 1.0
    carried = tuple(name for name in names if name not in changed)
    if not encoder_known:
        why = "the org has no encoder with a recorded training snapshot: it is fine-tuned"
        return RunPlan(ENCODER, names, why, said, carried)
    moved_words = (
        f"{moved} of the {base} labelled issues its encoder was fine-tuned on are new or "
        f"relabelled ({share:.1%})"
    )
    if share >= policy.encoder_share:
        why = f"{moved_words}: at least {policy.encoder_share:.0%}, the encoder is fine-tuned"
        return RunPlan(ENCODER, names, why, said, carried)
    thin = [s for s in states if s.repo in changed and (s.unseen or 0) < policy.min_unseen]
    if thin:
        why = (
            f"{moved_words}, but {thin[0].repo} has {thin[0].unseen or 0} training issues its "
            f"encoder never saw, {policy.min_unseen} needed to calibrate a head alone: the "
            "encoder is fine-tuned"
        )
        return RunPlan(ENCODER, names, why, said, carried)
    why = f"{moved_words}: under {policy.encoder_share:.0%}, heads alone on the org's encoder"
    return RunPlan(HEADS, changed, why, said)


def outcome_reason(plan: RunPlan, repo: str) -> str:
    """Why ``repo`` was trained or not in a run of ``plan`` (what ``steward status`` shows)."""
    said = plan.reasons.get(repo, "")
    if repo in plan.carried:
        return f"carried along while the org's encoder moves ({plan.why}); {said}"
    if repo in plan.train:
        return f"{'heads alone' if plan.mode == HEADS else 'fine-tuned'}: {said}; {plan.why}"
    return f"not retrained: {said}"
