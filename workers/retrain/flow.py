"""Scheduled fine-tuning of a repository's triage model, with promotion and rollback.

One run, under a per-repository Redis lock:

1. refresh the repository's collected history in the database through GraphQL
   (:func:`workers.history.refresh_history`: resumable, only items updated since the
   last run, people's labels only), as background work in the installation's budget;
2. take the labelled *issues*, split them by time (oldest 80 % train, newest 20 %
   holdout) and check there is enough history (:mod:`workers.retrain.decide`);
3. skip if a version was already trained on exactly this data (unless ``force``);
4. fine-tune a candidate on the training part, score it and the live model on the
   same holdout, save it as a new version and record it in ``model_versions``;
5. promote it if the rule says so;
6. retention: delete the repository's versions beyond the live one and the newest
   ``RetrainPolicy.keep_versions``, then encoders no kept version names
   (:func:`prune_versions`, :func:`prune_encoders`; ``steward models prune`` by hand).

Layout on disk (``<model dir>`` is ``STEWARD_MODEL_DIR``)::

    <model dir>/.versions/<owner>__<repo>/<n>/   trained versions, never modified
    <model dir>/.encoders/<digest>/              encoders the versions name, once each
    <model dir>/<owner>__<repo>                  relative symlink to the live version

Promotion (and rollback) replaces the symlink with ``os.replace``: atomic, so a
worker sees the old or the new model, never half of one, and a reader that resolves
the link once reads one immutable folder. A real folder found at the live path
(from ``steward train --out``) is adopted as a version first. The database row marked
``promoted`` is the source of truth; each run re-points the link to it if a crash
left them apart.

A folder is deleted by renaming it to a ``.trash-<uuid>`` sibling first (atomic), then
removing that: nothing ever reads a half-deleted folder as a version or an encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.settings import Settings
from core.store import Store
from core.tasks import INDEX, IndexArgs, RetrainArgs
from models.triage.data import LabelledItem
from models.triage.gate import GatePolicy, LabelGate, for_discussions
from models.triage.plan import Plan, RetrainPolicy, Split, plan_training
from workers.budget import lane
from workers.github import graphql_endpoint
from workers.history import HistoryResult, refresh_history
from workers.modelstore import (
    ModelPaths,
    adopt_live,
    clean_partial,
    live_model,
    live_version,
    model_dir_of,
    point_live,
    publish,
    reconcile_live,
    retain,
    retrain_lock,
)
from workers.records import issues_of
from workers.retrain.decide import (
    Decision,
    Score,
    align_probs,
    already_trained,
    apply_corrections,
    data_fingerprint,
    promotion,
    weighted,
)
from workers.runtime import TaskContext

if TYPE_CHECKING:
    import numpy as np

    from models.triage.finetune import TrainConfig
    from models.triage.model import TriageModel
    from models.triage.train import CrossFitted

log = logging.getLogger(__name__)

Log = Callable[[str], None]


# ------------------------------------------------------------------ locations


def default_train_config(settings: Settings) -> TrainConfig:
    """CPU-friendly fine-tuning (a GPU is used when present)."""
    from models.defaults import packaged_model_path, resolve_model_name
    from models.triage.finetune import TrainConfig

    base = resolve_model_name(settings.base_model) if settings.base_model else None
    return TrainConfig(
        base_model=base or packaged_model_path(),
        epochs=3,
        max_length=256,
        progress=False,
        precision=settings.precision,
    )


# ----------------------------------------------------------- versions on disk


# ----------------------------------------------------------------- the data


# ------------------------------------------------------------- train, score


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

    @property
    def fresh(self) -> bool:
        """Whether this repository's data asks for training by itself."""
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


def judge(
    candidate: Candidate,
    prepared: Prepared,
    *,
    config: TrainConfig,
    policy: RetrainPolicy,
    gate_policy: GatePolicy | None = None,
) -> Outcome:
    """Score the candidate and the live model on the same holdout, and decide."""
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
        same_data=not prepared.fresh,
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


def save_version(outcome: Outcome, paths: ModelPaths) -> int:
    """Write the candidate to a temporary folder, then publish it as the next version.

    The encoder goes to the model dir's encoder store once per digest; the version
    folder holds the repository's head, lexical channel and ``triage.json``.
    """
    from models.triage.model import ENCODERS_DIR

    paths.versions.mkdir(parents=True, exist_ok=True)
    tmp = paths.versions / f".tmp-{uuid.uuid4().hex}"
    outcome.model.meta.metrics = {**outcome.model.meta.metrics, "holdout": outcome.metrics}
    outcome.model.save(tmp, encoders=paths.model_dir / ENCODERS_DIR)
    return publish(tmp, paths)


