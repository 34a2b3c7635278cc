"""Bootstrap on installation: learn a repository's labels from its history and gate them.

When the App is installed on a repository (or one is added), this flow

1. backfills the repository's labelled history through GraphQL into the database
   (:func:`workers.history.refresh_history`: a hundred items per query with who
   labelled them, people's labels only, resumable; the same rows triage's nearest
   neighbours and scheduled retraining read, on any host), as background work in the
   installation's request budget (:mod:`workers.budget`);
2. learns its taxonomy: which labels people apply to new items (triage labels) and
   which are status or workflow labels the bot must never guess
   (:func:`models.triage.taxonomy.learn_taxonomy`, ``triage.status_labels``);
3. builds the nearest-neighbour classifier over that history and gates every triage
   label on the lower confidence bound of its precision, each item scored without
   itself and judged at a threshold chosen on other items (:mod:`models.triage.gate`,
   ``triage.precision``, ``triage.confidence``, ``triage.min_support``); discussions
   (classified as issues are) are gated apart, on the labelled discussions of the
   history, whose labellers are inferred (:func:`gate_discussions`), or, with none,
   start in shadow at the issues' thresholds;
4. stores the gates and the profile; the org's last repository to be bootstrapped
   queues one fine-tuning run for the whole org (its repositories share one encoder;
   the run skips those with too little history and gates the others on their holdout).

It holds the repository's retrain lock: collection and training never overlap.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.config_schema import TriageConfig
from core.tasks import RETRAIN, BootstrapArgs, RetrainArgs
from models.triage.data import LabelInfo, LabelledItem, item_from_json
from models.triage.gate import GatePolicy, LabelGate, for_discussions
from models.triage.plan import RetrainPolicy, chronological, plan_training
from models.triage.taxonomy import Taxonomy, learn_taxonomy
from workers.budget import lane
from workers.flow import Effect, RepoTask, open_repo
from workers.github import graphql_endpoint
from workers.history import labellers_inferred, refresh_history
from workers.modelstore import retrain_lock
from workers.runtime import TaskContext
from workers.triage.decide import item_text

log = logging.getLogger(__name__)

Say = Callable[[str], None]
#: The classifier the bootstrap gates (a fine-tuned model is gated as "model").
NEAREST_NEIGHBOUR = "nearest-neighbour"
#: The newest labelled issues the nearest-neighbour classifier keeps as examples.
MAX_EXAMPLES = 2000


#: What gates are measured on, apart: issues (discussions use theirs) and pull requests.
KINDS = ("issue", "pull_request")


def history_items(
    records: Sequence[dict[str, Any]], labels: Sequence[str], *, kind: str = "issue"
) -> list[LabelledItem]:
    """Items of ``kind`` carrying at least one of ``labels`` (others dropped), oldest
    first; a pull request reads as the bot reads a new one, with its changed paths, a
    discussion with its category ahead of its title.
    """
    keep = set(labels)
    items = []
    for record in records:
        if record.get("kind", "issue") != kind:
            continue
        item = item_from_json(record)
        mine = tuple(label for label in item.labels if label in keep)
        if mine:
            paths, category = record.get("files") or (), str(record.get("category") or "")
            title, body = item_text(item.title, item.body, paths, category=category)
            items.append(dataclasses.replace(item, labels=mine, title=title, body=body))
    return chronological(items)[-MAX_EXAMPLES:]


def policy_of(config: TriageConfig) -> GatePolicy:
    """The gate's bar from the repository's config."""
    return GatePolicy(
        target=config.precision, min_support=config.min_support, confidence=config.confidence
    )


def gate_history(
    items: Sequence[LabelledItem], labels: Sequence[LabelInfo], *, policy: GatePolicy, encoder: Any
) -> dict[str, LabelGate]:
    """Gate the nearest-neighbour classifier on the history (blocking: embeds every item)."""
    import numpy as np

    from models.triage.gate import gate_labels
    from models.triage.zeroshot import ZeroShotClassifier

    if not labels:
        return {}
    clf = ZeroShotClassifier(list(labels), list(items), encoder=encoder).fit()
    names = [label.name for label in labels]
    truth = np.array([[int(n in ex.labels) for n in names] for ex in clf.examples], dtype=int)
    probs = clf.held_out_probs() if clf.examples else np.zeros((0, len(names)))
    return gate_labels(probs, truth.reshape(-1, len(names)), names, policy=policy)


def profile(learnt: Learnt, *, policy: GatePolicy, records: int, collected: int) -> dict[str, Any]:
    """What ``steward status`` shows of the bootstrap, and the bar later verdicts use."""
    return {
        "source": NEAREST_NEIGHBOUR,
        "policy": policy.to_json(),
        "bootstrapped_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "history": {
            "records": records,
            "examples": len(learnt.examples["issue"]),
            "pull_request_examples": len(learnt.examples["pull_request"]),
            "discussion_examples": len(learnt.examples["discussion"]),
            "collected_now": collected,
        },
        "taxonomy": {
            name: {"kind": use.kind, "family": use.family, "items": use.items, "reason": use.reason}
            for name, use in sorted(learnt.taxonomy.labels.items())
        },
    }


async def repo_labels(task: RepoTask) -> list[LabelInfo]:
    """The repository's labels with their descriptions."""
    return [
        LabelInfo(name=str(label["name"]), description=str(label.get("description") or ""))
        async for label in task.gh.getiter(
            "/repos/{owner}/{repo}/labels{?per_page}",
            {"owner": task.owner, "repo": task.repo, "per_page": 100},
        )
    ]


