"""``steward dataset collect``: training data for the triage classifier from GitHub.

``register(subparsers)`` adds the ``dataset`` command and its ``collect`` sub-command;
``app.cli`` composes it with the other feature modules. The handler resolves
credentials (``GITHUB_TOKEN``, else the App's ``APP_ID`` + ``PRIVATE_KEY`` and an
installation), builds a :class:`workers.github.GitHubClient` and runs
:func:`workers.dataset.collect.collect`. Heavy imports happen inside the handler.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

    from core.settings import Settings
    from workers.dataset.collect import CollectQuery, CollectResult
    from workers.github import GitHubClient

COLLECT_EPILOG = """\
output: JSONL, one object per issue or pull request, oldest first:
  {"repo", "number", "kind": "issue"|"pull_request", "title", "body",
   "labels": [...], "created_at", "files": [...] (pull requests only)}
  With --format csv (or an --out ending in .csv) the single-label CSV
  repo,created_at,label,title,body is written instead: one row per item that has
  exactly one kept label; items with none or several are left out.

labels: only labels a person applied are kept; a label whose latest `labeled` event
  came from a bot (a [bot] account such as dependabot[bot] or steward[bot], or a
  login given with --bot) is dropped. `body` is the current text (GitHub's REST API
  does not keep the original).

resuming: records are appended as they are collected and FILE.state.json records
  where the run stopped; re-run the same command to continue without duplicates
  (a finished collection re-run adds only newer items). --restart starts over.

credentials: GITHUB_TOKEN if set; else APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH)
  of the GitHub App, acting as the installation on the repository (found
  automatically, or --installation-id). GITHUB_API_URL or GHE_HOST select the server.
"""


class CredentialsError(Exception):
    """Neither a token nor App credentials are available."""


def register(subparsers: Any) -> None:
    """Add ``steward dataset collect`` to ``steward``'s sub-parsers action."""
    dataset = subparsers.add_parser("dataset", help="build training data from GitHub")
    actions = dataset.add_subparsers(dest="dataset_command", metavar="ACTION")
    dataset.set_defaults(func=lambda args: _help(dataset))
    add_collect(actions)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def add_collect(subparsers: Any) -> None:
    """``steward dataset collect``."""
    p = subparsers.add_parser(
        "collect",
        help="collect a repository's labelled issues and pull requests (JSONL or CSV)",
        description="Collect a repository's issues and pull requests with the labels "
        "people gave them, as training data for `steward train`.",
        epilog=COLLECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--repo", required=True, metavar="OWNER/NAME", help="the repository")
    p.add_argument("--out", required=True, metavar="FILE", help="output file (.jsonl or .csv)")
    p.add_argument("--state", choices=("all", "open", "closed"), default="all", help="default: all")
    p.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="jsonl (several labels) or csv (exactly one label); default: from FILE's suffix",
    )
    p.add_argument("--limit", type=int, metavar="N", help="stop once FILE holds N records")
    p.add_argument(
        "--since", metavar="ISO", help="only items created at or after this date/time (UTC)"
    )
    p.add_argument(
        "--bot",
        action="append",
        default=[],
        metavar="LOGIN",
        help="also treat this account as a bot (repeatable; [bot] accounts always are)",
    )
    p.add_argument(
        "--installation-id",
        type=int,
        help="the App installation to act as (default: the one on --repo)",
    )
    p.add_argument("--restart", action="store_true", help="discard FILE and its state first")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_collect)


def _error(message: str) -> None:
    print(f"steward dataset collect: {message}", file=sys.stderr, flush=True)


