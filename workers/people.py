"""Who to ask, shared below the features: reviewers for a pull request and people for an
issue, ranked from the repository's review history (:mod:`models.reviewers`) with the
constraints and load read from GitHub, and the reviewer requests or suggestion comment.

Reviewer suggestions, ``/reviewers`` (commands) and follow-up routing all rank through
this module; none of them imports another.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from core.markdown import mention, spans
from core.settings import Settings
from core.store import Store
from models.reviewers import (
    Change,
    Constraints,
    EmbeddingTextIndex,
    Load,
    ReviewerIndex,
    Suggestion,
    rank_people_for_issue,
)
from models.reviewers.calibrate import MatchingChoice, TaskChoice, effective_load
from models.reviewers.constraints import bot_load, workload
from models.reviewers.history import encoder_text
from models.reviewers.index import Target, issue_view
from models.reviewers.requests import indexed_text, review_requests, writers
from workers.flow import RepoTask
from workers.repo_config import fetch_file

if TYPE_CHECKING:
    from workers.semantic import RepoEncoder

log = logging.getLogger(__name__)


REVIEWERS_MARKER = "<!-- steward:reviewers -->"


PEOPLE_MARKER = "<!-- steward:people -->"


#: Characters of a suggestion's reason shown (reasons quote paths and titles).
MAX_REASON = 200


def suggestion_lines(suggestions: Sequence[Suggestion]) -> str:
    """One line per person: the deliberate mention and the reason, which quotes paths
    and titles people wrote (its quoted paths as code spans, the rest inert)."""
    return "\n".join(
        f"- {mention(s.login)} — {spans(s.reason, limit=MAX_REASON)}" for s in suggestions
    )


def suggestion_comment(suggestions: Sequence[Suggestion]) -> str:
    """The `suggest`-mode comment: one line per person with the reason."""
    lines = suggestion_lines(suggestions)
    return (
        "Steward suggests these reviewers, from who knows this code:\n\n"
        f"{lines}\n\n{REVIEWERS_MARKER}"
    )


def people_comment(suggestions: Sequence[Suggestion]) -> str:
    """The `mention`-mode comment on a new issue."""
    lines = suggestion_lines(suggestions)
    return f"These people know the code this issue is about:\n\n{lines}\n\n{PEOPLE_MARKER}"


CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


async def codeowners(task: RepoTask) -> str | None:
    """The repository's CODEOWNERS text, from where GitHub looks for it."""
    for path in CODEOWNERS_PATHS:
        found = await fetch_file(task.gh, task.owner, task.repo, path=path)
        if found is not None:
            return found.text
    return None


async def eligible_people(task: RepoTask) -> list[str]:
    """Collaborators with write access (the people a review can be requested from)."""
    people = [
        person
        async for person in task.gh.getiter(
            "/repos/{owner}/{repo}/collaborators{?per_page}",
            {"owner": task.owner, "repo": task.repo, "per_page": 100},
        )
    ]
    return writers(people)


async def current_load(task: RepoTask) -> Load:
    """Everyone's workload now — open review requests count 1, past reviews fade with a
    60-day half-life — under the one load rule the replay measures (``bot_load``: relative
    to the average loaded person; only load above the average discounts)."""
    pulls = [
        pull
        async for pull in task.gh.getiter(
            "/repos/{owner}/{repo}/pulls{?state,per_page}",
            {"owner": task.owner, "repo": task.repo, "state": "open", "per_page": 100},
        )
    ]
    requests = review_requests(pulls, task.store.changes_for(task.full_name))
    return bot_load(workload(requests, time.time()), policy=load_policy(task))


def load_policy(task: RepoTask) -> Load:
    """The discount to rank with (``effective_load``): the org's or repository's
    ``reviewers.load`` when set, else the one chosen by replaying the repository's own
    history, else the fixed policy. The setting seen is stored for ``steward status``."""
    row = task.store.matching_choice(task.full_name)
    config_load = {key: float(value) for key, value in task.config.reviewers.load.items()}
    if (row or {}).get("config_load") != (config_load or None) and (row or config_load):
        task.store.note_config_load(task.full_name, config_load or None)
    choice = choice_of(row)
    try:
        return effective_load(config_load or None, choice).policy
    except ValueError as exc:  # the schema checks it; a stored row could still be odd
        log.warning("%s: %s; the calibrated or fixed discount is used", task.full_name, exc)
        return effective_load(None, choice).policy


def choice_of(row: Mapping[str, Any] | None) -> MatchingChoice | None:
    """The matching choice a ``matching_choices`` row holds (None: none, or unreadable)."""
    if not row or not row.get("choice"):
        return None
    try:
        return MatchingChoice.from_json(str(row["choice"]))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("%s: stored matching choice unreadable (%r); defaults used", row["repo"], exc)
        return None