def with_weights(plan: Plan, corrected: set[int], weight: int) -> Plan:
    """The plan with corrected training items repeated (the holdout stays as it is)."""
    train = weighted(plan.split.train, corrected, weight)
    return Plan(Split(train, plan.split.holdout), plan.labels)


def prepare(
    store: Store, member: Member, *, policy: RetrainPolicy, force: bool, say: Log
) -> Prepared | dict[str, Any]:
    """Tidy the repository's versions, read its history with people's corrections and
    plan its training; a dict says why it is skipped.
    """
    paths = member.paths
    clean_partial(paths)
    adopt_live(store, paths, say)
    reconcile_live(store, paths, say)
    feedback = store.feedback_for(paths.repo)
    history = issues_of(store.history_records(paths.repo, kind="issue"))
    items, corrected = apply_corrections(history, feedback)
    readiness = plan_training(items, policy)
    if readiness.plan is None:
        say(f"{paths.repo}: not enough history yet: {readiness.reason}")
        return {"skipped": readiness.reason}
    plan = with_weights(readiness.plan, corrected, policy.correction_weight)
    fingerprint = data_fingerprint([*plan.split.train, *plan.split.holdout], plan.labels)
    done = None if force else already_trained(fingerprint, store.model_versions_for(paths.repo))
    return Prepared(paths, plan, fingerprint, done)


def retrain_group(
    store: Store,
    members: Sequence[Member],
    *,
    config: TrainConfig,
    policy: RetrainPolicy,
    force: bool = False,
    say: Log = log.info,
) -> dict[str, dict[str, Any]]:
    """Everything after collection, for one repository or an org's (blocking; the flow
    runs it in a thread). Returns each repository's result by full name.

    Training runs when at least one repository has new data; then every repository
    with enough history is trained together, and each is judged on its own holdout.
    Retention follows, while the caller still holds every member's lock.
    """
    results = train_group(store, members, config=config, policy=policy, force=force, say=say)
    retain(store, [m.paths for m in members], keep=policy.keep_versions, say=say)
    return results


def train_group(
    store: Store,
    members: Sequence[Member],
    *,
    config: TrainConfig,
    policy: RetrainPolicy,
    force: bool = False,
    say: Log = log.info,
) -> dict[str, dict[str, Any]]:
    """Prepare, train, judge and record the members (:func:`retrain_group` less retention)."""
    results: dict[str, dict[str, Any]] = {}
    ready: list[Prepared] = []
    for member in members:
        prepared = prepare(store, member, policy=policy, force=force, say=say)
        if isinstance(prepared, Prepared):
            ready.append(prepared)
        else:
            results[member.paths.repo] = prepared
    if not any(p.fresh for p in ready):
        for p in ready:
            say(f"{p.paths.repo}: no new labelled data since version {p.done}")
            reason = f"no new labelled data since version {p.done}"
            results[p.paths.repo] = {"skipped": reason, "version": p.done}
        return results
    candidates = train_pooled(ready, config, say)
    for p in ready:
        bar = GatePolicy.from_json((store.profile_for(p.paths.repo) or {}).get("policy"))
        outcome = judge(candidates[p.paths.repo], p, config=config, policy=policy, gate_policy=bar)
        number = record_version(store, p.paths, outcome, fingerprint=p.fingerprint)
        verdict = "promoted" if outcome.decision.promote else "kept the live model"
        say(f"{p.paths.repo} version {number}: {verdict} ({outcome.decision.reason})")
        results[p.paths.repo] = summary(number, outcome)
    return results


def record_version(store: Store, paths: ModelPaths, outcome: Outcome, *, fingerprint: str) -> int:
    """Save the candidate as the next version, record it, and make it live if promoted."""
    number = save_version(outcome, paths)
    store.add_model_version(
        paths.repo,
        str(paths.version(number)),
        metrics={"version": number, **outcome.metrics},
        fingerprint=fingerprint,
        promoted=outcome.decision.promote,
    )
    if outcome.decision.promote:
        point_live(paths, number)
        # The live model's labels go live only as its gates say; discussions start in
        # shadow at the same thresholds.
        gates = outcome.metrics["holdout"]["gates"]
        store.replace_gates(paths.repo, source="model", gates=gates)
        store.replace_gates(
            paths.repo, source="model", kind="discussion", gates=discussion_gates(gates)
        )
    return number