def encoder_for(task: RepoTask) -> Any:
    """The deployment's base encoder (``STEWARD_BASE_MODEL`` or the packaged default)."""
    from models.defaults import packaged_model_path, resolve_model_name
    from models.encoder import get_encoder

    base = task.settings.base_model
    name = resolve_model_name(base) if base else packaged_model_path()
    return get_encoder(name, precision=task.settings.precision)


@dataclass(frozen=True)
class Learnt:
    """What the bootstrap learnt of one repository."""

    taxonomy: Taxonomy
    #: Per kind (``issue``, ``pull_request``, ``discussion``): the examples and their
    #: labels' gates.
    examples: dict[str, list[LabelledItem]]
    gates: dict[str, dict[str, LabelGate]]


def learn(task: RepoTask, records: list[dict[str, Any]], labels: list[LabelInfo]) -> Learnt:
    """Taxonomy, examples and gates of one repository (blocking; run in a thread)."""
    config = task.config.triage
    # The taxonomy reads when labels came: discussions have no labelling times.
    timed = [r for r in records if not labellers_inferred(r)]
    taxonomy = learn_taxonomy(timed, status_labels=config.status_labels)
    existing = {label.name for label in labels}
    candidates = [label for label in labels if label.name in set(taxonomy.triage_labels) & existing]
    names = [label.name for label in candidates]
    examples = {kind: history_items(records, names, kind=kind) for kind in (*KINDS, "discussion")}
    policy, encoder = policy_of(config), encoder_for(task)
    gates = {
        kind: gate_history(examples[kind], candidates, policy=policy, encoder=encoder)
        for kind in KINDS
    }
    gates["discussion"] = gate_discussions(
        examples, candidates, issue_gates=gates["issue"], policy=policy, encoder=encoder
    )
    return Learnt(taxonomy, examples, gates)


#: What a discussion gate measured on the history adds to its reason.
INFERRED_NOTE = (
    "measured on {n} labelled discussion(s) of the history; GitHub keeps no timeline for "
    "discussions, so their labels are taken as people's unless Steward's audit log shows "
    "it applied them (who labelled them is inferred)"
)


def gate_discussions(
    examples: dict[str, list[LabelledItem]],
    labels: Sequence[LabelInfo],
    *,
    issue_gates: dict[str, LabelGate],
    policy: GatePolicy,
    encoder: Any,
) -> dict[str, LabelGate]:
    """Discussions' gates: the classifier that labels them (nearest neighbours over the
    issues) measured on the history's labelled discussions, which it never learnt from,
    thresholds cross-fitted as for issues (blocking). With no labelled discussion, the
    issues' thresholds, every label in shadow (:func:`for_discussions`)."""
    import numpy as np

    from models.triage.gate import gate_labels
    from models.triage.zeroshot import ZeroShotClassifier

    found = examples["discussion"]
    if not found or not labels:
        return {g.label: g for g in for_discussions(issue_gates)}
    names = [label.name for label in labels]
    clf = ZeroShotClassifier(list(labels), list(examples["issue"]), encoder=encoder).fit()
    probs = np.array([[p[n] for n in names] for p in clf.predict(found)], dtype=float)
    truth = np.array([[int(n in item.labels) for n in names] for item in found], dtype=int)
    note = INFERRED_NOTE.format(n=len(found))
    return {
        name: dataclasses.replace(gate, reason=f"{gate.reason}; {note}")
        for name, gate in gate_labels(probs, truth, names, policy=policy).items()
    }


REPORT_MARKER = "<!-- steward:triage-report -->"


def report_body(text: str) -> str:
    """The one-time summary issue: where triage stands, and how to follow it."""
    return (
        "Steward read this repository's labelled history and measured, label by label, how "
        "often it would have been right on the newest issues. Only labels that reached the "
        "bar are applied; the others are recorded in shadow and go live once people's "
        "labels show they are right.\n\n"
        f"```\n{text}\n```\n\n"
        "`steward status --repo` shows the current state at any time. Close this issue "
        f"whenever you like; it is not posted again.\n\n{REPORT_MARKER}"
    )


