"""Run the fake GitHub alone with a demo organization: ``python -m fakegithub``.

Prints the base URL and an installation token, so curl, the offline demo or a local
Steward process (``GITHUB_API_URL``) can talk to it. With ``--public-key`` the app
id given is registered with that key so Steward can mint tokens itself.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from fakegithub.fake import FakeGitHub


def build_demo(fake: FakeGitHub, *, app_id: int, public_key_pem: str | None) -> int:
    """Fill ``fake`` with a demo org ``acme``; returns the installation id."""
    fake.register_app(app_id, public_key_pem or _throwaway_public_key(), "steward")
    fake.add_repo(
        "acme",
        "widgets",
        description="Demo repository for Steward",
        files={".github/steward.yml": "mode: shadow\ntriage:\n  enabled: true\n"},
        labels=["bug", "enhancement", "question", "documentation", "good first issue"],
        collaborators={"alice": "maintain", "bob": "write", "carol": "triage"},
    )
    fake.add_repo("acme", ".github", files={".github/steward.yml": "mode: live\n"})
    fake.add_issue(
        "acme",
        "widgets",
        title="App crashes on start",
        body="Traceback (most recent call last): ...",
        user="dave",
    )
    fake.add_pull(
        "acme",
        "widgets",
        title="Fix crash on start",
        user="erin",
        files=["src/widgets/start.py", "tests/test_start.py"],
    )
    fake.add_pull(
        "acme",
        "widgets",
        title="Docs: install guide",
        user="alice",
        files=["docs/install.md"],
        merged=True,
    )
    fake.add_discussion(
        "acme",
        "widgets",
        title="How do I configure widgets?",
        body="Is there a config file?",
        author="frank",
    )
    return fake.add_installation(1, "acme").id


def _throwaway_public_key() -> str:
    from fakegithub.fake import new_key_pair

    return new_key_pair()[1]


async def _run(host: str, port: int, app_id: int, public_key: str | None) -> None:
    fake = FakeGitHub()
    installation_id = build_demo(fake, app_id=app_id, public_key_pem=public_key)
    async with fake.serve(host, port) as base_url:
        print(f"fake GitHub at {base_url} (app {app_id}, installation {installation_id})")
        print(f"installation token: {fake.mint_token(installation_id)}")
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m fakegithub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001, help="0 picks a free port")
    parser.add_argument("--app-id", type=int, default=1)
    parser.add_argument("--public-key", type=Path, help="PEM public key of the app")
    args = parser.parse_args(argv)
    key = args.public_key.read_text() if args.public_key else None
    try:
        asyncio.run(_run(args.host, args.port, args.app_id, key))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
