"""The triage flow: fetch the item and the repository's labels, predict, apply idempotently."""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gidgethub.abc import GitHubAPI

from app.store import ActionRecord
from workers.flows.common import post_comment_once, record, repo_config
from workers.flows.feedback import label_effect_key
from workers.github import graphql_endpoint
from workers.inference import (
    ItemText,
    has_model,
    predict_with_model,
    predict_zero_shot,
)
from workers.runtime import TaskContext
from workers.triage import MARKER, Prediction, choose_labels, explanation, item_text

log = logging.getLogger(__name__)

DISCUSSION = """
query TriageDiscussion($id: ID!) {
  node(id: $id) {
    ... on Discussion {
      title
      body
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


async def _rest_labels(gh: GitHubAPI, owner: str, repo: str) -> list[tuple[str, str, str]]:
    labels = []
    async for label in gh.getiter(
        "/repos/{owner}/{repo}/labels{?per_page}", {"owner": owner, "repo": repo, "per_page": 100}
    ):
        labels.append(
            (str(label["name"]), str(label.get("description") or ""), str(label["node_id"]))
        )
    return labels


async def _graphql_labels(
    ctx: TaskContext, gh: GitHubAPI, owner: str, repo: str
) -> list[tuple[str, str, str]]:
    labels: list[tuple[str, str, str]] = []
    cursor: str | None = None
    while True:
        data = await gh.graphql(
            REPO_LABELS,
            endpoint=graphql_endpoint(ctx.settings.github_api_url),
            owner=owner,
            name=repo,
            cursor=cursor,
        )
        page = data["repository"]["labels"]
        labels.extend((n["name"], n.get("description") or "", n["id"]) for n in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            return labels
        cursor = page["pageInfo"]["endCursor"]


async def fetch(
    ctx: TaskContext, gh: GitHubAPI, kind: str, owner: str, repo: str, number: int, node_id: str
) -> Fetched:
    """The item's text, labels and (for PRs) changed paths, plus the repository's labels."""
    if kind == "discussion":
        data = await gh.graphql(
            DISCUSSION, endpoint=graphql_endpoint(ctx.settings.github_api_url), id=node_id
        )
        node = data["node"]
        return Fetched(
            title=str(node["title"]),
            body=str(node.get("body") or ""),
            labels=[n["name"] for n in node["labels"]["nodes"]],
            paths=[],
            repo_labels=await _graphql_labels(ctx, gh, owner, repo),
        )
    ids: dict[str, Any] = {"owner": owner, "repo": repo, "issue_number": number}
    issue, repo_labels = await asyncio.gather(
        gh.getitem("/repos/{owner}/{repo}/issues/{issue_number}", ids),
        _rest_labels(gh, owner, repo),
    )
    paths: list[str] = []
    if kind == "pull_request":
        async for f in gh.getiter(
            "/repos/{owner}/{repo}/pulls/{pull_number}/files{?per_page}",
            {"owner": owner, "repo": repo, "pull_number": number, "per_page": 100},
        ):
            paths.append(str(f["filename"]))
    return Fetched(
        title=str(issue.get("title") or ""),
        body=str(issue.get("body") or ""),
        labels=[str(label["name"]) for label in issue.get("labels") or []],
        paths=paths,
        repo_labels=repo_labels,
    )


async def labels_removed_by_humans(gh: GitHubAPI, owner: str, repo: str, number: int) -> set[str]:
    """Labels a person (not a bot) removed from the item: never added again."""
    removed: set[str] = set()
    async for event in gh.getiter(
        "/repos/{owner}/{repo}/issues/{issue_number}/events{?per_page}",
        {"owner": owner, "repo": repo, "issue_number": number, "per_page": 100},
    ):
        actor = event.get("actor") or {}
        is_bot = actor.get("type") == "Bot" or str(actor.get("login", "")).endswith("[bot]")
        if event.get("event") == "unlabeled" and not is_bot:
            removed.add(str((event.get("label") or {}).get("name", "")))
    return removed


async def labelled_examples(
    gh: GitHubAPI, owner: str, repo: str
) -> list[tuple[str, str, tuple[str, ...]]]:
    """Recently closed, labelled issues: the zero-shot path's nearest neighbours."""
    examples = []
    async for issue in gh.getiter(
        "/repos/{owner}/{repo}/issues{?state,per_page}",
        {"owner": owner, "repo": repo, "state": "closed", "per_page": 100},
    ):
        labels = tuple(str(label["name"]) for label in issue.get("labels") or [])
        if labels:
            examples.append((str(issue.get("title") or ""), str(issue.get("body") or ""), labels))
        if len(examples) >= 200:
            break
    return examples


def model_dir(ctx: TaskContext) -> Path:
    """Where this deployment keeps trained triage models."""
    return ctx.settings.model_dir or ctx.settings.data_dir / "models"


