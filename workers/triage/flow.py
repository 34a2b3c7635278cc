"""The triage flow: fetch the item and the repository's labels, predict, apply idempotently."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.accounts import is_bot_user
from core.tasks import BOOTSTRAP, BootstrapArgs, TriageArgs
from workers.flow import Effect, RepoTask, open_repo
from workers.gates import label_effect_key, scope_of
from workers.modelstore import has_model
from workers.runtime import TaskContext
from workers.triage.bootstrap import NEAREST_NEIGHBOUR as NEAREST
from workers.triage.bootstrap import history_items
from workers.triage.decide import (
    MARKER,
    Gates,
    Prediction,
    choose_labels,
    explanation,
    item_text,
    kind_enabled,
    live_names,
    never_guessed,
    top_candidate,
    with_gates,
)
from workers.triage.inference import ItemText, predict_nearest, predict_with_model

log = logging.getLogger(__name__)

DISCUSSION = """
query TriageDiscussion($id: ID!) {
  node(id: $id) {
    ... on Discussion {
      title
      body
      category { name }
      labels(first: 20) { nodes { name } }
    }
  }
}
"""

REPO_LABELS = """
query RepoLabels($owner: String!, $name: String!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    labels(first: 100, after: $cursor) {
      nodes { id name description }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""

ADD_LABELS = """
mutation AddLabels($id: ID!, $labels: [ID!]!) {
  addLabelsToLabelable(input: {labelableId: $id, labelIds: $labels}) {
    clientMutationId
  }
}
"""


@dataclass(frozen=True)
class Fetched:
    """The item as it is now, and the repository's labels."""

    title: str
    body: str
    labels: list[str]
    paths: list[str]
    repo_labels: list[tuple[str, str, str]]  # (name, description, node id)
    #: A discussion's category ("Q&A", "Ideas", …): a feature the classifier reads.
    category: str = ""


async def _rest_labels(task: RepoTask) -> list[tuple[str, str, str]]:
    return [
        (str(label["name"]), str(label.get("description") or ""), str(label["node_id"]))
        async for label in task.gh.getiter(
            "/repos/{owner}/{repo}/labels{?per_page}",
            {"owner": task.owner, "repo": task.repo, "per_page": 100},
        )
    ]


async def _graphql_labels(task: RepoTask) -> list[tuple[str, str, str]]:
    labels: list[tuple[str, str, str]] = []
    cursor: str | None = None
    while True:
        data = await task.graphql(REPO_LABELS, owner=task.owner, name=task.repo, cursor=cursor)
        page = data["repository"]["labels"]
        labels.extend((n["name"], n.get("description") or "", n["id"]) for n in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return labels
        cursor = page["pageInfo"]["endCursor"]


async def _fetch_discussion(task: RepoTask, node_id: str) -> Fetched:
    node = (await task.graphql(DISCUSSION, id=node_id))["node"]
    return Fetched(
        title=str(node["title"]),
        body=str(node.get("body") or ""),
        labels=[n["name"] for n in node["labels"]["nodes"]],
        paths=[],
        repo_labels=await _graphql_labels(task),
        category=str((node.get("category") or {}).get("name") or ""),
    )


async def fetch(task: RepoTask, args: TriageArgs) -> Fetched:
    """The item's text, labels and (for PRs) changed paths, plus the repository's labels."""
    if args.kind == "discussion":
        return await _fetch_discussion(task, args.node_id)
    issue, repo_labels = await asyncio.gather(task.issue(args.number), _rest_labels(task))
    paths = await task.pull_files(args.number) if args.kind == "pull_request" else []
    return Fetched(
        title=str(issue.get("title") or ""),
        body=str(issue.get("body") or ""),
        labels=[str(label["name"]) for label in issue.get("labels") or []],
        paths=paths,
        repo_labels=repo_labels,
    )


async def labels_removed_by_humans(task: RepoTask, number: int) -> set[str]:
    """Labels a person (not a bot) removed from the item: never added again."""
    removed: set[str] = set()
    async for event in task.gh.getiter(
        "/repos/{owner}/{repo}/issues/{issue_number}/events{?per_page}",
        {"owner": task.owner, "repo": task.repo, "issue_number": number, "per_page": 100},
    ):
        actor = event.get("actor") or {}
        if event.get("event") == "unlabeled" and not is_bot_user(actor):
            removed.add(str((event.get("label") or {}).get("name", "")))
    return removed


async def removed_labels(task: RepoTask, args: TriageArgs) -> set[str]:
    """Labels people removed from this item, on GitHub and in the recorded feedback."""
    removed = (
        set() if args.kind == "discussion" else await labels_removed_by_humans(task, args.number)
    )
    return removed | {
        f["subject"]
        for f in task.store.feedback_for(task.full_name)
        if f["number"] == args.number and f["kind"] == "label_removed"
    }


def model_dir(task: RepoTask) -> Path:
    """Where this deployment keeps trained triage models."""
    return task.settings.model_dir or task.settings.data_dir / "models"


async def predict_from_history(
    task: RepoTask, text: ItemText, fetched: Fetched, *, scope: str
) -> Prediction | None:
    """The nearest-neighbour classifier over the bootstrapped history of ``scope`` items,
    over the labels the bootstrap gated (None before the bootstrap, or with no gate).
    """
    profile = task.store.profile_for(task.full_name)
    rows = task.store.gates_for(task.full_name, scope)
    gated = [r["label"] for r in rows if r["source"] == NEAREST]
    descriptions = {name: desc for name, desc, _ in fetched.repo_labels}
    labels = [(name, descriptions[name]) for name in gated if name in descriptions]
    if profile is None or not labels:
        return None

    def load() -> list[Any]:
        records = task.store.history_records(task.full_name, kind=scope)
        return history_items(records, [name for name, _ in labels], kind=scope)

    return await asyncio.to_thread(
        predict_nearest,
        text,
        labels,
        load_examples=load,
        version=f"{scope}@{profile['updated_at']}",
        base_model=task.settings.base_model,
        precision=task.settings.precision,
    )


async def predict(task: RepoTask, fetched: Fetched, *, scope: str) -> Prediction | None:
    """The classifier for this kind of item, or None when none may run.

    Pull requests learn from pull requests: the nearest neighbours over the repository's
    labelled pull requests (with their changed paths) when the bootstrap gated any;
    otherwise, like issues, the fine-tuned model or the nearest neighbours over issues.
    """
    title, body = item_text(fetched.title, fetched.body, fetched.paths, category=fetched.category)
    text = ItemText(repo=task.full_name, title=title, body=body)
    if not task.config.triage.zero_shot and not has_model(model_dir(task), task.full_name):
        return None
    if scope == "pull_request" and task.config.triage.zero_shot:
        from_pulls = await predict_from_history(task, text, fetched, scope=scope)
        if from_pulls is not None:
            return from_pulls
    if has_model(model_dir(task), task.full_name):
        precision = task.settings.precision
        return await asyncio.to_thread(predict_with_model, model_dir(task), text, precision)
    return await predict_from_history(task, text, fetched, scope="issue")


async def apply_labels(
    task: RepoTask, args: TriageArgs, *, names: list[str], fetched: Fetched
) -> None:
    """Add the labels (adding a label twice is a no-op on GitHub, so retries are safe)."""
    if args.kind == "discussion":
        ids = [lid for name, _, lid in fetched.repo_labels if name in names]
        await task.graphql(ADD_LABELS, id=args.node_id, labels=ids)
        return
    await task.gh.post(
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        {"owner": task.owner, "repo": task.repo, "issue_number": args.number},
        data={"labels": names},
    )


def good_first_issue_proposal(kind: str, fetched: Fetched, setting: str) -> str | None:
    """The repository's newcomer label if this new issue looks easy and well described."""
    from models.reviewers import looks_like_good_first_issue
    from models.reviewers.issues import is_newcomer_issue

    if kind != "issue" or setting == "off":
        return None
    label = next((n for n, _, _ in fetched.repo_labels if is_newcomer_issue([n])), None)
    verdict, _ = looks_like_good_first_issue(fetched.title, fetched.body, fetched.labels)
    return label if verdict else None


def decision_key(full: str, number: int) -> str:
    """The audit-log key of the triage decision for one item."""
    return f"triage:{full}#{number}:decision"


@dataclass(frozen=True)
class Decided:
    """What triage chose for one item: labels to apply, and labels the gate held back."""

    chosen: list[tuple[str, float]]
    held: list[tuple[str, float]]
    names: list[str]
    newcomer: str | None
    prediction: Prediction
    gated: bool


def gates_of(task: RepoTask, source: str, *, scope: str) -> Gates:
    """The repository's gates for the classifier that made a prediction, measured on
    ``scope`` items (none: every label is held back).
    """
    rows = [r for r in task.store.gates_for(task.full_name, scope) if r["source"] == source]
    return Gates(
        thresholds={r["label"]: float(r["gate"]["threshold"]) for r in rows},
        live=frozenset(r["label"] for r in rows if r["live"]),
        measured=bool(rows),
    )


def learnt_status_labels(task: RepoTask) -> set[str]:
    """The labels the bootstrap learnt to be status or workflow labels."""
    taxonomy = (task.store.profile_for(task.full_name) or {}).get("taxonomy") or {}
    return {name for name, use in taxonomy.items() if use.get("kind") == "status"}


async def why_nothing(task: RepoTask) -> str:
    """Why no classifier could run; queues the bootstrap of a repository never read."""
    if not task.config.triage.zero_shot:
        return "no trained model and zero-shot is off"
    if task.store.profile_for(task.full_name) is None:
        queued = await queue_bootstrap(task)
        return "not bootstrapped yet" + ("; its history is being read" if queued else "")
    return "no label of this repository has been measured yet"


async def queue_bootstrap(task: RepoTask) -> bool:
    """Queue the repository's bootstrap once an hour at most; True if queued now."""
    key = f"steward:bootstrap-queued:{task.full_name}"
    args = BootstrapArgs(
        installation_id=task.args.installation_id, owner=task.owner, repo=task.repo
    )
    return await task.ctx.enqueue_once(BOOTSTRAP, args, key=key, seconds=3600)


async def decide(task: RepoTask, args: TriageArgs, fetched: Fetched) -> Decided | str:
    """The labels for the item, or why there are none to decide."""
    config = task.config.triage
    scope = scope_of(args.kind)
    prediction = await predict(task, fetched, scope=scope)
    if prediction is None:
        return await why_nothing(task)
    gates = gates_of(task, prediction.source, scope=scope)
    repo_labels = [n for n, _, _ in fetched.repo_labels]
    removed = await removed_labels(task, args)
    chosen = choose_labels(
        with_gates(prediction, gates),
        repo_labels=repo_labels,
        config=config,
        removed_by_humans=removed,
    )
    live = live_names(gates, repo_labels=repo_labels, config=config)
    if not chosen:  # held back, so that people's labels can judge it and earn it a threshold
        top = top_candidate(prediction, repo_labels=repo_labels, config=config, removed=removed)
        chosen = [c for c in top if c[0] not in live]
    status = learnt_status_labels(task)
    chosen = [c for c in chosen if not never_guessed(c[0], config=config, status=status)]
    applied = [(name, p) for name, p in chosen if name in live]
    held = [(name, p) for name, p in chosen if name not in live]
    names = [name for name, _ in applied]
    newcomer = good_first_issue_proposal(args.kind, fetched, config.good_first_issue)
    if newcomer and config.good_first_issue == "label":
        names.append(newcomer)
    return Decided(applied, held, names, newcomer, prediction, gates.measured)


def effects(args: TriageArgs, decided: Decided) -> tuple[Effect, list[Effect]]:
    """The decision's audit records: one per label (held-back ones as ``shadow``), then
    the decision itself.
    """
    applied = list(decided.chosen)
    if decided.newcomer and decided.newcomer in decided.names:
        applied.append((decided.newcomer, 1.0))
    labels = [label_effect(args, name, prob) for name, prob in applied]
    labels += [label_effect(args, name, prob, mode="shadow") for name, prob in decided.held]
    detail = {
        "good_first_issue": decided.newcomer,
        "kind": args.kind,
        "applied": decided.names,
        "shadow": [name for name, _ in decided.held],
        "gated": decided.gated,
        "source": decided.prediction.source,
        "probs": decided.prediction.probs,
    }
    key = decision_key(args.full_name, args.number)
    return Effect(key, "triage", "decision", args.number, detail), labels


def label_effect(args: TriageArgs, name: str, prob: float, *, mode: str | None = None) -> Effect:
    """The audit record of one label the bot applied (or held back, ``mode="shadow"``)."""
    key = label_effect_key(args.full_name, args.number, name)
    return Effect(key, "triage", "label", args.number, {"label": name, "prob": prob}, mode=mode)


async def run_triage(ctx: TaskContext, args: TriageArgs) -> dict[str, Any]:
    """Label a new issue, pull request or discussion from the repository's own labels."""
    if ctx.done(decision_key(args.full_name, args.number)):
        return {"skipped": "already triaged"}
    task = await open_repo(ctx, args)
    config = task.config.triage
    if not kind_enabled(config, args.kind):
        return {"skipped": "triage is off for this kind"}
    fetched = await fetch(task, args)
    if fetched.labels:
        return {"skipped": "a human already labelled it"}
    decided = await decide(task, args, fetched)
    if isinstance(decided, str):
        return {"skipped": decided}

    async def apply() -> None:
        await apply_labels(task, args, names=decided.names, fetched=fetched)
        if config.explain and args.kind != "discussion":
            text = explanation(decided.chosen, decided.prediction.source)
            await task.comment_once(args.number, body=text, marker=MARKER)

    decision, labels = effects(args, decided)
    if await task.apply_once(decision, apply if decided.names else None, also=labels) is None:
        return {"skipped": "already triaged"}
    mode, source = task.config.mode, decided.prediction.source
    held = [name for name, _ in decided.held]
    log.info(
        "triage %s#%d: %s, held back %s (%s, %s)",
        task.full_name,
        args.number,
        decided.names or "no label",
        held or "none",
        source,
        mode,
    )
    return {"labels": decided.names, "shadow": held, "source": source, "mode": mode}
