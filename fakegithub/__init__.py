"""A fake of GitHub's REST and GraphQL APIs, served over real HTTP and checked against
GitHub's published OpenAPI description (see ``data/``, written by
``scripts/extract_github_fixtures.py``).

Importing this package has no side effects; the server starts only inside
``FakeGitHub.serve()`` / ``serve_in_thread()`` or ``python -m fakegithub``.
"""

from fakegithub.contract import Contract, Violation
from fakegithub.fake import FakeGitHub
from fakegithub.http import Fault, RecordedRequest
from fakegithub.state import PullFile
from fakegithub.webhooks import load_webhook_example

__all__ = [
    "Contract",
    "FakeGitHub",
    "Fault",
    "PullFile",
    "RecordedRequest",
    "Violation",
    "load_webhook_example",
]
