"""Issues and pull requests in the fake's GraphQL: ``repository.issues``,
``repository.pullRequests``, ``repository.issue(number:)``, ``pullRequest(number:)``,
their labels, the label events of their timeline and a pull request's changed files
(what a history backfill reads a hundred items at a time); and the ordering and paging
of ``repository.discussions``.

The item connections (discussions too) page with cursors that carry the item's sort
key, as GitHub's do:
an item updated during a walk ordered by ``UPDATED_AT`` moves behind the cursor and is
read again, never skipped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from fakegithub.state import Discussion, Issue, IssueEvent, PullFile, Repo, iso

if TYPE_CHECKING:
    from fakegithub.graphql_api import GraphObject, Resolvers

#: Timeline item types the fake records (the subset's union members).
TIMELINE_TYPES = {"labeled": "LABELED_EVENT", "unlabeled": "UNLABELED_EVENT"}
_TYPENAMES = {"LABELED_EVENT": "LabeledEvent", "UNLABELED_EVENT": "UnlabeledEvent"}
_CURSOR = "cursor:v2:"
T = TypeVar("T")


def item_connection(
    resolvers: Resolvers, repo: Repo, *, pulls: bool, args: dict[str, Any]
) -> GraphObject:
    """``repository.issues`` (``pulls`` False) or ``repository.pullRequests``: filtered
    by ``states``, ``labels`` and (issues) ``filterBy``, ordered by ``orderBy``
    (creation, oldest first, by default)."""
    from fakegithub.graphql_api import GitHubGraphQLError, check_page

    items = [i for i in repo.issues.values() if (i.pull is not None) == pulls]
    items = [i for i in items if _wanted(i, args)]
    order = args.get("orderBy") or {"field": "CREATED_AT", "direction": "ASC"}
    descending = order["direction"] == "DESC"

    def key(item: Issue) -> tuple[float, int]:
        return _sort_key(item, order["field"])

    items.sort(key=key, reverse=descending)
    page = {k: args.get(k) for k in ("first", "after", "last", "before")}
    check_page("pullRequests" if pulls else "issues", page)
    try:
        window, has_next, has_previous = keyed_slice(items, key, descending=descending, **page)
    except ValueError as exc:
        raise GitHubGraphQLError(str(exc), "INVALID_CURSOR_ARGUMENTS") from exc
    edges = [
        {"cursor": encode_key(key(i)), "node": item_object(resolvers, repo, i)} for i in window
    ]
    return _connection(edges, len(items), has_next, has_previous)


def discussion_connection(
    items: list[Discussion],
    *,
    order: dict[str, str] | None,
    page: dict[str, Any],
    make: Callable[[Discussion], GraphObject],
) -> GraphObject:
    """``repository.discussions`` over ``items`` (already filtered), ordered by
    ``orderBy`` (GitHub's default: most recently updated first), paged by sort key."""
    from fakegithub.graphql_api import GitHubGraphQLError, check_page

    order = order or {"field": "UPDATED_AT", "direction": "DESC"}
    descending = order["direction"] == "DESC"

    def key(item: Discussion) -> tuple[float, int]:
        moment = item.created_at
        if order["field"] == "UPDATED_AT":
            moment = item.updated_at or item.created_at
        return moment.timestamp(), item.id

    items = sorted(items, key=key, reverse=descending)
    bounds = {k: page.get(k) for k in ("first", "after", "last", "before")}
    check_page("discussions", bounds)
    try:
        window, has_next, has_previous = keyed_slice(items, key, descending=descending, **bounds)
    except ValueError as exc:
        raise GitHubGraphQLError(str(exc), "INVALID_CURSOR_ARGUMENTS") from exc
    edges = [{"cursor": encode_key(key(d)), "node": make(d)} for d in window]
    return _connection(edges, len(items), has_next, has_previous)


def item_by_number(
    resolvers: Resolvers, repo: Repo, number: int, *, pull: bool
) -> GraphObject | None:
    """``repository.issue(number:)`` or ``pullRequest(number:)`` (None: no such item)."""
    from fakegithub.graphql_api import GitHubGraphQLError

    found = repo.issues.get(number)
    if found is None or (found.pull is not None) != pull:
        kind = "PullRequest" if pull else "Issue"
        raise GitHubGraphQLError(f"Could not resolve to a {kind} with the number of {number}.")
    return item_object(resolvers, repo, found)


def item_object(resolvers: Resolvers, repo: Repo, item: Issue) -> GraphObject:
    """An ``Issue`` or a ``PullRequest``."""
    from fakegithub.graphql_api import connection

    labels = [found for name in item.labels if (found := repo.label(name))]
    made: GraphObject = {
        "__typename": "PullRequest" if item.pull else "Issue",
        "id": item.pull_node_id if item.pull else item.node_id,
        "number": item.number,
        "title": item.title,
        "body": item.body or "",
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.updated_at),
        "closedAt": iso(item.closed_at),
        "labels": lambda orderBy=None, **page: resolvers.labels_connection(
            repo, labels, None, orderBy, page
        ),
        "timelineItems": lambda itemTypes=None, since=None, skip=None, **page: connection(
            "timelineItems",
            timeline(item, itemTypes, since, skip),
            lambda event: event_object(resolvers, repo, event),
            page,
        ),
    }
    if item.pull is not None:
        files = item.pull.files
        made["files"] = lambda **page: connection("files", files, file_object, page)
    return made