def busy_query(count: int) -> str:
    """One GraphQL query for the status of ``count`` people (aliases u0, u1, …)."""
    params = ", ".join(f"$l{i}: String!" for i in range(count))
    fields = " ".join(
        f"u{i}: user(login: $l{i}) {{ status {{ indicatesLimitedAvailability }} }}"
        for i in range(count)
    )
    return f"query Busy({params}) {{ {fields} }}"


async def busy_people(task: RepoTask, logins: list[str]) -> frozenset[str]:
    """Who among ``logins`` set GitHub's busy status (limited availability)."""
    if not logins:
        return frozenset()
    data = await task.graphql(
        busy_query(len(logins)), **{f"l{i}": login for i, login in enumerate(logins)}
    )
    return frozenset(
        login.lower()
        for i, login in enumerate(logins)
        if ((data.get(f"u{i}") or {}).get("status") or {}).get("indicatesLimitedAvailability")
    )


def pull_change(pull: dict[str, Any], files: list[str]) -> Change:
    """An open pull request as the ranker reads it."""
    return Change(
        id=str(pull["number"]),
        created_at=time.time(),
        merged_at=time.time(),
        author=str(pull["user"]["login"]),
        reviewers=(),
        title=str(pull.get("title") or ""),
        body=str(pull.get("body") or ""),
        files=tuple(files),
    )


async def rank_reviewers(task: RepoTask, pull: dict[str, Any]) -> tuple[list[Suggestion], int]:
    """The reviewers to ask for ``pull``, and the size of the history they came from."""
    config = task.config.reviewers
    files, allowed, load, owners = await asyncio.gather(
        task.pull_files(int(pull["number"])),
        eligible_people(task),
        current_load(task),
        codeowners(task),
    )
    index = reviewer_index(task.store, task.full_name, settings=task.settings)
    if owners:
        index.set_codeowners(owners)
    change = pull_change(pull, files)
    constraints = Constraints.build(
        allowed=allowed, never=config.never, opted_out=task.store.opted_out()
    )
    # Availability is looked up only for the leading candidates, then the ranking is redone.
    leaders = index.suggest(change, k=config.count * 3, constraints=constraints, load=load)
    busy = await busy_people(task, [s.login for s in leaders])
    load = load.with_requests(load.open_requests, busy)
    return index.suggest(change, k=config.count, constraints=constraints, load=load), len(index)


async def apply_reviewers(
    task: RepoTask, number: int, *, mode: str, suggestions: list[Suggestion]
) -> None:
    """Request the reviews, or post the one suggestion comment (marker-checked)."""
    ids: dict[str, Any] = {"owner": task.owner, "repo": task.repo, "pull_number": number}
    if mode == "request":
        data: dict[str, Any] = {"reviewers": [s.login for s in suggestions]}
        if task.config.reviewers.teams:
            data["team_reviewers"] = task.config.reviewers.teams
        await task.gh.post(
            "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", ids, data=data
        )
        return
    await task.comment_once(number, body=suggestion_comment(suggestions), marker=REVIEWERS_MARKER)


async def rank_people(task: RepoTask, number: int) -> list[Suggestion]:
    """People likely to resolve issue ``number``: who authored and reviewed changes about
    what it says, with the reviewers' constraints, load and busy rules."""
    issue, allowed, load = await asyncio.gather(
        task.issue(number),
        eligible_people(task),
        current_load(task),
    )
    config = task.config.reviewers
    text = f"{issue.get('title') or ''}\n{issue.get('body') or ''}"
    index = people_index(task.store, task.full_name, settings=task.settings)
    constraints = Constraints.build(
        allowed=allowed, never=config.never, opted_out=task.store.opted_out()
    )
    author = str(issue["user"]["login"])

    def ranked(current: Load, k: int) -> list[Suggestion]:
        return rank_people_for_issue(
            text, [], index, k=k, author=author, constraints=constraints, load=current
        )

    # As for reviewers: availability only for the leading candidates, then rank again.
    busy = await busy_people(task, [s.login for s in ranked(load, config.count * 3)])
    return ranked(load.with_requests(load.open_requests, busy), config.count)


_lock = threading.Lock()


#: ``(target, repo) → ((changes, when chosen, encoder on), index)``.
_indexes: dict[tuple[str, str], tuple[tuple[int, Any, bool], ReviewerIndex]] = {}


def reviewer_index(store: Store, full: str, *, settings: Settings | None = None) -> ReviewerIndex:
    """The repository's reviewer index, rebuilt from the database only when it has new
    changes or a new matching choice (``settings`` lets a chosen encoder feature run)."""
    return _cached_index(store, full, target="reviewers", settings=settings)


