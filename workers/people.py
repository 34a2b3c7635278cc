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
from collections.abc import Sequence
from typing import Any

from core.markdown import mention, spans
from core.store import Store
from models.reviewers import (
    Change,
    Constraints,
    Load,
    ReviewerIndex,
    Suggestion,
    rank_people_for_issue,
)
from models.reviewers.constraints import bot_load, workload
from models.reviewers.index import Target
from models.reviewers.requests import indexed_text, review_requests, writers
from workers.flow import RepoTask
from workers.repo_config import fetch_file

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
    return bot_load(workload(requests, time.time()))


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
    index = reviewer_index(task.store, task.full_name)
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
    index = people_index(task.store, task.full_name)
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


_indexes: dict[tuple[str, str], tuple[int, ReviewerIndex]] = {}


def reviewer_index(store: Store, full: str) -> ReviewerIndex:
    """The repository's reviewer index, rebuilt from the database only when it has new
    changes."""
    return _cached_index(store, full, target="reviewers")


def people_index(store: Store, full: str) -> ReviewerIndex:
    """The index that ranks who will resolve an issue: past authors and reviewers, trained
    on each merged change's issue view with its author as the answer."""
    return _cached_index(store, full, target="authors")


def _cached_index(store: Store, full: str, *, target: Target) -> ReviewerIndex:
    # Without an encoder feature: in the replay of golang-net it cost reviewers 0.008 MRR
    # and bought people-for-issues 0.001 (README, *Evaluating reviewer suggestions*).
    count = store.change_count(full)
    with _lock:
        cached = _indexes.get((target, full))
        if cached and cached[0] == count:
            return cached[1]
        changes = store.changes_for(full)
        index = ReviewerIndex.rebuild(
            [Change.from_dict(indexed_text(c)) for c in changes], learn_window=2000, target=target
        )
        _indexes[(target, full)] = (len(changes), index)
        return index
