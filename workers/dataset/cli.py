"""``steward dataset collect``: training data for the triage classifier from GitHub.

``register(subparsers)`` adds the ``dataset`` command and its ``collect`` sub-command;
``app.cli`` composes it with the other feature modules. The handler resolves
credentials (``GITHUB_TOKEN``, else the App's ``APP_ID`` + ``PRIVATE_KEY`` and an
installation), builds a :class:`workers.github.GitHubClient` and runs
:func:`workers.collect.collect`. Heavy imports happen inside the handler.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers.commandline import CredentialsError, github_client

if TYPE_CHECKING:
    from core.settings import Settings
    from workers.collect import CollectResult
    from workers.records import CollectQuery

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
    from workers.records import CollectError

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
    from workers.records import CollectQuery, format_for, parse_repo, parse_since

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

    from workers.collect import collect

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
