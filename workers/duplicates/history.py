"""What the duplicates read from GitHub: the repository's issues, which of the closed
ones people marked as duplicates (and of what), and maintainers' 👎 on the bot's
duplicates comments.

Every call is a REST operation the fake GitHub serves too: the issues list (``state=all``,
newest first, or updated since the last scan), an issue's comments and events, a
comment's reactions, a collaborator's permission. Comments are read for closed issues
with a hint (the ``duplicate`` or ``not planned`` close reason, a duplicate label) and
then for other closed issues with comments, at most ``MAX_READS`` per run, newest first;
events only for those with a hint. (GitHub's repository-wide lists of issue events and
comments would find every ``marked_as_duplicate`` in a few pages; the fake GitHub does
not serve them yet.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.accounts import is_bot_user
from workers.duplicates.decide import MARKER, duplicate_of, hinted, to_read
from workers.flow import RepoTask, has_marker

#: Issues read at most (newest first): the candidates a new issue is compared with.
MAX_ISSUES = 5000
#: Closed issues whose comments and events are read at most per run.
MAX_READS = 500
#: Suggestions whose comment's reactions are still read (days after it was posted).
REACTION_DAYS = 90
#: Who may correct the bot with a reaction: people who may push.
MAINTAINERS = frozenset({"admin", "maintain", "write"})


def parse_time(value: Any) -> datetime | None:
    """A GitHub timestamp as an aware datetime (None: absent)."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def issue_row(issue: Mapping[str, Any]) -> dict[str, Any]:
    """An issue as ``duplicate_issues`` stores it."""
    return {
        "number": int(issue["number"]),
        "title": str(issue.get("title") or ""),
        "body": str(issue.get("body") or "")[:20_000],
        "state": str(issue.get("state") or "open"),
        "created_at": parse_time(issue.get("created_at")) or datetime.now(UTC),
        "closed_at": parse_time(issue.get("closed_at")),
    }


async def list_issues(
    task: RepoTask, *, since: datetime | None = None, limit: int = MAX_ISSUES
) -> list[dict[str, Any]]:
    """The repository's issues (not pull requests), newest first; with ``since``, those
    updated after it."""
    params: dict[str, Any] = {
        "owner": task.owner,
        "repo": task.repo,
        "state": "all",
        "sort": "updated" if since else "created",
        "direction": "desc",
        "per_page": 100,
    }
    url = "/repos/{owner}/{repo}/issues{?state,sort,direction,per_page}"
    if since is not None:
        params["since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        url = "/repos/{owner}/{repo}/issues{?state,sort,direction,since,per_page}"
    found: list[dict[str, Any]] = []
    async for issue in task.gh.getiter(url, params):
        if "pull_request" not in issue:
            found.append(issue)
        if len(found) >= limit:
            break
    return found


async def _all(task: RepoTask, what: str, number: int) -> list[dict[str, Any]]:
    url = "/repos/{owner}/{repo}/issues/{issue_number}/" + what + "{?per_page}"
    ids: dict[str, Any] = {
        "owner": task.owner,
        "repo": task.repo,
        "issue_number": number,
        "per_page": 100,
    }
    return [item async for item in task.gh.getiter(url, ids)]


async def find_pairs(
    task: RepoTask,
    issues: Sequence[Mapping[str, Any]],
    *,
    known: set[int],
    labels: Sequence[str],
) -> list[tuple[int, int, str]]:
    """``(duplicate, earlier issue, how)`` of the closed ``issues`` people marked as
    duplicates (``decide.duplicate_of``), those in ``known`` left out."""
    pairs: list[tuple[int, int, str]] = []
    for issue in to_read(issues, labels=labels, known=known, limit=MAX_READS):
        number = int(issue["number"])
        comments = await _all(task, "comments", number) if issue.get("comments") else []
        events = await _all(task, "events", number) if hinted(issue, labels) else []
        found = duplicate_of(issue, comments, events, full=task.full_name, labels=labels)
        if found is not None:
            pairs.append((number, found[0], found[1]))
    return pairs


async def bot_comment_id(task: RepoTask, number: int) -> int | None:
    """The id of the bot's duplicates comment on issue ``number`` (None: none)."""
    found = has_marker(await task.own_comments(number), MARKER)
    return int(found["id"]) if found else None


async def may_push(task: RepoTask, login: str, cache: dict[str, bool]) -> bool:
    """Whether ``login`` may push to the repository (a maintainer's reaction counts)."""
    if login not in cache:
        found = await task.gh.getitem(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            {"owner": task.owner, "repo": task.repo, "username": login},
        )
        cache[login] = str(found.get("permission") or "") in MAINTAINERS
    return cache[login]


async def thumbs_down(
    task: RepoTask, suggestions: Sequence[Mapping[str, Any]], *, now: datetime
) -> list[tuple[int, str]]:
    """``(issue, maintainer)`` for each live comment suggestion a maintainer gave a 👎."""
    corrections: list[tuple[int, str]] = []
    cache: dict[str, bool] = {}
    for row in suggestions:
        recent = (now - row["created_at"]).days <= REACTION_DAYS
        if row["state"] != "live" or row["how"] != "comment" or row["verdict"] or not recent:
            continue
        comment = await bot_comment_id(task, int(row["number"]))
        if comment is None:
            continue
        async for reaction in task.gh.getiter(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions{?content,per_page}",
            {"owner": task.owner, "repo": task.repo, "comment_id": comment, "content": "-1"},
        ):
            user = reaction.get("user") or {}
            login = str(user.get("login") or "")
            if login and not is_bot_user(user) and await may_push(task, login, cache):
                corrections.append((int(row["number"]), login))
                break
    return corrections
