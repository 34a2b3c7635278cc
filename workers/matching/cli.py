"""``steward people``: opt people out of (or back into) suggestions, and
``steward people suggest --login L --repo owner/name``: the open issues Steward would
suggest to a contributor, from the same ranking as the after-merge comment.

Registered into the top-level parser by ``app.cli`` through ``register``. For
``suggest``, credentials as for ``steward dataset collect``: ``GITHUB_TOKEN``, else the App's
``APP_ID`` and ``PRIVATE_KEY`` acting as its installation on the repository. The
contributor's history is the repository's review history in Steward's database (the
backfill collects it); their items are embedded on first use and kept in the index.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")


def _error(message: str) -> None:
    print(f"steward people suggest: {message}", file=sys.stderr, flush=True)


def register(subparsers: Any) -> None:
    """Add ``people`` to an argparse sub-parsers action."""
    people = subparsers.add_parser(
        "people",
        help="opt people out of suggestions (org-wide), or show the work Steward would "
        "suggest to someone",
    )
    people.add_argument("action", choices=["opt-out", "opt-in", "list", "suggest"])
    people.add_argument("login", nargs="?", default="")
    people.add_argument("--login", dest="login", help="suggest: the contributor")
    people.add_argument("--repo", default="", help="suggest: owner/name")
    people.add_argument("--installation-id", type=int, default=None, help="suggest: the App's")
    people.add_argument("--count", type=int, default=3, choices=(1, 2, 3), help="suggest: at most")
    people.add_argument("--json", action="store_true", help="suggest: one JSON object")
    people.set_defaults(func=run_people)


def run_people(args: argparse.Namespace) -> int:
    """Handler of ``steward people``: ``suggest``, or opt-out / opt-in / list."""
    from core.settings import load_settings_or_exit
    from core.store import open_store

    if args.action == "suggest":
        return run_suggest(args)
    store = open_store(load_settings_or_exit().database_url_or_default)
    if args.action == "list":
        print("\n".join(sorted(store.opted_out())) or "nobody has opted out")
        return 0
    if not args.login:
        print(f"steward people {args.action}: give the person's login", file=sys.stderr)
        return 2
    store.set_opt_out(args.login, args.action == "opt-out")
    print(f"{args.login}: {'opted out of' if args.action == 'opt-out' else 'back in'} suggestions")
    return 0


def run_suggest(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """Handler of ``steward people suggest``; returns the exit status."""
    from core.settings import SettingsError, load_settings
    from workers.commandline import CredentialsError

    env = os.environ if env is None else env
    if not args.login or not args.repo or not _REPO.match(args.repo):
        _error("give --login LOGIN and --repo owner/name")
        return 2
    try:
        settings = load_settings(env, receiver=False)
    except SettingsError as exc:
        _error(str(exc))
        return 2
    try:
        matches = asyncio.run(_suggest(args, settings, env))
    except CredentialsError as exc:
        _error(str(exc))
        return 2
    rows = [
        {
            "number": m.item.number,
            "title": m.item.title,
            "score": round(float(m.score), 3),
            "reason": m.reason,
        }
        for m in matches
    ]
    if args.json:
        print(json.dumps({"repo": args.repo, "login": args.login, "issues": rows}))
    elif not rows:
        print(
            f"nothing to suggest to {args.login} in {args.repo}: no open issue is close "
            "enough to what they worked on (or they have no merged change in the history)"
        )
    else:
        for row in rows:
            print(f"#{row['number']}  {row['title']}  ({row['score']:.2f}; {row['reason']})")
    return 0


async def _suggest(args: argparse.Namespace, settings: Any, env: Mapping[str, str]) -> list[Any]:
    import aiohttp

    from core.store import open_store
    from workers.commandline import github_client
    from workers.matching.flow import suggest_work

    store = open_store(settings.database_url_or_default)
    async with aiohttp.ClientSession() as session:
        gh = await github_client(
            session, settings, env=env, repo=args.repo, installation_id=args.installation_id
        )
        return await suggest_work(
            gh, store, settings, full_name=args.repo, login=args.login, k=args.count
        )