def people_index(store: Store, full: str, *, settings: Settings | None = None) -> ReviewerIndex:
    """The index that ranks who will resolve an issue: past authors and reviewers, trained
    on each merged change's issue view with its author as the answer."""
    return _cached_index(store, full, target="authors", settings=settings)


def task_choice(choice: MatchingChoice | None, target: Target) -> TaskChoice | None:
    """What ``choice`` chose for the ranker of ``target`` (None: nothing chosen)."""
    if choice is None:
        return None
    return choice.reviewers if target == "reviewers" else choice.people


def _cached_index(
    store: Store, full: str, *, target: Target, settings: Settings | None
) -> ReviewerIndex:
    # The ranker's regularisation and the encoder feature are the repository's choice
    # (``models.reviewers.calibrate``); without one, the defaults: no encoder feature (in
    # the replay of golang-net it cost reviewers 0.008 MRR and bought people 0.001).
    count = store.change_count(full)
    row = store.matching_choice(full)
    chosen = task_choice(choice_of(row), target)
    encoder = settings is not None and chosen is not None and chosen.encoder
    stamp = (row or {}).get("chosen_at") if chosen is not None else None
    with _lock:
        cached = _indexes.get((target, full))
        if cached and cached[0][:2] == (count, stamp) and (cached[0][2] or not encoder):
            return cached[1]
        changes = store.changes_for(full)
        options: dict[str, Any] = {"target": target}
        if chosen is not None:
            options["ranker"] = chosen.ranker_config()
        if encoder and settings is not None:
            options["semantic_index"] = primed_semantic_index(
                store, settings, full=full, changes=changes, target=target
            )
        index = ReviewerIndex.rebuild(
            [Change.from_dict(indexed_text(c)) for c in changes], learn_window=2000, **options
        )
        _indexes[(target, full)] = ((len(changes), stamp, encoder), index)
        return index


def change_of(stored: Mapping[str, Any]) -> Change:
    """A stored change as the rankers read it (fixed issues' titles in its body)."""
    return Change.from_dict(indexed_text(stored))


def stored_change_vectors(
    store: Store, full: str, *, tag: str, changes: Sequence[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """``encoder_text(change) → vector`` of the stored changes the semantic index holds
    made by encoder ``tag`` from that very text (the matching feature embeds them)."""
    from workers.semantic import item_key, text_digest

    texts = {item_key("pull_request", int(c["id"])): encoder_text(change_of(c)) for c in changes}
    stored = store.vectors_for(full, tag, texts)
    return {
        texts[key]: np.frombuffer(vector, dtype=np.float32)
        for key, (digest, vector) in stored.items()
        if digest == text_digest(texts[key])
    }


#: ``(repo, encoder tag) → {issue-view text → unit vector}``: what the people ranker's
#: encoder feature compares an issue with, embedded once per process.
_views: dict[tuple[str, str], dict[str, np.ndarray]] = {}
_views_lock = threading.Lock()


def issue_view_vectors(
    encoder: RepoEncoder, full: str, changes: Sequence[Mapping[str, Any]]
) -> dict[str, np.ndarray]:
    """``encoder_text(issue_view(change)) → vector`` of the stored changes (the text a
    change has as an issue about it), embedded by ``encoder`` where not seen before."""
    from workers.semantic import embed_shared, unit_rows

    texts = list(dict.fromkeys(encoder_text(issue_view(change_of(c))) for c in changes))
    with _views_lock:
        known = dict(_views.get((full, encoder.tag), {}))
    todo = [text for text in texts if text not in known]
    if todo:
        known.update(zip(todo, unit_rows(embed_shared(encoder, todo)), strict=True))
        with _views_lock:
            _views[(full, encoder.tag)] = known
    return {text: known[text] for text in texts}


def primed_semantic_index(
    store: Store,
    settings: Settings,
    *,
    full: str,
    changes: Sequence[Mapping[str, Any]],
    target: Target,
) -> EmbeddingTextIndex:
    """The encoder feature's index: the repository's encoder, primed with the vectors the
    semantic index stored (and, for people, the changes' issue views)."""
    from workers.semantic import repo_encoder

    encoder = repo_encoder(settings, full)
    index = EmbeddingTextIndex(encoder.encoder)
    vectors = stored_change_vectors(store, full, tag=encoder.tag, changes=changes)
    if target == "authors":
        vectors.update(issue_view_vectors(encoder, full, changes))
    if vectors:
        index.prime_vectors(list(vectors), np.stack(list(vectors.values())))
    return index