def run_collect(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """Handler of ``steward dataset collect``; returns the exit status."""
    from core.settings import SettingsError, load_settings
    from workers.dataset.collect import CollectError

    env = os.environ if env is None else env
    try:
        query = build_query(args)
        settings = load_settings(env, receiver=False)
    except (ValueError, SettingsError) as exc:
        _error(str(exc))
        return 2
    try:
        result = asyncio.run(_collect(args, query, settings=settings, env=env))
    except KeyboardInterrupt:
        _error(f"interrupted; re-run the same command to continue into {args.out}")
        return 130
    except CredentialsError as exc:
        _error(str(exc))
        return 2
    except CollectError as exc:
        _error(str(exc))
        return 1
    except Exception as exc:
        message = _describe_failure(exc, query.repo)
        if message is None:
            raise
        _error(f"{message}; re-run the same command to continue where it stopped")
        return 1
    _report(result, Path(args.out))
    return 0


def build_query(args: argparse.Namespace) -> CollectQuery:
    """The collection the arguments ask for (``ValueError`` with a message if invalid)."""
    from workers.dataset.collect import CollectQuery, format_for, parse_repo, parse_since

    owner, name = parse_repo(args.repo)
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be a positive number")
    since = parse_since(args.since) if args.since else None
    fmt = format_for(Path(args.out), args.format)
    return CollectQuery(repo=f"{owner}/{name}", state=args.state, since=since, format=fmt)


def _describe_failure(exc: Exception, repo: str) -> str | None:
    """A one-line explanation of a GitHub failure, or None for a bug."""
    from gidgethub import BadRequest

    from workers.github import GitHubUnavailable

    if isinstance(exc, GitHubUnavailable):
        return f"GitHub kept failing ({exc})"
    if isinstance(exc, BadRequest):
        status = exc.status_code
        if status == 401:
            return "GitHub refused the credentials (HTTP 401); check GITHUB_TOKEN or the App key"
        if status == 403:
            return (
                f"GitHub refused access to {repo} (HTTP 403: {exc}); the token or App needs "
                "read access to issues, pull requests and metadata"
            )
        return f"GitHub answered HTTP {status}: {exc}"
    return None


def _report(result: CollectResult, out: Path) -> None:
    state = "complete" if result.complete else "stopped early (re-run to continue)"
    print(
        f"{out}: {result.written} records ({result.new} new, {result.pages} pages read); {state}",
        file=sys.stderr,
        flush=True,
    )


async def _collect(
    args: argparse.Namespace, query: CollectQuery, *, settings: Settings, env: Mapping[str, str]
) -> CollectResult:
    import aiohttp

    from workers.dataset.collect import collect

    async with aiohttp.ClientSession() as session:
        gh = await github_client(
            session, settings, env=env, repo=query.repo, installation_id=args.installation_id
        )
        return await collect(
            gh,
            query,
            Path(args.out),
            limit=args.limit,
            extra_bots=args.bot,
            restart=args.restart,
            progress=not args.no_progress,
        )


async def github_client(
    session: aiohttp.ClientSession,
    settings: Settings,
    *,
    env: Mapping[str, str],
    repo: str,
    installation_id: int | None,
) -> GitHubClient:
    """A client acting with ``GITHUB_TOKEN``, else as the App's installation on ``repo``
    (``owner/name``; found automatically unless ``installation_id`` is given)."""
    from workers.github import GitHubClient

    options: dict[str, Any] = {
        "retries": settings.http_retries,
        "max_rate_limit_wait": settings.max_rate_limit_wait,
    }
    from core.settings import merged_environment

    token = merged_environment(env, settings.env_file).get("GITHUB_TOKEN")
    if token:
        return GitHubClient(session, base_url=settings.github_api_url, oauth_token=token, **options)
    if not (settings.app_id and settings.private_key):
        raise CredentialsError(
            "no GitHub credentials: set GITHUB_TOKEN (a personal access or installation "
            "token), or APP_ID and PRIVATE_KEY (or PRIVATE_KEY_PATH) of the Steward App "
            "(in the environment or .env)"
        )
    return await _installation_client(
        session, settings, repo=repo, installation_id=installation_id, options=options
    )


async def _installation_client(
    session: aiohttp.ClientSession,
    settings: Settings,
    *,
    repo: str,
    installation_id: int | None,
    options: dict[str, Any],
) -> GitHubClient:
    from workers.auth import InstallationAuth

    auth = InstallationAuth(
        app_id=str(settings.app_id),
        private_key=str(settings.private_key),
        api_url=settings.github_api_url,
        redis=MemoryCache(),  # type: ignore[arg-type]  # a one-shot CLI needs no Redis
        session=session,
    )
    if installation_id is None:
        installation_id = await _installation_for(session, settings, auth=auth, repo=repo)
    return await auth.client(installation_id, **options)


async def _installation_for(
    session: aiohttp.ClientSession, settings: Settings, *, auth: Any, repo: str
) -> int:
    """The id of the App's installation that covers the repository."""
    from gidgethub import BadRequest

    from workers.github import GitHubClient

    owner, name = repo.split("/", 1)
    app_client = GitHubClient(session, base_url=settings.github_api_url)
    try:
        data = await app_client.getitem(
            "/repos/{owner}/{repo}/installation",
            {"owner": owner, "repo": name},
            jwt=auth.app_jwt(),
        )
    except BadRequest as exc:
        if exc.status_code != 404:
            raise
        raise CredentialsError(
            f"the App (APP_ID={settings.app_id}) is not installed on {repo}, or the "
            "repository does not exist; install the App there, pass --installation-id, or "
            "set GITHUB_TOKEN"
        ) from None
    return int(data["id"])


class MemoryCache:
    """A stand-in for the Redis token cache of one process: async ``get``/``set``/
    ``delete`` and ``lock`` (what :class:`workers.auth.InstallationAuth` uses), in memory.
    """

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, name: str, **_options: Any) -> asyncio.Lock:
        """A lock shared by everyone in this process who asks for ``name``."""
        return self._locks.setdefault(name, asyncio.Lock())

    async def get(self, key: str) -> Any:
        """The value stored under ``key`` (expiry is not needed for one short run)."""
        return self._data.get(key)

    async def set(self, key: str, value: Any, ex: int | None = None) -> bool:
        """Store ``value`` under ``key``."""
        self._data[key] = value
        return True

    async def delete(self, *keys: str) -> int:
        """Forget ``keys``; the number that existed."""
        return sum(self._data.pop(key, None) is not None for key in keys)
