"""A fake of GitHub's REST and GraphQL APIs, served over real HTTP and checked against
GitHub's published OpenAPI description (see ``data/``, written by
``scripts/extract_github_fixtures.py``).

Importing this package has no side effects; the server starts only inside
``FakeGitHub.serve()`` / ``serve_in_thread()`` or ``python -m app.fake_github``.
"""

from app.fake_github.contract import Contract, Violation
from app.fake_github.fake import FakeGitHub
from app.fake_github.http import Fault, RecordedRequest
from app.fake_github.state import PullFile
from app.fake_github.webhooks import load_webhook_example

__all__ = [
    "Contract",
    "FakeGitHub",
    "Fault",
    "PullFile",
    "RecordedRequest",
    "Violation",
    "load_webhook_example",
]
