"""``POST /graphql``: real GraphQL execution (graphql-core) against the committed
subset of GitHub's schema, with resolvers over the fake's state.

Objects handed to graphql-core are dicts; a value that is callable is called with
the field's arguments, so connections and lookups stay lazy. Errors carry GitHub's
``type`` (``NOT_FOUND``, ``FORBIDDEN``, …) at the top level, as GitHub sends them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema, build_schema, graphql

from fakegithub import search
from fakegithub.graphql_items import discussion_connection, item_by_number, item_connection
from fakegithub.paging import encode_cursor, slice_connection
from fakegithub.state import (
    DEFAULT_DISCUSSION_CATEGORIES,
    Discussion,
    DiscussionComment,
    Installation,
    Label,
    Repo,
    iso,
)

if TYPE_CHECKING:
    from fakegithub.fake import FakeGitHub

T = TypeVar("T")
GraphObject = dict[str, Any]

#: GitHub's maximum page size for connections.
MAX_PAGE = 100
#: GraphQL's ``ReactionContent`` values and REST's names for them.
REACTION_CONTENT = {
    "THUMBS_UP": "+1",
    "THUMBS_DOWN": "-1",
    "LAUGH": "laugh",
    "HOORAY": "hooray",
    "CONFUSED": "confused",
    "HEART": "heart",
    "ROCKET": "rocket",
    "EYES": "eyes",
}


class GitHubGraphQLError(GraphQLError):
    """A resolver error with GitHub's top-level ``type``."""

    def __init__(self, message: str, error_type: str = "NOT_FOUND") -> None:
        super().__init__(message, extensions={"type": error_type})


@functools.cache
def load_schema() -> GraphQLSchema:
    """The executable schema built from ``data/graphql-subset.graphql``."""
    sdl = (resources.files("fakegithub") / "data" / "graphql-subset.graphql").read_text()
    return build_schema(sdl)