def discussion_gates(gates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The discussions' gates (JSON) from the issues' (JSON)."""
    from models.triage.gate import gate_from_json

    issues = {str(g["label"]): gate_from_json(g) for g in gates}
    return [g.to_json() for g in for_discussions(issues)]


def summary(number: int, outcome: Outcome) -> dict[str, Any]:
    """The task's result."""
    live = outcome.metrics["live_on_holdout"]
    return {
        "version": number,
        "promoted": outcome.decision.promote,
        "reason": outcome.decision.reason,
        "macro_f1": outcome.metrics["holdout"]["macro_f1"],
        "live_macro_f1": live["macro_f1"] if live else None,
    }


# ----------------------------------------------------------------- retention


# ------------------------------------------------------------------ the flow


async def run_retrain(
    ctx: TaskContext,
    args: RetrainArgs,
    *,
    policy: RetrainPolicy | None = None,
    config: TrainConfig | None = None,
    say: Log | None = None,
) -> dict[str, Any]:
    """Refresh the history of the repository (and of ``args.together``, its org's other
    repositories), train candidates on one shared encoder, promote each that is better.

    Each repository's lock is held while it is collected and trained; a repository
    another worker holds is left out of this run.
    """
    say = say or log.info
    async with contextlib.AsyncExitStack() as stack:
        members, busy = await collect_members(ctx, args, stack, say=say)
        results = await asyncio.to_thread(
            retrain_group,
            ctx.store,
            [member for member, _ in members],
            config=config or default_train_config(ctx.settings),
            policy=policy or RetrainPolicy(),
            force=args.force,
            say=say,
        )
    skipped = {"skipped": "another worker is retraining this repository"}
    for full in busy:
        results[full] = skipped
    for member, collected in members:
        results[member.paths.repo] = {"collected": collected.new, **results[member.paths.repo]}
    queue_reindex(ctx, args, results)
    first = args.full_name
    together = {full: r for full, r in results.items() if full != first}
    return {"repo": first, **results[first], **({"together": together} if together else {})}


async def collect_members(
    ctx: TaskContext, args: RetrainArgs, stack: contextlib.AsyncExitStack[Any], *, say: Log
) -> tuple[list[tuple[Member, HistoryResult]], list[str]]:
    """Lock each repository of the run and bring its history up to date (background
    work in the installation's budget); those another worker holds are returned apart."""
    names = [args.repo, *(n for n in args.together if n != args.repo)]
    members: list[tuple[Member, HistoryResult]] = []
    busy: list[str] = []
    endpoint = graphql_endpoint(ctx.settings.github_api_url)
    with lane(ctx.runtime.redis, ctx.settings, background=True):
        gh = await ctx.client(args.installation())
        for name in names:
            full = f"{args.owner}/{name}"
            if not await stack.enter_async_context(retrain_lock(ctx.redis, full)):
                say(f"{full} is being retrained by another worker")
                busy.append(full)
                continue
            collected = await refresh_history(gh, ctx.store, full, endpoint=endpoint, say=say)
            say(f"{full}: {collected.new} new item(s), {collected.written} collected in all")
            members.append((Member(ModelPaths(model_dir_of(ctx.settings), full)), collected))
    return members, busy


def queue_reindex(ctx: TaskContext, args: RetrainArgs, results: dict[str, Any]) -> None:
    """A promoted model brings a new encoder: embed its repository's items again with it
    (``steward.index`` also drops the old encoder's rows)."""
    for full, result in results.items():
        if isinstance(result, dict) and result.get("promoted"):
            owner, _, name = full.partition("/")
            index = IndexArgs(installation_id=args.installation_id, owner=owner, repo=name)
            ctx.runtime.enqueue(INDEX, index)


def retrain_jobs(repositories: Sequence[tuple[int, str]]) -> list[RetrainArgs]:
    """Task arguments for ``steward.retrain``: one per org (installation and owner),
    naming its first repository and the others as ``together``.
    """
    orgs: dict[tuple[int, str], list[str]] = {}
    for installation_id, full in repositories:
        owner, _, name = full.partition("/")
        orgs.setdefault((installation_id, owner), []).append(name)
    return [
        RetrainArgs(installation_id=inst, owner=owner, repo=names[0], together=tuple(names[1:]))
        for (inst, owner), names in orgs.items()
    ]


def queue_retrains(store: Store, send: Callable[[RetrainArgs], object]) -> int:
    """Queue a retrain of every org with active repositories; return how many."""
    jobs = retrain_jobs(store.all_active_repositories())
    for job in jobs:
        send(job)
    return len(jobs)