async def predict(
    ctx: TaskContext, gh: GitHubAPI, full: str, fetched: Fetched, zero_shot: bool
) -> Prediction | None:
    """The trained model's prediction, or zero-shot's, or None when neither may run."""
    title, body = item_text(fetched.title, fetched.body, fetched.paths)
    text = ItemText(repo=full, title=title, body=body)
    if has_model(model_dir(ctx), full):
        return await asyncio.to_thread(
            predict_with_model, model_dir(ctx), text, ctx.settings.precision
        )
    if not zero_shot or not fetched.repo_labels:
        return None
    owner, repo = full.split("/", 1)
    examples = await labelled_examples(gh, owner, repo)
    labels = [(name, desc) for name, desc, _ in fetched.repo_labels]
    return await asyncio.to_thread(
        predict_zero_shot, text, labels, examples, ctx.settings.base_model, ctx.settings.precision
    )


async def apply_labels(
    ctx: TaskContext,
    gh: GitHubAPI,
    kind: str,
    owner: str,
    repo: str,
    number: int,
    node_id: str,
    names: list[str],
    fetched: Fetched,
) -> None:
    """Add the labels (adding a label twice is a no-op on GitHub, so retries are safe)."""
    if kind == "discussion":
        ids = [lid for name, _, lid in fetched.repo_labels if name in names]
        await gh.graphql(
            ADD_LABELS,
            endpoint=graphql_endpoint(ctx.settings.github_api_url),
            id=node_id,
            labels=ids,
        )
        return
    await gh.post(
        "/repos/{owner}/{repo}/issues/{issue_number}/labels",
        {"owner": owner, "repo": repo, "issue_number": number},
        data={"labels": names},
    )


async def explain(
    gh: GitHubAPI,
    owner: str,
    repo: str,
    number: int,
    chosen: list[tuple[str, float]],
    source: str,
) -> None:
    """Post the optional explanation once (hidden marker)."""
    await post_comment_once(gh, owner, repo, number, explanation(chosen, source), MARKER)


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


async def run_triage(
    ctx: TaskContext,
    *,
    installation_id: int,
    owner: str,
    repo: str,
    number: int,
    kind: str,
    node_id: str = "",
    delivery_id: str | None = None,
) -> dict[str, Any]:
    """Label a new issue, pull request or discussion from the repository's own labels."""
    full = f"{owner}/{repo}"
    if ctx.store.has_action(decision_key(full, number)):
        return {"skipped": "already triaged"}
    gh = await ctx.client(installation_id)
    loaded = await repo_config(ctx, gh, owner, repo)
    config = loaded.config.triage
    switch = {
        "issue": config.issues,
        "pull_request": config.pull_requests,
        "discussion": config.discussions,
    }[kind]
    if not (config.enabled and switch):
        return {"skipped": "triage is off for this kind"}
    fetched = await fetch(ctx, gh, kind, owner, repo, number, node_id)
    if fetched.labels:
        return {"skipped": "a human already labelled it"}
    prediction = await predict(ctx, gh, full, fetched, config.zero_shot)
    if prediction is None:
        return {"skipped": "no trained model and zero-shot is off"}
    removed = (
        set() if kind == "discussion" else await labels_removed_by_humans(gh, owner, repo, number)
    )
    removed |= {
        f["subject"]
        for f in ctx.store.feedback_for(full)
        if f["number"] == number and f["kind"] == "label_removed"
    }
    chosen = choose_labels(
        prediction,
        repo_labels=[n for n, _, _ in fetched.repo_labels],
        config=config,
        removed_by_humans=removed,
    )
    mode = loaded.config.mode
    names = [name for name, _ in chosen]
    newcomer = good_first_issue_proposal(kind, fetched, config.good_first_issue)
    if newcomer and config.good_first_issue == "label":
        names.append(newcomer)
    async with ctx.lock(decision_key(full, number)):
        if ctx.store.has_action(decision_key(full, number)):
            return {"skipped": "already triaged"}
        if mode == "live" and names:
            await apply_labels(ctx, gh, kind, owner, repo, number, node_id, names, fetched)
            if config.explain and kind != "discussion":
                await explain(gh, owner, repo, number, chosen, prediction.source)
        audit = functools.partial(
            ActionRecord,
            repo=full,
            feature="triage",
            number=number,
            delivery_id=delivery_id,
            installation_id=installation_id,
            mode=mode,
        )
        for name, prob in chosen:
            record(
                ctx,
                audit(
                    effect_key=label_effect_key(full, number, name),
                    action="label",
                    detail={"label": name, "prob": prob},
                ),
            )
        detail = {
            "good_first_issue": newcomer,
            "kind": kind,
            "applied": names,
            "source": prediction.source,
            "probs": prediction.probs,
        }
        record(ctx, audit(effect_key=decision_key(full, number), action="decision", detail=detail))
    log.info(
        "triage %s#%d: %s (%s, %s)", full, number, names or "no label", prediction.source, mode
    )
    return {"labels": names, "source": prediction.source, "mode": mode}
