"""What every REST handler of the fake GitHub is given and how it registers: the
request :class:`Context`, the :data:`HANDLERS` table keyed by OpenAPI ``operationId``
and the :func:`handles` decorator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fakegithub import serialize as ser
from fakegithub.http import Reply, not_found
from fakegithub.paging import paginate
from fakegithub.state import Installation, Issue, Repo

if TYPE_CHECKING:
    from fakegithub.fake import FakeGitHub


@dataclass
class Context:
    """Everything a handler may use about the current request."""

    fake: FakeGitHub
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    installation: Installation | None
    app_id: int | None = None
    #: The person behind a user (OAuth) token, for the ``/user`` operations.
    user: str | None = None

    @property
    def urls(self) -> ser.Urls:
        """The fake's API and web base URLs."""
        return self.fake.urls

    @property
    def actor(self) -> str:
        """The login acting for this request: the app's bot for installation tokens."""
        return self.fake.bot_login(self.installation)

    def repo(self) -> Repo:
        """The repository in the path, if this installation may see it (else 404)."""
        repo = self.fake.find_repo(self.params["owner"], self.params["repo"])
        if repo is None:
            raise not_found()
        if self.installation and not self.installation.covers(repo.full_name):
            raise not_found()
        return repo

    def issue(self, key: str = "issue_number", pulls_only: bool = False) -> tuple[Repo, Issue]:
        """The repository and the issue (or PR) numbered in the path."""
        repo = self.repo()
        item = repo.issues.get(int(self.params[key]))
        if item is None or (pulls_only and item.pull is None):
            raise not_found()
        return repo, item

    def page(self, items: list[Any], status: int = 200) -> Reply:
        """Paginate ``items`` with GitHub's ``Link`` header."""
        chunk, link = paginate(items, f"{self.urls.api}{self.path}", self.query)
        return Reply(chunk, status, {"Link": link} if link else {})

    def issue_json(self, repo: Repo, item: Issue) -> dict[str, Any]:
        """Render an issue."""
        return ser.issue(self.urls, repo, item, self.fake.users, self.fake.user(repo.owner))

    def pull_json(self, repo: Repo, item: Issue) -> dict[str, Any]:
        """Render a pull request."""
        return ser.pull(self.urls, repo, item, self.fake.users, self.fake.user(repo.owner))


Handler = Callable[[Context], Awaitable[Reply]]
HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    """Register a handler for an OpenAPI operation id."""

    def register(func: Handler) -> Handler:
        HANDLERS[operation_id] = func
        return func

    return register
