"""A repository's collected history, read through GitHub's GraphQL API into the database.

:func:`refresh_history` walks the repository's issues, then its pull requests, a hundred
per query, each with its labels, the label events of its timeline (who applied each
label, and when) and a pull request's changed paths: about ten queries per 1,000 items
where the REST collector made one request per labelled item. Each item becomes the
record the REST collector writes (:func:`workers.records.graphql_record`: people's
labels only, ``labelled_at``, ``closed_at``, ``files``) in ``history_items``
(:mod:`core.stores.history`); GraphQL's ``rateLimit`` tells the budget what each query
cost.

**Resuming.** A walk goes through the items oldest update first and keeps its cursor in
``history_walks``, written in the same transaction as the page it follows: stopped
anywhere (a killed worker, a rate limit longer than a task waits), the next run goes on
from the last page stored and never stores an item twice. A finished walk remembers the
newest ``updatedAt`` it read; the next run reads only items updated since (a new item, a
label people changed, a closed issue), issues through GitHub's ``since`` filter, pull
requests newest first until one is older. An item that more than a hundred label events
or changed files do not fit in is completed with follow-up queries of its own.

**Discussions** are walked the same way (a hundred per query, newest first since a
mark, as GitHub has no ``since`` filter for them), with their labels, category, answer
state, author and times. GitHub's GraphQL API gives a discussion no timeline, so who
applied its labels cannot be read: a discussion's label is taken as people's unless
Steward's own audit log says Steward applied it there (a live ``triage``/``label``
action; :func:`steward_applied`). Such records carry ``labelled_by: "inferred"``
(:data:`INFERRED`) and the labels set aside in ``steward_labels``, so whatever measures
on them can tell that "who" was inferred (:func:`labellers_inferred`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gidgethub.abc import GitHubAPI

from workers.github import GitHubUnavailable
from workers.records import graphql_events, graphql_record, parse_repo

if TYPE_CHECKING:
    from core.store import Store

log = logging.getLogger(__name__)

#: Items per query (GitHub's maximum for a connection).
PAGE = 100
#: The smallest page a query is split down to when GitHub keeps failing on it.
MIN_PAGE = 10
#: What is collected, in order.
KINDS = ("issue", "pull_request", "discussion")
#: ``labelled_by`` of a record whose labellers are inferred (a discussion's).
INFERRED = "inferred"

_EVENTS = """
  pageInfo { hasNextPage endCursor }
  nodes {
    __typename
    ... on LabeledEvent { actor { login __typename } createdAt label { name } }
    ... on UnlabeledEvent { actor { login __typename } createdAt label { name } }
  }
