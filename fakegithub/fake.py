"""``FakeGitHub``: state builders, query helpers and the server lifecycle.

A test builds state with ``add_repo``/``add_issue``/…, starts the server with
``async with fake.serve() as base_url`` and points the code under test at
``base_url`` (``GITHUB_API_URL``). Afterwards it inspects ``fake.requests``,
``fake.violations`` and helpers such as ``fake.labels_on(...)``. ``fake.hooks``
sends webhooks to a receiver and keeps the App's delivery log, as GitHub does.

This module holds the class, its constructor and the server lifecycle; its methods
come from one mixin per concern:

- :mod:`fakegithub.fake_core`: the state, clock, ids and look-ups;
- :mod:`fakegithub.fake_apps`: apps, installations, tokens, the manifest flow;
- :mod:`fakegithub.fake_repos`: repositories, files, labels, collaborators;
- :mod:`fakegithub.fake_items`: issues, pull requests, discussions, comments, reviews;
- :mod:`fakegithub.fake_changes`: edits, reactions, label and state changes;
- :mod:`fakegithub.fake_limits`: rate limits and fault injection;
- :mod:`fakegithub.fake_inspect`: the query helpers tests read back with.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from fakegithub import serialize as ser
from fakegithub.contract import Contract
from fakegithub.fake_apps import DEFAULT_PERMISSIONS, AppsMixin, new_key_pair
from fakegithub.fake_changes import StateChanges
from fakegithub.fake_inspect import Inspection
from fakegithub.fake_items import ItemSeeding
from fakegithub.fake_limits import RATE_RESOURCES, LimitsAndFaults
from fakegithub.hookshot import Hookshot
from fakegithub.limits import Limits
from fakegithub.oauth import OAuthState

__all__ = ["DEFAULT_PERMISSIONS", "RATE_RESOURCES", "FakeGitHub", "new_key_pair"]


class FakeGitHub(AppsMixin, ItemSeeding, StateChanges, LimitsAndFaults, Inspection):
    """A fake of GitHub's REST and GraphQL APIs over real HTTP, checked against the
    published OpenAPI description.
    """

    def __init__(
        self,
        *,
        token_lifetime: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] | None = None,
        check_responses: bool = True,
        web_url: str = "https://github.com",
        limits: Limits | None = None,
    ) -> None:
        """``limits`` turns on GitHub's rate limits (:mod:`fakegithub.limits`); without
        them requests are counted for the ``x-ratelimit-*`` headers and never refused.
        """
        self.token_lifetime = token_lifetime
        self.clock = clock or (lambda: datetime.now(UTC))
        self.check_responses = check_responses
        self.urls = ser.Urls(api="http://127.0.0.1", web=web_url)
        self.contract = Contract.load()
        self.apps = {}
        self.installations = {}
        self.repos = {}
        self.users = {}
        self.tokens = {}
        self.requests = []
        self.violations = []
        self.faults = []
        self.limiter = self._limiter(limits)
        #: Wall-clock seconds each answer takes (GitHub's are not instant; requests then
        #: overlap, which the limit on requests in flight counts).
        self.latency = 0.0
        self.used_manifest_codes = set()
        self._ids = itertools.count(1001)
        #: The App's webhook: sends deliveries and keeps GitHub's delivery log.
        self.hooks = Hookshot(self)
        #: "Sign in with GitHub": who the authorize page approves, codes, user tokens.
        self.oauth = OAuthState()

    # ------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """The aiohttp application serving this fake."""
        from fakegithub.server import build_app

        return build_app(self)

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run the fake on ``host`` (a free port by default); yields the base URL."""
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        self.urls = ser.Urls(api=f"http://{host}:{bound}", web=self.urls.web)
        try:
            yield self.urls.api
        finally:
            await runner.cleanup()

    @contextlib.contextmanager
    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Run the fake on its own event loop in a thread (for sync code and Celery
        workers); yields the base URL.
        """
        ready = threading.Event()
        stop: dict[str, Any] = {}

        async def main() -> None:
            async with self.serve(host, port):
                stop["event"] = asyncio.Event()
                stop["loop"] = asyncio.get_running_loop()
                ready.set()
                await stop["event"].wait()

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake GitHub did not start within 10 s")
        try:
            yield self.urls.api
        finally:
            stop["loop"].call_soon_threadsafe(stop["event"].set)
            thread.join(10)
