"""``steward digest preview --repo owner/name``: the weekly digest the bot would post
now, from Steward's database only (no GitHub call, whatever the repository's config).

Registered into the top-level parser by ``app.cli`` through ``register``.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")


def register(subparsers: Any) -> None:
    """Add ``digest`` to an argparse sub-parsers action."""
    digest = subparsers.add_parser(
        "digest", help="show the weekly digest Steward would post for a repository now"
    )
    digest.add_argument("action", choices=["preview"])
    digest.add_argument("--repo", default="", help="owner/name")
    digest.add_argument(
        "--now", default="", help="an ISO 8601 moment to preview instead of now (its ISO week)"
    )
    digest.set_defaults(func=run_digest_command)


def run_digest_command(args: argparse.Namespace) -> int:
    """Handler of ``steward digest preview``: print the body; 2 on a bad argument."""
    from core.settings import load_settings_or_exit
    from core.store import now_utc, open_store
    from workers.digest.decide import parse_moment
    from workers.digest.flow import preview

    if not _REPO.match(args.repo):
        print("steward digest preview: give --repo owner/name", file=sys.stderr)
        return 2
    now = parse_moment(args.now) if args.now else now_utc()
    if now is None:
        print(f"steward digest preview: --now {args.now!r} is no ISO 8601 time", file=sys.stderr)
        return 2
    store = open_store(load_settings_or_exit().database_url_or_default)
    known = {name.lower(): name for _, name in store.all_active_repositories()}
    repo = known.get(args.repo.lower(), args.repo)
    if args.repo.lower() not in known:
        print(
            f"note: Steward does not look after {args.repo}; every number is empty", file=sys.stderr
        )
    print(preview(store, repo, now=now), end="")
    return 0
