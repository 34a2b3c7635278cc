"""The one shape every flow has: a per-task repository context and *apply once*.

A flow opens a :class:`RepoTask` (the installation's client, the repository's config,
the store, locks and settings in one object), asks pure decisions what to do, and
hands the effect to :meth:`RepoTask.apply_once`, which owns the sequence that makes
effects exactly-once across retries, redeliveries and killed workers:

    lock the effect's key → check the audit log again → apply (live mode only) → record

The cheap first check (:meth:`workers.runtime.TaskContext.done`) happens before the
flow spends any GitHub calls.

Markers count only in the bot's own comments: :meth:`RepoTask.own_comments` keeps the
comments whose author is the App's account (``APP_SLUG[bot]``; without ``APP_SLUG``,
the slug ``GET /app`` names, asked once per process), so a person who pastes a marker
into their comment cannot keep the bot from answering.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gidgethub import BadRequest, QueryError

from core.config_schema import CONFIG_PATH, RepoConfig
from core.settings import Settings
from core.store import ActionRecord, Store
from core.tasks import RepoArgs
from workers.auth import READ_CONTENTS
from workers.github import GitHubClient, graphql_endpoint, pull_files
from workers.repo_config import ConfigFile, LoadedConfig, load_repo_config
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

CONFIG_REPORT_MARKER = "<!-- steward:config-error -->"

DISCUSSION_COMMENTS = """
query DiscussionComments($id: ID!, $cursor: String) {
  node(id: $id) {
    ... on Discussion {
      comments(first: 100, after: $cursor) {
        nodes { id body author { __typename login } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""

ADD_DISCUSSION_COMMENT = """
mutation AddDiscussionComment($id: ID!, $body: String!) {
  addDiscussionComment(input: {discussionId: $id, body: $body}) {
    comment { id url }
  }
}
"""

#: What an effect's ``apply`` returns: facts merged into the recorded detail.
Applied = Mapping[str, Any] | None

#: The App's ``slug[bot]`` login per (API URL, App id), learnt from ``GET /app`` once.
_BOT_LOGINS: dict[tuple[str, str], str] = {}


def is_own_bot(author: Mapping[str, Any] | None, *, bot_login: str) -> bool:
    """Whether a comment's author (REST ``user`` or GraphQL ``author``) is this App's
    account: ``slug[bot]`` (REST), or a ``Bot`` whose login is the slug (GraphQL names
    a bot without the suffix). Nobody else's comment is taken for the bot's.
    """
    if not isinstance(author, Mapping):
        return False
    login = str(author.get("login") or "").casefold()
    if login == bot_login.casefold():
        return True
    kind = str(author.get("type") or author.get("__typename") or "")
    return kind == "Bot" and login == bot_login.casefold().removesuffix("[bot]")


def gone(exc: BaseException) -> str | None:
    """Why GitHub's error says the item asked for is not there (deleted: REST 410; never
    there or hidden from this token: 404; GraphQL errors that are all ``NOT_FOUND``), or
    None when it says something else. Periodic work skips such an item and goes on."""
    if isinstance(exc, BadRequest) and int(exc.status_code) in (404, 410):
        return f"GitHub answered {int(exc.status_code)}"
    if isinstance(exc, QueryError):
        errors = exc.response.get("errors") if isinstance(exc.response, dict) else None
        kinds = {str(e.get("type")) for e in errors or [] if isinstance(e, dict)}
        if kinds == {"NOT_FOUND"}:
            return "GitHub's GraphQL API answered NOT_FOUND"
    return None


def has_marker(comments: Sequence[Mapping[str, Any]], marker: str) -> Mapping[str, Any] | None:
    """The first of ``comments`` whose body carries ``marker`` (None: none does)."""
    return next((c for c in comments if marker in str(c.get("body") or "")), None)


@dataclass(frozen=True)
class Effect:
    """One effect on GitHub, recorded in the audit log under ``key`` exactly once."""

    key: str
    feature: str
    action: str
    number: int
    detail: Mapping[str, Any] = field(default_factory=dict)
    #: ``shadow`` for a decision recorded but never applied (the label gate held it
    #: back); None: the repository's ``mode``.
    mode: str | None = None


@dataclass
class RepoTask:
    """Everything one flow needs for one repository of one installation."""

    ctx: TaskContext
    args: RepoArgs
    gh: GitHubClient
    loaded: LoadedConfig

    @property
    def owner(self) -> str:
        """The repository's owner."""
        return self.args.owner

    @property
    def repo(self) -> str:
        """The repository's name."""
        return self.args.repo

    @property
    def full_name(self) -> str:
        """``owner/repo``."""
        return self.args.full_name

    @property
    def config(self) -> RepoConfig:
        """The repository's effective ``.github/steward.yml``."""
        return self.loaded.config

    @property
    def live(self) -> bool:
        """Whether effects reach GitHub (``mode: live``) or are only recorded."""
        return self.config.mode == "live"

    @property
    def store(self) -> Store:
        """The durable store."""
        return self.ctx.store

    @property
    def settings(self) -> Settings:
        """The process settings."""
        return self.ctx.settings

    async def graphql(self, query: str, **variables: Any) -> Any:
        """A GraphQL call against this deployment's GitHub."""
        endpoint = graphql_endpoint(self.settings.github_api_url)
        return await self.gh.graphql(query, endpoint=endpoint, **variables)

    async def bot_login(self) -> str:
        """The App's own login (``slug[bot]``): ``APP_SLUG``, else ``GET /app`` (as the
        App, once per process)."""
        if self.settings.app_slug:
            return f"{self.settings.app_slug}[bot]"
        key = (self.settings.github_api_url, str(self.settings.app_id or ""))
        if key not in _BOT_LOGINS:
            app = await self.gh.getitem("/app", jwt=self.ctx.auth().app_jwt())
            _BOT_LOGINS[key] = f"{app['slug']}[bot]"
        return _BOT_LOGINS[key]

    async def own_comments(self, number: int, *, node_id: str = "") -> list[dict[str, Any]]:
        """The bot's own comments (``id``, ``body``) on an issue or pull request, or with
        ``node_id`` on a discussion (all pages); everyone else's are left out."""
        login = await self.bot_login()
        if node_id:
            found = await self.discussion_comments(node_id)
            return [c for c in found if is_own_bot(c.get("author"), bot_login=login)]
        return [
            {"id": comment["id"], "body": str(comment.get("body") or "")}
            async for comment in self.gh.getiter(
                "/repos/{owner}/{repo}/issues/{issue_number}/comments{?per_page}",
                {"owner": self.owner, "repo": self.repo, "issue_number": number, "per_page": 100},
            )
            if is_own_bot(comment.get("user"), bot_login=login)
        ]

    async def discussion_comments(self, node_id: str) -> list[dict[str, Any]]:
        """Every comment of a discussion (``id``, ``body``, ``author``; all pages)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            data = await self.graphql(DISCUSSION_COMMENTS, id=node_id, cursor=cursor)
            comments = data["node"]["comments"]
            found.extend(dict(n) for n in comments["nodes"] if n)
            if not comments["pageInfo"]["hasNextPage"]:
                return found
            cursor = comments["pageInfo"]["endCursor"]

    async def comment_once(self, number: int, *, body: str, marker: str, node_id: str = "") -> bool:
        """Comment on an issue or pull request (or, with ``node_id``, a discussion)
        unless one of the bot's own comments carries ``marker`` already; True if posted.
        """
        if has_marker(await self.own_comments(number, node_id=node_id), marker):
            return False
        await self.post_comment(number, body=body, node_id=node_id)
        return True

    async def post_comment(self, number: int, *, body: str, node_id: str = "") -> None:
        """Post a new comment on an issue or pull request, or (``node_id``) a discussion."""
        if node_id:
            await self.graphql(ADD_DISCUSSION_COMMENT, id=node_id, body=body)
            return
        await self.gh.post(
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            {"owner": self.owner, "repo": self.repo, "issue_number": number},
            data={"body": body},
        )

    async def edit_comment(self, comment_id: int, *, body: str) -> None:
        """Put ``body`` on one of the bot's issue or pull request comments."""
        await self.gh.patch(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            {"owner": self.owner, "repo": self.repo, "comment_id": comment_id},
            data={"body": body},
        )

    async def issue(self, number: int) -> dict[str, Any]:
        """An issue or pull request as the issues API returns it (title, body, labels,
        author, state): the one fetch of an item every feature reads."""
        ids: dict[str, Any] = {"owner": self.owner, "repo": self.repo, "issue_number": number}
        item: dict[str, Any] = await self.gh.getitem(
            "/repos/{owner}/{repo}/issues/{issue_number}", ids
        )
        return item

    async def pull_files(self, number: int) -> list[str]:
        """Paths a pull request changed (:func:`workers.github.pull_files`)."""
        return await pull_files(self.gh, self.owner, self.repo, number=number)

    async def apply_once(
        self,
        effect: Effect,
        apply: Callable[[], Awaitable[Applied]] | None = None,
        *,
        also: Sequence[Effect] = (),
    ) -> dict[str, Any] | None:
        """Apply ``effect`` (live mode) and record it, unless it was recorded already.

        ``apply`` runs only in live mode; what it returns joins the recorded detail.
        ``also`` are further records of the same decision (recorded first, same mode).
        Returns the recorded detail, or None when another run recorded the effect
        first. Only the check-and-apply is serialised: a worker killed outside it
        leaves no lock behind.
        """
        async with self.ctx.lock(effect.key) as held:
            if self.store.has_action(effect.key):
                return None
            detail = dict(effect.detail)
            if self.live and apply is not None:
                await held.check()
                detail.update(await apply() or {})
            for each in also:
                self.record(each)
            self.record(dataclasses.replace(effect, detail=detail))
        return detail

    def record(self, effect: Effect) -> None:
        """Append one effect to the audit log (a repeat of the same key is a no-op)."""
        row = ActionRecord(
            effect_key=effect.key,
            repo=self.full_name,
            feature=effect.feature,
            action=effect.action,
            number=effect.number,
            delivery_id=self.args.delivery_id,
            installation_id=self.args.installation_id,
            detail=dict(effect.detail),
            mode=effect.mode or self.config.mode,
        )
        if not self.store.record_action(row):
            log.info("effect %s was already recorded", effect.key)


async def open_repo(ctx: TaskContext, args: RepoArgs) -> RepoTask:
    """The installation's client and the repository's config (a broken file reported)."""
    # The task's own token reaches its repository only; configuration (the org's
    # ``.github``, a repository ``_extends`` names) is read with a token that can read
    # the installation's repositories and write nothing.
    gh = await ctx.client(args.installation(), repo=args.full_name)
    reader = await ctx.client(args.installation(), permissions=READ_CONTENTS)
    loaded = await load_repo_config(reader, args.owner, args.repo)
    task = RepoTask(ctx=ctx, args=args, gh=gh, loaded=loaded)
    if loaded.errors:
        await report_config_errors(task)
    return task


def config_report_body(path: str, sha: str, errors: list[str]) -> str:
    """The issue text that tells maintainers what is wrong with their config file."""
    lines = "\n".join(f"- {e}" for e in errors)
    return (
        f"Steward could not use every setting in `{path}` (version `{sha[:7]}`):\n\n{lines}\n\n"
        "Until it is fixed, the settings above fall back to their defaults. The reference of "
        "every setting is in Steward's README (`steward config-docs` prints it).\n\n"
        f"{CONFIG_REPORT_MARKER}"
    )


async def report_config_errors(task: RepoTask) -> None:
    """Open one issue per broken file version in the repository that holds the file."""
    file = task.loaded.broken_file
    if file is None or not task.live:
        return
    if not task.store.claim_config_report(
        f"{file.owner}/{file.repo}", file.path, file.sha, errors=task.loaded.errors
    ):
        return
    try:
        await _open_config_issue(task.gh, file, task.loaded.errors)
    except Exception:
        task.store.release_config_report(f"{file.owner}/{file.repo}", file.path, file.sha)
        raise


async def _open_config_issue(gh: GitHubClient, file: ConfigFile, errors: list[str]) -> None:
    await gh.post(
        "/repos/{owner}/{repo}/issues",
        {"owner": file.owner, "repo": file.repo},
        data={
            "title": f"Steward: {file.path or CONFIG_PATH} has errors",
            "body": config_report_body(file.path, file.sha, errors),
        },
    )