def _resolve_field(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    value = source.get(info.field_name) if isinstance(source, dict) else None
    return value(**args) if callable(value) else value


def _resolve_type(value: Any, info: GraphQLResolveInfo[Any], abstract_type: Any) -> str:
    return str(value["__typename"])


def _format_error(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    error_type = (error.extensions or {}).get("type")
    if error_type:
        formatted["type"] = error_type
        formatted.pop("extensions", None)
    return formatted


async def execute_graphql(
    fake: FakeGitHub,
    installation: Installation,
    body: Any,
    *,
    rate: dict[str, Any] | None = None,
) -> Any:
    """Execute a GraphQL request body; returns the JSON GitHub would answer.

    ``rate`` is what ``rateLimit`` answers (the query's cost and the installation's
    GraphQL window after it).
    """
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {
            "errors": [{"message": "A query attribute must be specified and must be a string."}]
        }
    result = await graphql(
        load_schema(),
        body["query"],
        root_value=Resolvers(fake, installation, rate).root(),
        variable_values=body.get("variables") or None,
        operation_name=body.get("operationName"),
        field_resolver=_resolve_field,
        type_resolver=_resolve_type,
    )
    answer: dict[str, Any] = {}
    if result.data is not None:
        answer["data"] = result.data
    if result.errors:
        answer["errors"] = [_format_error(e) for e in result.errors]
    return answer


class Resolvers:
    """Builds GraphQL objects over one fake for one installation."""

    def __init__(
        self, fake: FakeGitHub, installation: Installation, rate: dict[str, Any] | None = None
    ) -> None:
        self.fake = fake
        self.installation = installation
        self.rate = rate

    def root(self) -> GraphObject:
        """The root value: Query and Mutation fields together (names do not clash)."""
        return {
            "node": lambda id: self.node(id),
            "nodes": lambda ids: [self.find_node(i) for i in ids],
            "rateLimit": lambda dryRun=False: self.rate,
            "repository": lambda owner, name, **_: self.repository(owner, name),
            "search": self.search,
            "user": lambda login: self.user(login) if self.fake.find_user(login) else None,
            "viewer": lambda: self.user(self.fake.bot_login(self.installation)),
            "addDiscussionComment": self.add_discussion_comment,
            "addLabelsToLabelable": lambda input: self.change_labels(input, add=True),
            "addReaction": self.add_reaction,
            "createDiscussion": self.create_discussion,
            "removeLabelsFromLabelable": lambda input: self.change_labels(input, add=False),
            "updateDiscussion": self.update_discussion,
        }

    # ------------------------------------------------------------- lookups

    def visible_repos(self) -> list[Repo]:
        """Repositories this installation's token may see."""
        return [r for r in self.fake.repos.values() if self.installation.covers(r.full_name)]

    def find_node(self, node_id: str) -> GraphObject | None:
        """Any object by its global id, or None."""
        for repo in self.visible_repos():
            if repo.node_id == node_id:
                return self.repo_object(repo)
            for label in repo.labels.values():
                if label.node_id == node_id:
                    return self.label(repo, label)
            for item in repo.discussions.values():
                if item.node_id == node_id:
                    return self.discussion(repo, item)
                for found in item.comments:
                    if found.node_id == node_id:
                        return self.comment(repo, item, found)
        user = next((u for u in self.fake.users.values() if u.node_id == node_id), None)
        return self.user(user.login) if user else None

    def node(self, node_id: str) -> GraphObject:
        """``node(id:)``: NOT_FOUND like GitHub when nothing has that id."""
        found = self.find_node(node_id)
        if found is None:
            raise GitHubGraphQLError(
                f"Could not resolve to a node with the global id of '{node_id}'"
            )
        return found

    def repository(self, owner: str, name: str) -> GraphObject:
        """``repository(owner:, name:)``."""
        repo = self.fake.find_repo(owner, name)
        if repo is None or not self.installation.covers(repo.full_name):
            raise GitHubGraphQLError(
                f"Could not resolve to a Repository with the name '{owner}/{name}'."
            )
        return self.repo_object(repo)

    def discussion_target(self, node_id: str) -> tuple[Repo, Discussion]:
        """The discussion with ``node_id`` (mutations only work on discussions here)."""
        for repo in self.visible_repos():
            for item in repo.discussions.values():
                if item.node_id == node_id:
                    return repo, item
        raise GitHubGraphQLError(f"Could not resolve to a node with the global id of '{node_id}'")

    def discussion_comment_target(self, node_id: str) -> DiscussionComment:
        """The discussion comment with ``node_id`` (NOT_FOUND otherwise)."""
        for repo in self.visible_repos():
            for item in repo.discussions.values():
                for found in item.comments:
                    if found.node_id == node_id:
                        return found
        raise GitHubGraphQLError(f"Could not resolve to a node with the global id of '{node_id}'")

    # ------------------------------------------------------------- objects

    def user(self, login: str) -> GraphObject:
        """A ``User`` or ``Bot``."""
        account = self.fake.user(login)
        return {
            "__typename": "Bot" if account.type == "Bot" else "User",
            "id": account.node_id,
            "login": account.login,
            "name": account.name,
            "url": f"{self.fake.urls.web}/{account.login}",
            "status": (
                {"indicatesLimitedAvailability": True, "message": "On vacation"}
                if account.busy
                else None
            ),
        }

    def label(self, repo: Repo, item: Label) -> GraphObject:
        """A ``Label``."""
        return {
            "__typename": "Label",
            "id": item.node_id,
            "name": item.name,
            "color": item.color,
            "description": item.description,
            "url": f"{self.fake.urls.web}/{repo.full_name}/labels/{item.name}",
        }

    def repo_object(self, repo: Repo) -> GraphObject:
        """A ``Repository``."""
        return {
            "__typename": "Repository",
            "id": repo.node_id,
            "name": repo.name,
            "nameWithOwner": repo.full_name,
            "url": f"{self.fake.urls.web}/{repo.full_name}",
            "discussion": lambda number: self.discussion_by_number(repo, number),
            "discussions": lambda answered=None, categoryId=None, orderBy=None, states=(), **page: (
                self.discussions_connection(repo, categoryId, orderBy, states, page)
            ),
            "discussionCategories": lambda filterByAssignable=False, **page: connection(
                "categories",
                list(DEFAULT_DISCUSSION_CATEGORIES),
                lambda name: self.category(repo, name),
                page,
            ),
            "issue": lambda number: item_by_number(self, repo, number, pull=False),
            "issues": lambda **args: item_connection(self, repo, pulls=False, args=args),
            "pullRequest": lambda number: item_by_number(self, repo, number, pull=True),
            "pullRequests": lambda **args: item_connection(self, repo, pulls=True, args=args),
            "label": lambda name: self.label(repo, found) if (found := repo.label(name)) else None,
            "labels": lambda query=None, orderBy=None, **page: self.labels_connection(
                repo, list(repo.labels.values()), query, orderBy, page
            ),
        }

    def discussions_connection(
        self,
        repo: Repo,
        category: str | None,
        order: dict[str, str] | None,
        states: Sequence[str],
        page: dict[str, Any],
    ) -> GraphObject:
        """``repository.discussions``: filtered by category and state, ordered by
        ``orderBy`` (GitHub's default: most recently updated first)."""
        items = [
            d
            for d in repo.discussions.values()
            if (category is None or category_id(repo, d.category) == category)
            and (not states or ("CLOSED" if d.closed else "OPEN") in states)
        ]
        return discussion_connection(
            items, order=order, page=page, make=lambda d: self.discussion(repo, d)
        )

    def discussion_by_number(self, repo: Repo, number: int) -> GraphObject:
        """``repository.discussion(number:)``."""
        item = repo.discussions.get(number)
        if item is None:
            raise GitHubGraphQLError(
                f"Could not resolve to a Discussion with the number of {number}."
            )
        return self.discussion(repo, item)

    def discussion(self, repo: Repo, item: Discussion) -> GraphObject:
        """A ``Discussion``."""
        labels = [found for n in item.labels if (found := repo.label(n))]
        return {
            "__typename": "Discussion",
            "id": item.node_id,
            "number": item.number,
            "title": item.title,
            "body": item.body,
            "category": self.category(repo, item.category),
            "closed": item.closed,
            "url": f"{self.fake.urls.web}/{repo.full_name}/discussions/{item.number}",
            "createdAt": iso(item.created_at),
            "updatedAt": iso(item.updated_at or item.created_at),
            "closedAt": iso(item.closed_at) if item.closed else None,
            "isAnswered": item.answer_chosen_at is not None,
            "answerChosenAt": iso(item.answer_chosen_at),
            "author": self.user(item.author),
            "repository": lambda: self.repo_object(repo),
            "labels": lambda orderBy=None, **page: self.labels_connection(
                repo, labels, None, orderBy, page
            ),
            "comments": lambda **page: connection(
                "comments", item.comments, lambda c: self.comment(repo, item, c), page
            ),
        }

    def category(self, repo: Repo, name: str) -> GraphObject:
        """A ``DiscussionCategory`` (its id encodes the repository and the name)."""
        return {
            "__typename": "DiscussionCategory",
            "id": category_id(repo, name),
            "name": name,
            "description": None,
            "isAnswerable": name == "Q&A",
        }

    def comment(self, repo: Repo, parent: Discussion, item: DiscussionComment) -> GraphObject:
        """A ``DiscussionComment``."""
        base = f"{self.fake.urls.web}/{repo.full_name}/discussions/{parent.number}"
        return {
            "__typename": "DiscussionComment",
            "id": item.node_id,
            "body": item.body,
            "url": f"{base}#discussioncomment-{item.id}",
            "createdAt": iso(item.created_at),
            "updatedAt": iso(item.updated_at or item.created_at),
            "author": self.user(item.author),
            "discussion": lambda: self.discussion(repo, parent),
        }

    def labels_connection(
        self,
        repo: Repo,
        labels: list[Label],
        query: str | None,
        order: dict[str, str] | None,
        page: dict[str, Any],
    ) -> GraphObject:
        """A ``LabelConnection``, filtered by ``query`` and sorted by ``orderBy``."""
        if query:
            labels = [lab for lab in labels if query.lower() in lab.name.lower()]
        order = order or {"field": "CREATED_AT", "direction": "ASC"}
        key: Callable[[Label], Any] = (
            (lambda lab: lab.name.lower())
            if order["field"] == "NAME"
            else (lambda lab: (lab.created_at, lab.id))
        )
        ordered = sorted(labels, key=key, reverse=order["direction"] == "DESC")
        return connection("labels", ordered, lambda lab: self.label(repo, lab), page)

    # -------------------------------------------------------------- search

    def search(
        self,
        query: str,
        type: str,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> GraphObject:
        """``search(query:, type:)`` over discussions (and issue counts)."""
        parsed = search.parse(query)
        repos = self.visible_repos()
        discussions = [
            (repo, d)
            for repo in repos
            for d in repo.discussions.values()
            if search.matches_discussion(parsed, repo, d)
        ]
        issue_count = sum(
            1
            for repo in repos
            for i in repo.issues.values()
            if search.matches_issue(parsed, repo, i)
        )
        page = {"first": first, "after": after, "last": last, "before": before}
        items: list[tuple[Repo, Discussion]] = discussions if type == "DISCUSSION" else []
        result = connection(
            "search", items, lambda pair: self.discussion(*pair), page, required=False
        )
        result.update(discussionCount=len(discussions), issueCount=issue_count)
        return result

    # ----------------------------------------------------------- mutations

    def add_discussion_comment(self, input: dict[str, Any]) -> GraphObject:
        """``addDiscussionComment(input: {discussionId, body})``."""
        repo, item = self.discussion_target(input["discussionId"])
        if not input["body"].strip():
            raise GitHubGraphQLError("Body can't be blank", "UNPROCESSABLE")
        made = self.fake.add_discussion_comment(
            repo.owner,
            repo.name,
            item.number,
            body=input["body"],
            author=self.fake.bot_login(self.installation),
        )
        return {
            "clientMutationId": input.get("clientMutationId"),
            "comment": self.comment(repo, item, made),
        }

    def create_discussion(self, input: dict[str, Any]) -> GraphObject:
        """``createDiscussion(input: {repositoryId, categoryId, title, body})``."""
        repo = next((r for r in self.visible_repos() if r.node_id == input["repositoryId"]), None)
        if repo is None:
            raise GitHubGraphQLError(
                f"Could not resolve to a node with the global id of '{input['repositoryId']}'",
                "NOT_FOUND",
            )
        names = {category_id(repo, n): n for n in DEFAULT_DISCUSSION_CATEGORIES}
        if input["categoryId"] not in names:
            raise GitHubGraphQLError(
                f"Could not resolve to a node with the global id of '{input['categoryId']}'",
                "NOT_FOUND",
            )
        if not input["title"].strip() or not input["body"].strip():
            raise GitHubGraphQLError("Title and body can't be blank", "UNPROCESSABLE")
        made = self.fake.add_discussion(
            repo.owner,
            repo.name,
            title=input["title"],
            body=input["body"],
            author=self.fake.bot_login(self.installation),
            category=names[input["categoryId"]],
        )
        return {
            "clientMutationId": input.get("clientMutationId"),
            "discussion": self.discussion(repo, made),
        }

    def update_discussion(self, input: dict[str, Any]) -> GraphObject:
        """``updateDiscussion(input: {discussionId, title?, body?})`` (the author's own)."""
        repo, item = self.discussion_target(input["discussionId"])
        if item.author != self.fake.bot_login(self.installation):
            raise GitHubGraphQLError("Resource not accessible by integration", "FORBIDDEN")
        if input.get("title") is not None:
            item.title = input["title"]
        if input.get("body") is not None:
            item.body = input["body"]
        item.updated_at = self.fake.now()
        return {
            "clientMutationId": input.get("clientMutationId"),
            "discussion": self.discussion(repo, item),
        }

    def add_reaction(self, input: dict[str, Any]) -> GraphObject:
        """``addReaction(input: {subjectId, content})`` on a discussion comment (giving
        the same reaction again changes nothing, as on GitHub).
        """
        found = self.discussion_comment_target(input["subjectId"])
        login = self.fake.bot_login(self.installation)
        content = REACTION_CONTENT[input["content"]]
        made, _ = self.fake.react(found.reactions, user=login, content=content)
        reaction = {"__typename": "Reaction", "id": made.node_id, "content": input["content"]}
        return {"clientMutationId": input.get("clientMutationId"), "reaction": reaction}

    def change_labels(self, input: dict[str, Any], *, add: bool) -> GraphObject:
        """``addLabelsToLabelable`` / ``removeLabelsFromLabelable`` on a discussion."""
        repo, item = self.discussion_target(input["labelableId"])
        by_id = {lab.node_id: lab for lab in repo.labels.values()}
        unknown = [i for i in input["labelIds"] if i not in by_id]
        if unknown:
            raise GitHubGraphQLError(
                f"Could not resolve to a node with the global id of '{unknown[0]}'"
            )
        names = [by_id[i].name for i in input["labelIds"]]
        if add:
            item.labels += [n for n in names if n not in item.labels]
        else:
            item.labels = [n for n in item.labels if n not in names]
        item.updated_at = self.fake.now()
        return {
            "clientMutationId": input.get("clientMutationId"),
            "labelable": self.discussion(repo, item),
        }


def category_id(repo: Repo, name: str) -> str:
    """The global id of a repository's discussion category."""
    return f"DIC_{repo.id}_{name}"


def connection(
    name: str,
    items: Sequence[T],
    make: Callable[[T], GraphObject],
    page: dict[str, Any],
    *,
    required: bool = True,
) -> GraphObject:
    """A Relay connection over ``items``, enforcing GitHub's ``first``/``last`` rules."""
    first, last = page.get("first"), page.get("last")
    check_page(name, page, required=required)
    try:
        window, has_next, has_previous = slice_connection(
            items, first=first, after=page.get("after"), last=last, before=page.get("before")
        )
    except ValueError as exc:
        raise GitHubGraphQLError(str(exc), "INVALID_CURSOR_ARGUMENTS") from exc
    edges = [{"cursor": encode_cursor(i), "node": make(item)} for i, item in window]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "totalCount": len(items),
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def check_page(name: str, page: dict[str, Any], *, required: bool = True) -> None:
    """GitHub's rules for ``first``/``last``: one of them, and at most 100."""
    first, last = page.get("first"), page.get("last")
    if required and first is None and last is None:
        raise GitHubGraphQLError(
            f"You must provide a `first` or `last` value to properly paginate the "
            f"`{name}` connection.",
            "MISSING_PAGINATION_BOUNDARIES",
        )
    for arg, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise GitHubGraphQLError(
                f"Requesting {value} records on the `{name}` connection exceeds the "
                f"`{arg}` limit of {MAX_PAGE} records.",
                "EXCESSIVE_PAGINATION",
            )