def timeline(
    item: Issue, types: Sequence[str] | None, since: str | None, skip: int | None
) -> list[IssueEvent]:
    """The item's events of ``types`` (every type the fake records when None), at or
    after ``since``, less the first ``skip``."""
    wanted = set(types) if types else set(TIMELINE_TYPES.values())
    events = [e for e in item.events if TIMELINE_TYPES.get(e.event) in wanted]
    if since:
        events = [e for e in events if (iso(e.created_at) or "") >= since]
    return events[skip or 0 :]


def event_object(resolvers: Resolvers, repo: Repo, event: IssueEvent) -> GraphObject:
    """A ``LabeledEvent`` or ``UnlabeledEvent`` (the label as it is now, or as the event
    names it when it was deleted since)."""
    name = event.label or ""
    found = repo.label(name)
    label = (
        resolvers.label(repo, found)
        if found
        else {
            "__typename": "Label",
            "id": f"LA_deleted_{event.id}",
            "name": name,
            "color": event.label_color or "ededed",
            "description": None,
            "url": f"{resolvers.fake.urls.web}/{repo.full_name}/labels/{name}",
        }
    )
    return {
        "__typename": _TYPENAMES[TIMELINE_TYPES[event.event]],
        "id": event.node_id,
        "actor": resolvers.user(event.actor) if event.actor else None,
        "createdAt": iso(event.created_at),
        "label": label,
    }


def file_object(changed: PullFile) -> GraphObject:
    """A ``PullRequestChangedFile``."""
    return {
        "__typename": "PullRequestChangedFile",
        "path": changed.filename,
        "additions": changed.additions,
        "deletions": changed.deletions,
    }


# ------------------------------------------------------------------ filters


def _wanted(item: Issue, args: dict[str, Any]) -> bool:
    states = list(args.get("states") or [])
    names = [n.lower() for n in args.get("labels") or []]
    filters = args.get("filterBy") or {}
    states += list(filters.get("states") or [])
    names += [n.lower() for n in filters.get("labels") or []]
    if states and _state(item) not in states:
        return False
    if names and not {n.lower() for n in item.labels} & set(names):
        return False
    since = filters.get("since")
    if since and (iso(item.updated_at) or "") < str(since):
        return False
    created_by = filters.get("createdBy")
    return not created_by or item.user.lower() == str(created_by).lower()


def _state(item: Issue) -> str:
    if item.pull is not None and item.pull.merged:
        return "MERGED"
    return "CLOSED" if item.state == "closed" else "OPEN"


def _sort_key(item: Issue, field: str) -> tuple[float, int]:
    if field == "COMMENTS":
        return float(len(item.comments)), item.id
    moment: datetime = item.updated_at if field == "UPDATED_AT" else item.created_at
    return moment.timestamp(), item.id


# ------------------------------------------------------------- keyed paging


def encode_key(key: tuple[float, int]) -> str:
    """An opaque cursor that carries an item's sort key."""
    return base64.b64encode(f"{_CURSOR}{json.dumps(list(key))}".encode()).decode()


def decode_key(cursor: str) -> tuple[float, int]:
    """The sort key inside a cursor (``ValueError`` when it is not one of these)."""
    try:
        text = base64.b64decode(cursor).decode()
        if not text.startswith(_CURSOR):
            raise ValueError(cursor)
        value, ident = json.loads(text.removeprefix(_CURSOR))
        return float(value), int(ident)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"`{cursor}` does not appear to be a valid cursor.") from exc


def keyed_slice(
    items: Sequence[T],
    key: Callable[[T], tuple[float, int]],
    *,
    descending: bool,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> tuple[list[T], bool, bool]:
    """One page of sorted ``items`` by cursor keys (Relay semantics)."""

    def beyond(item: T, cursor: str) -> bool:
        return key(item) < decode_key(cursor) if descending else key(item) > decode_key(cursor)

    def ahead(item: T, cursor: str) -> bool:
        return key(item) > decode_key(cursor) if descending else key(item) < decode_key(cursor)

    start = next((n for n, i in enumerate(items) if beyond(i, after)), len(items)) if after else 0
    end = len(items)
    if before:
        end = next((n for n, i in enumerate(items) if not ahead(i, before)), len(items))
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    return list(items[start:end]), end < len(items), start > 0


def _connection(
    edges: list[dict[str, Any]], total: int, has_next: bool, has_previous: bool
) -> GraphObject:
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "totalCount": total,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
