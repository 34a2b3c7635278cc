"""Nothing on one host that another needs (issue 25, item 3): the day-one path run by
``steward serve``, two ``steward worker``s and the scheduler, each with a data directory
of its own and sharing only Redis, PostgreSQL and the model store, decides exactly as
the same bot on one host does.

Two deployments of the same bot in turn, each on a database of its own and on a
repository of its own with the same history: one host (``serve`` and one ``worker
--beat`` on one data directory), then four "hosts". On the four, the worker that ran
the bootstrap is stopped before any new issue arrives, so triage runs where the
history was never collected: it finds the history in the database. The history costs
the same GitHub requests on both (collected once, through GraphQL, no REST listing).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.store import Store, open_store
from fakegithub.fake import FakeGitHub
from tests.bot import ROOT, Bot, bot_env
from tests.conftest import postgres_database
from tests.support import BUG, ORG, THINGS, WISH, example, unique, wait_for
from tests.support import opened as opened_payload

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CONFIG = "triage:\n  precision: 0.8\n  min_support: 5\nwelcome:\n  enabled: false\n"
PROBES = [BUG.format("the printer"), WISH.format("the printer"), BUG.format("the cache")]
PROBES += [WISH.format("the cache"), BUG.format("the export"), WISH.format("the export")]


@dataclass
class Deployment:
    """A bot's processes (one or several hosts), its database and what it decided."""

    api_url: str
    redis_url: str
    database_url: str
    model_dir: Path
    root: Path
    hosts: dict[str, Bot] = field(default_factory=dict)
    scheduler: subprocess.Popen[bytes] | None = None
    _store: Store | None = None

    def host(self, name: str) -> Bot:
        """A host of its own: its own data directory (and logs), the shared services."""
        if name not in self.hosts:
            data_dir = self.root / name
            data_dir.mkdir(parents=True)
            env = bot_env(
                api_url=self.api_url,
                data_dir=data_dir,
                redis_url=self.redis_url,
                DATABASE_URL=self.database_url,
                STEWARD_MODEL_DIR=str(self.model_dir),
                STEWARD_CONTAINER_STATE=str(data_dir / "container"),
            )
            self.hosts[name] = Bot(env=env, data_dir=data_dir)
        return self.hosts[name]

    def start_scheduler(self, name: str) -> None:
        """Celery beat alone, as the scheduler container runs it."""
        host = self.host(name)
        log = open(host.data_dir / "scheduler.log", "ab")  # noqa: SIM115 - the child's
        self.scheduler = subprocess.Popen(
            [sys.executable, str(ROOT / "deploy" / "docker" / "steward-container"), "scheduler"],
            env={**host.env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def store(self) -> Store:
        """The deployment's database (opened once)."""
        if self._store is None:
            self._store = open_store(self.database_url)
        return self._store

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()
        if self.scheduler is not None:
            self.scheduler.terminate()
            self.scheduler.wait(30)
        if self._store is not None:
            self._store.engine.dispose()


@contextmanager
def deployment(
    fake_github: tuple[FakeGitHub, str], redis_url: str, root: Path
) -> Iterator[Deployment]:
    with postgres_database() as url:
        open_store(url).engine.dispose()  # migrated once, before any process starts
        model_dir = root / "models"  # the shared model store
        made = Deployment(fake_github[1], redis_url, url, model_dir, root)
        try:
            yield made
        finally:
            made.stop()


def history_repo(fake: FakeGitHub) -> str:
    """A repository with 40 closed, labelled issues (bugs and wishes) and a status label."""
    from datetime import UTC, datetime, timedelta

    name = unique("multihost")
    labels = ["bug", "enhancement", "duplicate"]
    fake.add_repo(ORG, name, labels=labels, files={".github/steward.yml": CONFIG})
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(20):
        for k, (title, label) in enumerate(((BUG, "bug"), (WISH, "enhancement"))):
            fake.add_issue(
                ORG,
                name,
                title=title.format(THINGS[i % len(THINGS)]),
                labels=[label],
                state="closed",
                created_at=start + timedelta(hours=2 * i + k),
            )
    fake.add_issue(ORG, name, title=BUG.format("tags"), labels=["duplicate"], state="closed")
    return name


def install(bot: Bot, name: str) -> None:
    added = example("installation_repositories.added")
    added["installation"]["id"] = 777
    added["installation"]["account"]["login"] = ORG
    added["repositories_added"] = [{"id": 4242, "full_name": f"{ORG}/{name}", "name": name}]
    assert bot.deliver("installation_repositories", added)[0] == 202


def decide(fake: FakeGitHub, web: Bot, store: Store, name: str) -> list[dict[str, Any]]:
    """Open the probes one by one; each one's triage decision (what it would apply)."""
    found = []
    for title in PROBES:
        issue = fake.add_issue(ORG, name, title=title)
        payload = opened_payload("issues.opened", name, issue.number, "reporter")
        assert web.deliver("issues", payload)[0] == 202

        def decision(number: int = issue.number) -> dict[str, Any] | None:
            rows = [
                a for a in store.actions_for(f"{ORG}/{name}", number) if a["action"] == "decision"
            ]
            return rows[0] if rows else None

        row = wait_for(decision, timeout=180)
        detail = row["detail"]
        found.append(
            {
                "title": title,
                "applied": detail.get("applied"),
                "shadow": detail.get("shadow"),
                "source": detail.get("source"),
                "labels": fake.labels_on(ORG, name, issue.number),
            }
        )
    return found


def history_requests(fake: FakeGitHub, start: int, name: str) -> dict[str, int]:
    """The GitHub requests that read the repository's history, by kind."""
    made = fake.requests[start:]
    graphql = [
        r
        for r in made
        if r.path == "/graphql"
        and (r.json or {}).get("variables", {}).get("name") == name
        and "items:" in str((r.json or {}).get("query"))
    ]
    # The REST collector's listing: every item, oldest first (others list a few items).
    listing = [
        r
        for r in made
        if r.method == "GET"
        and r.path.endswith(f"/{name}/issues")
        and (r.query.get("sort"), r.query.get("direction")) == ("created", "asc")
    ]
    # (The day-one path's other calls are not compared: each process keeps its own
    # in-memory caches in front of the shared ETags, so which worker ran a task changes
    # whether a config or an issue is read again, as a 304 or a 200.)
    return {"graphql": len(graphql), "rest_listing": len(listing)}


def calls_about(fake: FakeGitHub, start: int, name: str) -> Counter[tuple[str, str, int]]:
    """The repository's requests since ``start`` as (method, path, status), its name
    taken out so two repositories compare."""
    return Counter(
        (r.method, r.path.replace(name, "<repo>"), r.status)
        for r in fake.requests[start:]
        if r.path.startswith(f"/repos/{ORG}/{name}/")
    )


def ran(bot: Bot, task: str) -> int:
    """How many ``task`` runs a host's worker finished."""
    log = (bot.data_dir / "worker.log").read_text(errors="replace")
    return sum(f"Task {task}[" in line and "succeeded" in line for line in log.splitlines())


def test_the_day_one_path_decides_on_several_hosts_as_on_one(
    fake_github: tuple[FakeGitHub, str], redis_url: str, tmp_path: Path
) -> None:
    fake = fake_github[0]
    # One host: serve and one worker with the embedded scheduler, one data directory.
    with deployment(fake_github, redis_url, tmp_path / "one") as one:
        host = one.host("host")
        host.start_server("--no-worker")
        host.workers.append(host._spawn("worker", "--beat", "--concurrency", "4", log="worker.log"))
        single = history_repo(fake)
        start = len(fake.requests)
        install(host, single)
        wait_for(lambda: one.store().profile_for(f"{ORG}/{single}"), timeout=300)
        alone = decide(fake, host, one.store(), single)
        alone_history = history_requests(fake, start, single)
        alone_calls = calls_about(fake, start, single)
        host.drain(redis_url)

    # Four hosts: the web, two workers, the scheduler; only Redis, PostgreSQL and the
    # model store are shared.
    with deployment(fake_github, redis_url, tmp_path / "four") as four:
        web = four.host("web")
        web.start_server("--no-worker")
        workers = [four.host("worker-1"), four.host("worker-2")]
        for worker in workers:
            worker.start_worker()
        four.start_scheduler("scheduler")
        spread = history_repo(fake)
        start = len(fake.requests)
        install(web, spread)
        wait_for(lambda: four.store().profile_for(f"{ORG}/{spread}"), timeout=300)
        web.drain(redis_url)
        (bootstrapped,) = [w for w in workers if ran(w, "steward.bootstrap")]
        bootstrapped.stop()  # the host that collected the history is gone
        elsewhere = decide(fake, web, four.store(), spread)
        spread_history = history_requests(fake, start, spread)
        spread_calls = calls_about(fake, start, spread)
        (other,) = [w for w in workers if w is not bootstrapped]
        assert ran(other, "steward.triage") == len(PROBES)
        hosts = list(four.hosts.values())

    assert elsewhere == alone  # the same labels on the same issues, live or in shadow
    assert any(d["shadow"] or d["applied"] for d in alone)
    extra = spread_calls - alone_calls
    assert spread_history == alone_history, (extra, alone_calls - spread_calls)
    # one query each for issues, pull requests and discussions; no REST listing
    assert alone_history["graphql"] == 3 and alone_history["rest_listing"] == 0
    for host in hosts:  # no host kept the history, or anything another one needs
        assert not (host.data_dir / "datasets").exists()