"""
_ITEM = (
    """
  number title body createdAt updatedAt closedAt
  labels(first: 100) { nodes { name } }
  timelineItems(first: 100, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {"""
    + _EVENTS
    + "}"
)
_FILES = "files(first: 100, after: $files) { nodes { path } pageInfo { hasNextPage endCursor } }"

ISSUES = f"""
query($owner: String!, $name: String!, $first: Int!, $after: String, $since: DateTime) {{
  rateLimit {{ cost remaining resetAt }}
  repository(owner: $owner, name: $name) {{
    items: issues(first: $first, after: $after, filterBy: {{since: $since}},
                  orderBy: {{field: UPDATED_AT, direction: ASC}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {_ITEM} }}
    }}
  }}
}}
"""

PULLS = f"""
query($owner: String!, $name: String!, $first: Int!, $after: String,
      $direction: OrderDirection!, $files: String) {{
  rateLimit {{ cost remaining resetAt }}
  repository(owner: $owner, name: $name) {{
    items: pullRequests(first: $first, after: $after,
                        orderBy: {{field: UPDATED_AT, direction: $direction}}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {_ITEM} {_FILES} }}
    }}
  }}
}}
"""

DISCUSSIONS = """
query($owner: String!, $name: String!, $first: Int!, $after: String,
      $direction: OrderDirection!) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    items: discussions(first: $first, after: $after,
                       orderBy: {field: UPDATED_AT, direction: $direction}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        number title body createdAt updatedAt closedAt isAnswered answerChosenAt
        author { login }
        category { name }
        labels(first: 100) { nodes { name } }
      }
    }
  }
}
"""
QUERIES = {"issue": ISSUES, "pull_request": PULLS, "discussion": DISCUSSIONS}

MORE = """
query($owner: String!, $name: String!, $number: Int!, $events: String{declare}) {{
  rateLimit {{ cost remaining resetAt }}
  repository(owner: $owner, name: $name) {{
    item: {field}(number: $number) {{
      timelineItems(first: 100, after: $events, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {{
        {events}
      }}
      {files}
    }}
  }}
}}
"""
MORE_ISSUE = MORE.format(field="issue", declare="", events=_EVENTS, files="")
MORE_PULL = MORE.format(
    field="pullRequest", declare=", $files: String", events=_EVENTS, files=_FILES
)


@dataclass(frozen=True)
class Walk:
    """Where the walk of one kind of item stands (``history_walks.state``)."""

    #: The cursor after the last page stored (None: the walk starts at the top).
    cursor: str | None = None
    #: This walk reads items updated at or after it (None: every item).
    since: str | None = None
    #: The newest ``updatedAt`` this walk read.
    high: str | None = None
    #: Where the next walk starts: ``high`` of the last finished walk.
    mark: str | None = None
    #: ``ASC`` (oldest update first) or ``DESC`` (pull requests since a mark).
    direction: str = "ASC"
    running: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Walk:
        """The stored state (a fresh walk when there is none)."""
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def start(self, kind: str) -> Walk:
        """A new walk from the last one's mark: everything at first; then issues
        updated since (GitHub filters them), pull requests and discussions newest first."""
        descending = kind != "issue" and self.mark is not None
        return Walk(
            since=self.mark,
            high=self.mark,
            mark=self.mark,
            direction="DESC" if descending else "ASC",
            running=True,
        )

    def wanted(self, node: Mapping[str, Any]) -> bool:
        """Whether an item belongs to this walk (one older than ``since`` ends a
        newest-first walk)."""
        return self.since is None or str(node.get("updatedAt") or "") >= self.since

    def after(
        self, info: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]], *, end: bool
    ) -> Walk:
        """The state once a page (of which ``nodes`` belong to the walk) is stored."""
        seen = [str(n.get("updatedAt") or "") for n in nodes]
        high = max([self.high or "", *seen]) or None
        if end or not info.get("hasNextPage"):
            return Walk(mark=high or self.mark, direction=self.direction)
        return replace(self, cursor=info.get("endCursor"), high=high)


@dataclass(frozen=True)
class HistoryResult:
    """What one refresh did."""

    written: int
    new: int
    queries: int
    points: int
    complete: bool = True


@dataclass
class Harvest:
    """One refresh of one repository: the client, the store and what it spent."""

    gh: GitHubAPI
    store: Store
    repo: str
    endpoint: str
    extra_bots: tuple[str, ...] = ()
    say: Callable[[str], None] = log.info
    size: int = PAGE
    new: int = 0
    queries: int = 0
    points: int = 0
    owner_and_name: tuple[str, str] = field(default=("", ""))
    #: Per discussion, the labels Steward's audit log says it applied (read once).
    steward: dict[int, set[str]] | None = None

    def __post_init__(self) -> None:
        self.owner_and_name = parse_repo(self.repo)

    def steward_labels(self, number: int) -> set[str]:
        """The labels Steward applied to item ``number`` (its audit log, read once)."""
        if self.steward is None:
            self.steward = steward_applied(self.store.actions_for(self.repo))
        return self.steward.get(number, set())

    async def query(self, text: str, **variables: Any) -> Any:
        """One GraphQL query about the repository; its cost is counted."""
        owner, name = self.owner_and_name
        data = await self.gh.graphql(
            text, endpoint=self.endpoint, owner=owner, name=name, **variables
        )
        self.queries += 1
        self.points += int((data.get("rateLimit") or {}).get("cost") or 0)
        return data

    async def page(self, kind: str, walk: Walk) -> dict[str, Any]:
        """The walk's next page, split in halves while GitHub keeps failing on it."""
        while True:
            variables: dict[str, Any] = {"first": self.size, "after": walk.cursor}
            if kind == "issue":
                variables["since"] = walk.since
            else:
                variables["direction"] = walk.direction
            try:
                data = await self.query(QUERIES[kind], **variables)
            except GitHubUnavailable:
                if self.size <= MIN_PAGE:
                    raise
                self.size = max(MIN_PAGE, self.size // 2)
                self.say(f"{self.repo}: GitHub kept failing; {self.size} items per query now")
                continue
            return dict(data["repository"]["items"])

    async def record(self, kind: str, node: Mapping[str, Any]) -> dict[str, Any]:
        """The item's record, its events and files completed when a page cut them."""
        if kind == "discussion":
            number = int(node["number"])
            return discussion_record(self.repo, node, steward=self.steward_labels(number))
        events = list(node["timelineItems"]["nodes"] or [])
        files = list((node.get("files") or {}).get("nodes") or [])
        more_events = node["timelineItems"]["pageInfo"]
        more_files = (node.get("files") or {}).get("pageInfo") or {}
        labelled = bool((node.get("labels") or {}).get("nodes"))
        while (labelled and more_events.get("hasNextPage")) or more_files.get("hasNextPage"):
            found = await self.more(
                kind, node, events=more_events, files=more_files, labelled=labelled
            )
            more_events, more_files = found["events"], found["files"]
            events += found["event_nodes"]
            files += found["file_nodes"]
        paths = [str(f["path"]) for f in files if f]
        return graphql_record(
            self.repo,
            node,
            kind=kind,
            events=graphql_events(events),
            files=paths,
            extra_bots=self.extra_bots,
        )

    async def more(
        self,
        kind: str,
        node: Mapping[str, Any],
        *,
        events: Mapping[str, Any],
        files: Mapping[str, Any],
        labelled: bool,
    ) -> dict[str, Any]:
        """The next label events and changed files of one item."""
        want_events = labelled and events.get("hasNextPage")
        variables: dict[str, Any] = {
            "number": int(node["number"]),
            "events": events.get("endCursor"),
        }
        if kind == "pull_request":
            variables["files"] = files.get("endCursor") if files.get("hasNextPage") else None
        data = await self.query(MORE_ISSUE if kind == "issue" else MORE_PULL, **variables)
        item = data["repository"]["item"]
        timeline = item["timelineItems"] if want_events else {"pageInfo": {}, "nodes": []}
        changed = item.get("files") if files.get("hasNextPage") else None
        changed = changed or {"pageInfo": {}, "nodes": []}
        return {
            "events": timeline["pageInfo"],
            "event_nodes": list(timeline["nodes"] or []),
            "files": changed["pageInfo"],
            "file_nodes": list(changed["nodes"] or []),
        }

    async def walk(self, kind: str) -> None:
        """Walk one kind of item to the end, a page (and its state) at a time."""
        walk = Walk.from_json(self.store.history_state(self.repo, kind))
        if not walk.running:
            walk = walk.start(kind)
        elif walk.cursor:
            self.say(f"{self.repo}: resuming the {kind.replace('_', ' ')} walk")
        while walk.running:
            page = await self.page(kind, walk)
            nodes = [n for n in page["nodes"] or [] if n]
            fresh = [n for n in nodes if walk.wanted(n)]
            records = [await self.record(kind, n) for n in fresh]
            walk = walk.after(page["pageInfo"], fresh, end=len(fresh) < len(nodes))
            updated = {int(n["number"]): str(n.get("updatedAt") or "") for n in fresh}
            self.new += self.store.save_history_page(
                self.repo, kind, records, state=asdict(walk), updated=updated
            )


def steward_applied(actions: Iterable[Mapping[str, Any]]) -> dict[int, set[str]]:
    """Per item number, the labels Steward applied, from its audit log: live ``triage``
    ``label`` actions (a shadow one applied nothing; a ``/label`` command applies what
    the person who wrote it chose, so it stays theirs)."""
    applied: dict[int, set[str]] = {}
    for row in actions:
        if (row.get("feature"), row.get("action"), row.get("mode")) != ("triage", "label", "live"):
            continue
        label = (row.get("detail") or {}).get("label")
        if row.get("number") is not None and label:
            applied.setdefault(int(row["number"]), set()).add(str(label))
    return applied


def discussion_record(
    repo: str, node: Mapping[str, Any], *, steward: Iterable[str] = ()
) -> dict[str, Any]:
    """The record of a GraphQL ``Discussion``: its labels less those Steward applied
    (taken as people's, ``labelled_by: "inferred"``: GitHub keeps no timeline to say who
    applied them, and so no ``labelled_at``), category, answer state, author, times."""
    names = [str(n["name"]) for n in (node.get("labels") or {}).get("nodes") or [] if n]
    mine = set(steward)
    return {
        "repo": repo,
        "number": int(node["number"]),
        "kind": "discussion",
        "title": node.get("title") or "",
        "body": node.get("body") or "",
        "labels": [name for name in names if name not in mine],
        "created_at": node.get("createdAt") or "",
        "closed_at": node.get("closedAt") or None,
        "labelled_at": {},
        "labelled_by": INFERRED,
        "steward_labels": sorted(mine & set(names)),
        "category": str((node.get("category") or {}).get("name") or ""),
        "answered": bool(node.get("isAnswered")),
        "answer_chosen_at": node.get("answerChosenAt") or None,
        "author": str((node.get("author") or {}).get("login") or ""),
    }


def labellers_inferred(record: Mapping[str, Any]) -> bool:
    """Whether a record's labels are people's by inference (no timeline said who)."""
    return record.get("labelled_by") == INFERRED


async def refresh_history(
    gh: GitHubAPI,
    store: Store,
    repo: str,
    *,
    endpoint: str,
    extra_bots: Iterable[str] = (),
    say: Callable[[str], None] | None = None,
    page: int = PAGE,
) -> HistoryResult:
    """Bring the repository's collected history in the database up to date (see the
    module's docstring); ``endpoint`` is the deployment's GraphQL URL, ``page`` the
    items per query."""
    harvest = Harvest(
        gh, store, repo, endpoint, extra_bots=tuple(extra_bots), say=say or log.info, size=page
    )
    for kind in KINDS:
        await harvest.walk(kind)
    written = store.history_count(repo)
    return HistoryResult(written, harvest.new, harvest.queries, harvest.points)
