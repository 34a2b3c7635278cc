"""A retraining run's candidates: what each repository brings to a run (:class:`Prepared`),
how candidates are trained (the org's encoder fine-tuned with a head per repository, or
heads alone on the encoder the org has) and how each is judged against the live model
on the same holdout (:func:`judge`). The run itself is :mod:`workers.retrain.flow`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.triage.data import LabelledItem
from models.triage.gate import GatePolicy, LabelGate
from models.triage.plan import Plan, RetrainPolicy
from workers.modelstore import ModelPaths, live_model, live_version
from workers.retrain.change import Snapshot, issue_key
from workers.retrain.decide import Decision, Score, align_probs, promotion

if TYPE_CHECKING:
    import numpy as np

    from models.triage.finetune import TrainConfig
    from models.triage.model import TriageModel
    from models.triage.train import CrossFitted

log = logging.getLogger(__name__)

Log = Callable[[str], None]


def holdout_metrics(
    model: TriageModel,
    holdout: Sequence[LabelledItem],
    labels: Sequence[str],
    *,
    policy: GatePolicy | None = None,
    evidence: CrossFitted | None = None,
) -> dict[str, Any]:
    """A model's scores on the holdout, over the candidate's labels, and its label gates
    (the holdout is the newest items, which the model never saw; ``evidence``, the
    training items scored out of fold, is judged too, thresholds cross-fitted on it).
    """
    from models.triage.calibration import NEVER
    from models.triage.evaluate import evaluate_repo
    from models.triage.finetune import Task

    probs = align_probs(model.labels, model.predict_proba(holdout), labels)
    truth = Task("", list(labels), model.meta.multi_label).targets(holdout)
    thresholds = {lab: model.meta.thresholds.get(lab, NEVER) for lab in labels}
    metrics = evaluate_repo(labels, truth, probs, thresholds, multi_label=model.meta.multi_label)
    gates = model_gates(
        (probs, truth),
        labels,
        thresholds=thresholds,
        policy=policy or GatePolicy(),
        single_label=not model.meta.multi_label,
        evidence=evidence,
    )
    return {**metrics, "gates": [g.to_json() for g in gates.values()]}


def model_gates(
    holdout: tuple[np.ndarray, np.ndarray],
    labels: Sequence[str],
    *,
    thresholds: Mapping[str, float],
    policy: GatePolicy,
    single_label: bool,
    evidence: CrossFitted | None,
) -> dict[str, LabelGate]:
    """A fine-tuned model's gates: thresholds cross-fitted on its out-of-fold evidence,
    the holdout judged at them as well; without evidence (no calibration folds) the
    holdout alone, at the model's own thresholds.
    """
    from models.triage.gate import gate_at_thresholds, gate_labels

    if evidence is None or not len(evidence.probs):
        return gate_at_thresholds(
            *holdout, labels, thresholds=thresholds, policy=policy, single_label=single_label
        )
    oof = align_probs(evidence.labels, evidence.probs, labels)
    oof_truth = align_probs(evidence.labels, evidence.truth, labels)
    return gate_labels(
        oof, oof_truth, labels, policy=policy, single_label=single_label, holdout=holdout
    )


@dataclass(frozen=True)
class Outcome:
    """A trained, scored and decided candidate."""

    model: TriageModel
    metrics: dict[str, Any]
    decision: Decision


@dataclass(frozen=True)
class Member:
    """One repository of a retrain: where its model lives (its collected history is
    in the store, under ``paths.repo``)."""

    paths: ModelPaths


@dataclass(frozen=True)
class Prepared:
    """A repository with enough history: what to train on and whether it is new data.

    ``done`` is the version already trained on exactly this data (None: new data, or
    a forced run). Such a repository is still *carried* in an org's pooled training,
    so that its model can move to the org's new shared encoder.
    """

    paths: ModelPaths
    plan: Plan
    fingerprint: str
    done: int | None = None
    #: Its labelled issues now (training part and holdout), and as its newest version
    #: (``since``) was trained on them (None: no version, or one without a snapshot).
    now: Snapshot = field(default_factory=dict)
    before: Snapshot | None = None
    since: int | None = None

    @property
    def fresh(self) -> bool:
        """Whether this repository's data differs from its newest version's at all."""
        return self.done is None


@dataclass(frozen=True)
class Candidate:
    """A freshly trained model and its out-of-fold evidence (None: trained without
    calibration folds).
    """

    model: TriageModel
    evidence: CrossFitted | None = None


def train_pooled(ready: Sequence[Prepared], config: TrainConfig, say: Log) -> dict[str, Candidate]:
    """One fine-tuning over every repository's training part: a shared encoder and a
    head per repository (what lets an org keep one encoder on disk and in memory).
    """
    from models.triage.train import train_with_evidence

    train = [it for p in ready for it in p.plan.split.train]
    say(f"fine-tuning on {len(train)} issues of {len(ready)} repositories")
    models, evidence = train_with_evidence(train, config, log=say)
    for p in ready:
        models[p.paths.repo].meta.fingerprint = p.fingerprint
    return {repo: Candidate(model, evidence.get(repo)) for repo, model in models.items()}


def train_heads_on(
    encoder_dir: Path,
    ready: Sequence[Prepared],
    config: TrainConfig,
    *,
    trained: Mapping[str, Collection[str]],
    min_unseen: int,
    say: Log,
) -> dict[str, Candidate]:
    """Heads alone (:mod:`models.triage.heads`) on the org's encoder in ``encoder_dir``,
    calibrated on the training issues that encoder never trained on (``trained``: the
    issue keys it did, per repository); the candidates name that encoder, so the org
    still keeps one."""
    from models.encoder import Encoder
    from models.triage.heads import train_heads

    encoder = Encoder.from_pretrained(
        str(encoder_dir),
        device=config.device,
        max_length=config.max_length,
        precision=config.precision,
    )
    train = [it for p in ready for it in p.plan.split.train]
    models, evidence = train_heads(
        train,
        encoder,
        config,
        digest=encoder_dir.name,
        unseen=lambda it: issue_key(it) not in trained.get(it.repo, ()),
        min_unseen=min_unseen,
        log=say,
    )
    for p in ready:
        models[p.paths.repo].meta.fingerprint = p.fingerprint
    return {repo: Candidate(model, evidence.get(repo)) for repo, model in models.items()}


def judge(
    candidate: Candidate,
    prepared: Prepared,
    *,
    config: TrainConfig,
    policy: RetrainPolicy,
    gate_policy: GatePolicy | None = None,
    carried: bool | None = None,
) -> Outcome:
    """Score the candidate and the live model on the same holdout, and decide.

    ``carried``: the repository came along in its org's training without changing
    enough itself (default: its data is exactly what its newest version had)."""
    plan, paths = prepared.plan, prepared.paths
    started = time.monotonic()
    train, holdout = plan.split.train, plan.split.holdout
    scores = holdout_metrics(
        candidate.model,
        holdout,
        plan.labels,
        policy=gate_policy,
        evidence=candidate.evidence,
    )
    current = live_model(paths, config.precision)
    current_scores = holdout_metrics(current, holdout, plan.labels) if current else None
    decision = promotion(
        Score.from_metrics(scores),
        Score.from_metrics(current_scores) if current_scores else None,
        policy,
        same_data=(not prepared.fresh) if carried is None else carried,
    )
    metrics = {
        "holdout": scores,
        "live_on_holdout": current_scores,
        "live_version": live_version(paths),
        "decision": decision.reason,
        "labels": plan.labels,
        "train_items": len(train),
        "holdout_items": len(holdout),
        "holdout_from": plan.split.cutoff,
        "train_until": train[-1].created_at if train else "",
        "seconds": round(time.monotonic() - started, 1),
        "train_config": config.to_dict(),
    }
    return Outcome(candidate.model, metrics, decision)