async def report_once(task: RepoTask) -> bool:
    """Open the summary issue if ``triage.report: issue`` asks for it (once per repository)."""
    from workers.triage.status import render, status_report

    if task.config.triage.report != "issue":
        return False
    store = task.store
    report = status_report(
        task.full_name,
        gates=store.gates_for(task.full_name),
        profile=store.profile_for(task.full_name),
        model=None,
    )

    async def open_issue() -> dict[str, Any]:
        issue = await task.gh.post(
            "/repos/{owner}/{repo}/issues",
            {"owner": task.owner, "repo": task.repo},
            data={"title": "Steward: triage on day one", "body": report_body(render(report))},
        )
        return {"issue": int(issue["number"])}

    effect = Effect(
        f"triage:{task.full_name}:report", "triage", "report", 0, {"live": report["live"]}
    )
    return await task.apply_once(effect, open_issue) is not None


def org_members(task: RepoTask) -> list[str]:
    """The names of this repository's org mates in the installation (itself first)."""
    installation = task.args.installation()
    mates = [
        full.partition("/")[2]
        for full in task.ctx.store.active_repositories(installation)
        if full.partition("/")[0].lower() == task.owner.lower() and full != task.full_name
    ]
    return [task.repo, *mates]


def queue_fine_tuning(task: RepoTask, records: list[dict[str, Any]]) -> bool:
    """Queue one retrain for the org once its last repository is bootstrapped; True if
    queued. The org's repositories are then fine-tuned together on one shared encoder.
    """
    names = org_members(task)
    waiting = [n for n in names[1:] if task.ctx.store.profile_for(f"{task.owner}/{n}") is None]
    issues = [item_from_json(r) for r in records if r.get("kind", "issue") == "issue"]
    if waiting or (len(names) == 1 and not plan_training(issues, RetrainPolicy()).ready):
        return False
    args = RetrainArgs(
        installation_id=task.args.installation_id,
        owner=task.owner,
        repo=task.repo,
        together=tuple(names[1:]),
    )
    task.ctx.runtime.enqueue(RETRAIN, args)
    return True


def store_gates(ctx: TaskContext, repo: str, gates: dict[str, dict[str, LabelGate]]) -> None:
    """Store the nearest neighbours' gates per kind (discussions' included)."""
    for kind, kind_gates in gates.items():
        ctx.store.replace_gates(
            repo,
            source=NEAREST_NEIGHBOUR,
            kind=kind,
            gates=[g.to_json() for g in kind_gates.values()],
        )


async def run_bootstrap(
    ctx: TaskContext, args: BootstrapArgs, *, say: Say | None = None, fine_tune: bool = True
) -> dict[str, Any]:
    """Backfill, learn the taxonomy, gate the nearest-neighbour classifier, store it all
    (every GitHub request of it background work in the installation's budget)."""
    with lane(ctx.runtime.redis, ctx.settings, background=True):
        return await _bootstrap(ctx, args, say=say or log.info, fine_tune=fine_tune)


async def _bootstrap(
    ctx: TaskContext, args: BootstrapArgs, *, say: Say, fine_tune: bool
) -> dict[str, Any]:
    async with retrain_lock(ctx.redis, args.full_name) as held:
        if not held:
            return {"skipped": "another worker is collecting or training this repository"}
        task = await open_repo(ctx, args)
        endpoint = graphql_endpoint(ctx.settings.github_api_url)
        collected = await refresh_history(
            task.gh, ctx.store, args.full_name, endpoint=endpoint, say=say
        )
        records = ctx.store.history_records(args.full_name)
        labels = await repo_labels(task)
        learnt = await asyncio.to_thread(learn, task, records, labels)
        store_gates(ctx, args.full_name, learnt.gates)
        summary = profile(
            learnt,
            policy=policy_of(task.config.triage),
            records=len(records),
            collected=collected.new,
        )
        ctx.store.save_profile(args.full_name, summary)
        await report_once(task)
    live = {k: sorted(n for n, g in gates.items() if g.live) for k, gates in learnt.gates.items()}
    queued = fine_tune and queue_fine_tuning(task, records)
    say(f"{args.full_name}: {len(records)} items, live labels {live}")
    return {
        "repo": args.full_name,
        "examples": len(learnt.examples["issue"]),
        "live": live["issue"],
        "pull_requests": {
            "examples": len(learnt.examples["pull_request"]),
            "live": live["pull_request"],
        },
        "discussions": {
            "examples": len(learnt.examples["discussion"]),
            "live": live["discussion"],
        },
        "fine_tune": queued,
    }
