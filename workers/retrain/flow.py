"""Scheduled fine-tuning of a repository's triage model, with promotion and rollback.

One run, under a per-repository Redis lock:

1. refresh the repository's collected history in the database through GraphQL
   (:func:`workers.history.refresh_history`: resumable, only items updated since the
   last run, people's labels only), as background work in the installation's budget;
2. take the labelled *issues*, split them by time (oldest 80 % train, newest 20 %
   holdout) and check there is enough history (:mod:`workers.retrain.decide`);
3. decide what to train from how much each repository's data changed since its newest
   version, and the org's since its encoder was fine-tuned (:mod:`workers.retrain.change`,
   unless ``force``): nothing, heads alone on the org's encoder for the repositories
   that changed enough, or the encoder fine-tuned again with every repository carried;
   each repository's reason goes to the audit log, where ``steward status`` reads it;
4. train the candidates on the training part, score each and the live model on the
   same holdout, save it as a new version (with a snapshot of its data) and record it
   in ``model_versions``;
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
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gidgethub import BadRequest, QueryError

from core.settings import Settings
from core.store import Store
from core.tasks import INDEX, IndexArgs, RetrainArgs
from models.triage.gate import GatePolicy, for_discussions
from models.triage.model import ENCODERS_DIR
from models.triage.plan import Plan, RetrainPolicy, Split, plan_training
from workers.budget import lane
from workers.flow import gone
from workers.github import graphql_endpoint
from workers.history import HistoryResult, refresh_history
from workers.modelstore import (
    ModelPaths,
    adopt_live,
    clean_partial,
    model_dir_of,
    point_live,
    publish,
    reconcile_live,
    retain,
    retrain_lock,
)
from workers.records import issues_of
from workers.retrain.candidates import (
    Candidate,
    Member,
    Outcome,
    Prepared,
    judge,
    train_heads_on,
    train_pooled,
)
from workers.retrain.change import (
    ENCODER,
    HEADS,
    RepoChange,
    RunPlan,
    Snapshot,
    change_since,
    issue_key,
    outcome_reason,
    plan_run,
    policy_of,
    snapshot,
)
from workers.retrain.decide import (
    already_trained,
    apply_corrections,
    data_fingerprint,
    weighted,
)
from workers.retrain.snapshots import (
    newest_version,
    org_encoder,
    read_snapshots,
    read_trained,
    record_decision,
    write_snapshots,
)
from workers.runtime import TaskContext

if TYPE_CHECKING:
    from models.triage.finetune import TrainConfig

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


def save_version(outcome: Outcome, paths: ModelPaths, *, data: Snapshot | None = None) -> int:
    """Write the candidate to a temporary folder, then publish it as the next version.

    The encoder goes to the model dir's encoder store once per digest; the version
    folder holds the repository's head, lexical channel, ``triage.json`` and the
    snapshot of the data it was trained on (``data``).
    """
    from models.triage.model import ENCODERS_DIR

    paths.versions.mkdir(parents=True, exist_ok=True)
    tmp = paths.versions / f".tmp-{uuid.uuid4().hex}"
    outcome.model.meta.metrics = {**outcome.model.meta.metrics, "holdout": outcome.metrics}
    outcome.model.save(tmp, encoders=paths.model_dir / ENCODERS_DIR)
    if data is not None:
        write_snapshots(tmp, {paths.repo: data})
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
    now = snapshot([*plan.split.train, *plan.split.holdout])
    since = newest_version(store, paths)
    before = (read_snapshots(paths.version(since)) or {}).get(paths.repo) if since else None
    if before is None and done is not None:
        before = now  # trained on exactly this data before snapshots were kept
    return Prepared(paths, plan, fingerprint, done, now=now, before=before, since=since)


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
    """Prepare, plan, train, judge and record the members (:func:`retrain_group` less
    retention)."""
    results: dict[str, dict[str, Any]] = {}
    ready: list[Prepared] = []
    for member in members:
        prepared = prepare(store, member, policy=policy, force=force, say=say)
        if isinstance(prepared, Prepared):
            ready.append(prepared)
        else:
            results[member.paths.repo] = prepared
    run, encoder_dir, encoder_trained = plan_group(ready, policy=policy, force=force)
    if ready:
        say(f"retraining plan: {run.mode}: {run.why}")
    for p in ready:
        if p.paths.repo not in run.train:
            say(f"{p.paths.repo}: {outcome_reason(run, p.paths.repo)}")
            results[p.paths.repo] = {"skipped": run.reasons[p.paths.repo], "version": p.since}
            record_decision(store, p.paths.repo, decision_detail(run, p))
    trained = [p for p in ready if p.paths.repo in run.train]
    if not trained:
        return results
    candidates = train_candidates(
        trained, run, encoder=(encoder_dir, encoder_trained), config=config, policy=policy, say=say
    )
    for p in trained:
        results[p.paths.repo] = judge_and_record(
            store, p, candidates[p.paths.repo], run=run, config=config, policy=policy, say=say
        )
    if run.mode == ENCODER:
        remember_encoder(trained, candidates)
    return results


def train_candidates(
    trained: Sequence[Prepared],
    run: RunPlan,
    *,
    encoder: tuple[Path | None, Mapping[str, set[str]]],
    config: TrainConfig,
    policy: RetrainPolicy,
    say: Log,
) -> dict[str, Candidate]:
    """Heads alone on the org's encoder (``encoder``: its folder and the issues it was
    fine-tuned on), or the encoder fine-tuned with a head per repository."""
    folder, fine_tuned_on = encoder
    if run.mode == HEADS and folder is not None:
        return train_heads_on(
            folder,
            trained,
            config,
            trained=fine_tuned_on,
            min_unseen=policy.min_unseen,
            say=say,
        )
    return train_pooled(trained, config, say)


def remember_encoder(trained: Sequence[Prepared], candidates: Mapping[str, Candidate]) -> None:
    """The new encoder's snapshot of every repository's data, and the issues it was
    fine-tuned on (what the next runs measure the org's change and heads against)."""
    digest = candidates[trained[0].paths.repo].model.meta.encoder_digest
    write_snapshots(
        trained[0].paths.model_dir / ENCODERS_DIR / digest,
        {p.paths.repo: p.now for p in trained},
        trained={p.paths.repo: map(issue_key, p.plan.split.train) for p in trained},
    )


def plan_group(
    ready: Sequence[Prepared], *, policy: RetrainPolicy, force: bool
) -> tuple[RunPlan, Path | None, dict[str, set[str]]]:
    """The run's plan (:func:`workers.retrain.change.plan_run`), the org's encoder folder
    heads would be trained on and the issues it was fine-tuned on, per repository."""
    encoder_dir = org_encoder([p.paths for p in ready])
    trained_on = read_snapshots(encoder_dir) if encoder_dir else None
    trained = (read_trained(encoder_dir) if encoder_dir else None) or {}
    states = [
        RepoChange(
            p.paths.repo,
            change_since(p.now, p.before),
            change_since(p.now, (trained_on or {}).get(p.paths.repo)),
            since=p.since,
            unseen=len(
                {issue_key(it) for it in p.plan.split.train} - trained.get(p.paths.repo, set())
            ),
        )
        for p in ready
    ]
    known = trained_on is not None and bool(trained)
    run = plan_run(states, policy=policy, encoder_known=known, force=force)
    return run, encoder_dir, trained


def decision_detail(run: RunPlan, prepared: Prepared, **more: Any) -> dict[str, Any]:
    """What the audit log keeps of one repository's part in a run."""
    change = change_since(prepared.now, prepared.before)
    return {
        "trained": prepared.paths.repo in run.train,
        "mode": run.mode if prepared.paths.repo in run.train else "none",
        "reason": outcome_reason(run, prepared.paths.repo),
        "changed": change.changed,
        "issues": change.total,
        "since": prepared.since,
        **more,
    }


def judge_and_record(
    store: Store,
    prepared: Prepared,
    candidate: Candidate,
    *,
    run: RunPlan,
    config: TrainConfig,
    policy: RetrainPolicy,
    say: Log,
) -> dict[str, Any]:
    """Judge one trained candidate, save and record its version, log the decision."""
    paths = prepared.paths
    bar = GatePolicy.from_json((store.profile_for(paths.repo) or {}).get("policy"))
    carried = paths.repo in run.carried or not prepared.fresh
    outcome = judge(
        candidate, prepared, config=config, policy=policy, gate_policy=bar, carried=carried
    )
    outcome.metrics["retrain"] = {"mode": run.mode, "reason": outcome_reason(run, paths.repo)}
    number = record_version(
        store, paths, outcome, fingerprint=prepared.fingerprint, data=prepared.now
    )
    verdict = "promoted" if outcome.decision.promote else "kept the live model"
    say(f"{paths.repo} version {number}: {verdict} ({outcome.decision.reason})")
    detail = decision_detail(
        run,
        prepared,
        version=number,
        promoted=outcome.decision.promote,
        decision=outcome.decision.reason,
    )
    record_decision(store, paths.repo, detail)
    return summary(number, outcome)


def record_version(
    store: Store,
    paths: ModelPaths,
    outcome: Outcome,
    *,
    fingerprint: str,
    data: Snapshot | None = None,
) -> int:
    """Save the candidate as the next version, record it, and make it live if promoted."""
    number = save_version(outcome, paths, data=data)
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
        members, left_out = await collect_members(ctx, args, stack, say=say)
        results = await asyncio.to_thread(
            retrain_group,
            ctx.store,
            [member for member, _ in members],
            config=config or default_train_config(ctx.settings),
            policy=policy or policy_of(ctx.settings),
            force=args.force,
            say=say,
        )
    for full, why in left_out.items():
        results[full] = {"skipped": why}
    for member, collected in members:
        results[member.paths.repo] = {"collected": collected.new, **results[member.paths.repo]}
    queue_reindex(ctx, args, results)
    first = args.full_name
    together = {full: r for full, r in results.items() if full != first}
    return {"repo": first, **results[first], **({"together": together} if together else {})}


async def collect_members(
    ctx: TaskContext, args: RetrainArgs, stack: contextlib.AsyncExitStack[Any], *, say: Log
) -> tuple[list[tuple[Member, HistoryResult]], dict[str, str]]:
    """Lock each repository of the run and bring its history up to date (background
    work in the installation's budget). Those another worker holds, and those GitHub no
    longer has (deleted, or gone from the installation), are returned apart with the
    reason: one repository never stops its org's run."""
    names = [args.repo, *(n for n in args.together if n != args.repo)]
    members: list[tuple[Member, HistoryResult]] = []
    left_out: dict[str, str] = {}
    endpoint = graphql_endpoint(ctx.settings.github_api_url)
    with lane(ctx.runtime.redis, ctx.settings, background=True):
        gh = await ctx.client(args.installation())
        for name in names:
            full = f"{args.owner}/{name}"
            if not await stack.enter_async_context(retrain_lock(ctx.redis, full)):
                left_out[full] = "another worker is retraining this repository"
                say(f"{full} is being retrained by another worker")
                continue
            try:
                collected = await refresh_history(gh, ctx.store, full, endpoint=endpoint, say=say)
            except (BadRequest, QueryError) as exc:
                if (why := gone(exc)) is None:
                    raise
                left_out[full] = f"{why}: the repository is gone or out of the installation"
                say(f"{full} left out of this run: {left_out[full]}")
                continue
            say(f"{full}: {collected.new} new item(s), {collected.written} collected in all")
            members.append((Member(ModelPaths(model_dir_of(ctx.settings), full)), collected))
    return members, left_out


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
