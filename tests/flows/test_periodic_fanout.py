"""Periodic work fans out and fails alone (issue 24, item 7), run through the Celery
tasks themselves (``workers/tasks.py``, as a worker runs them, the flows' runtime in
place of the process's): the hourly follow-up and the digest queue one task per
repository in its installation's lane; a repository whose installation GitHub no longer
knows ends its own task with the reason, an item someone deleted is skipped, and every
other repository is done. The daily forget deletes what was uninstalled more than
``STEWARD_RETENTION_DAYS`` ago, and nothing younger.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery import Task
from sqlalchemy import update

from core.store import ItemFact, installations, now_utc, repositories
from core.tasks import DIGEST_REPO, FOLLOWUP_REPO
from tests.flows.conftest import Flows, Outbox
from tests.flows.test_reviewers_flow import repo_with_history
from tests.support import INSTALLATION_ID, ORG
from workers import runtime as worker_runtime
from workers import tasks

#: An installation the store still has but GitHub no longer knows (its
#: ``installation.deleted`` never arrived): minting its token is answered 404. Its id
#: sorts before the test installation's, so its repositories come first in each run.
GONE_ON_GITHUB = 101
#: An installation whose ``installation.deleted`` the store recorded.
REMOVED = 102
FOLLOWUP_ON = "followup:\n  enabled: true\n"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_ids = itertools.count(9_100_000)


@pytest.fixture
def worker(flows: Flows, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flows]:
    """The Celery tasks run with the flows' runtime (its store, fake and outbox)."""
    monkeypatch.setattr(worker_runtime, "_runtime", flows.runtime)
    yield flows


def run(task: Task, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run a registered task here, as a worker would, and return its result."""
    result: dict[str, Any] = task.apply(kwargs=kwargs, throw=True).get()
    return result


def run_queued(flows: Flows, task: Task) -> dict[str, dict[str, Any]]:
    """Run each queued message of ``task`` through it, in the order queued (taking them
    out of the outbox): results by ``owner/repo``."""
    outbox = flows.runtime.send
    assert isinstance(outbox, Outbox)
    mine = [message for name, message in outbox.sent if name == task.name]
    outbox.sent[:] = [(name, message) for name, message in outbox.sent if name != task.name]
    return {f"{m['owner']}/{m['repo']}": run(task, m) for m in mine}


def opened(flows: Flows, repo: str, number: int, *, installation_id: int, at: datetime) -> None:
    """Record an item opened at ``at`` that nobody answered."""
    fact = ItemFact(
        repo=f"{ORG}/{repo}",
        number=number,
        kind="issue",
        installation_id=installation_id,
        author="dave",
        opened_at=at,
    )
    assert flows.store.note_item(fact)


def unanswered(flows: Flows, repo: str, *, installation_id: int = INSTALLATION_ID) -> int:
    """An open issue of ``ORG/repo`` that alice knows about, unanswered since ``T0``."""
    issue = flows.fake.add_issue(
        ORG,
        repo,
        title="http2 transport hangs",
        body="net/http2/transport.go never returns",
        user="dave",
    )
    opened(flows, repo, issue.number, installation_id=installation_id, at=T0)
    return int(issue.number)


def test_one_failing_repository_does_not_stop_the_hourly_followup(worker: Flows) -> None:
    flows = worker
    fine = asyncio.run(repo_with_history(flows, FOLLOWUP_ON))
    mixed = asyncio.run(repo_with_history(flows, FOLLOWUP_ON))
    orphan = flows.new_repo("orphaned", config=FOLLOWUP_ON)
    removed = flows.new_repo("removed", config=FOLLOWUP_ON)
    unanswered(flows, orphan, installation_id=GONE_ON_GITHUB)
    unanswered(flows, removed, installation_id=REMOVED)
    flows.store.upsert_installation(REMOVED, ORG, "Organization")
    flows.store.delete_installation(REMOVED)
    first = unanswered(flows, fine)
    deleted, alive = unanswered(flows, mixed), unanswered(flows, mixed)
    del flows.fake.repo(ORG, mixed).issues[deleted]  # an admin deleted it
    now = (T0 + timedelta(hours=80)).isoformat()

    scheduled = run(tasks.followup, {"now": now})

    full = {name: f"{ORG}/{name}" for name in (fine, mixed, orphan, removed)}
    assert scheduled == {
        "queued": [full[orphan], *sorted([full[fine], full[mixed]])],
        "removed": [full[removed]],
    }
    queued = flows.queued(FOLLOWUP_REPO.name)  # each in its installation's lane
    assert {(m["repo"], m["installation_id"], m["now"]) for m in queued} == {
        (orphan, GONE_ON_GITHUB, now),
        (fine, INSTALLATION_ID, now),
        (mixed, INSTALLATION_ID, now),
    }
    results = run_queued(flows, tasks.followup_repo)
    assert results[full[orphan]]["skipped"].startswith("GitHub answered 404")
    assert results[full[fine]] == {"routed": {f"{full[fine]}#{first}": "alice"}}
    assert results[full[mixed]] == {
        "routed": {
            f"{full[mixed]}#{deleted}": "gone (GitHub answered 404)",
            f"{full[mixed]}#{alive}": "alice",
        }
    }
    assert flows.actions(mixed, alive, "mention") and not flows.actions(mixed, deleted)

    # The deleted item is settled; the orphan's is still due, and asked for again.
    later = run(tasks.followup, {"now": (T0 + timedelta(hours=81)).isoformat()})
    assert later == {"queued": [full[orphan]], "removed": [full[removed]]}


def test_one_failing_repository_does_not_stop_the_digest(worker: Flows) -> None:
    flows = worker
    config = "digest:\n  issue: true\n"
    fine, mixed, orphan = (flows.new_repo("digest-fanout", config=config) for _ in range(3))
    flows.store.add_repositories(GONE_ON_GITHUB, [(next(_ids), f"{ORG}/{orphan}")])
    flows.store.add_repositories(
        INSTALLATION_ID, [(next(_ids), f"{ORG}/{fine}"), (next(_ids), f"{ORG}/{mixed}")]
    )
    now = datetime.now(UTC)
    for repo in (fine, mixed):
        opened(flows, repo, 1, installation_id=INSTALLATION_ID, at=now - timedelta(hours=1))
    full = {name: f"{ORG}/{name}" for name in (fine, mixed, orphan)}

    scheduled = run(tasks.digest, {"now": now.isoformat()})

    assert scheduled == {"queued": [full[orphan], *sorted([full[fine], full[mixed]])]}
    results = run_queued(flows, tasks.digest_repo)
    assert results[full[orphan]]["skipped"].startswith("GitHub answered 404")
    posted = {}
    for repo in (fine, mixed):
        outcome = results[full[repo]]["digest"][full[repo]]["issue"]
        assert outcome.startswith("opened #")
        posted[repo] = int(outcome.removeprefix("opened #"))
    del flows.fake.repo(ORG, mixed).issues[posted[mixed]]  # an admin deleted this week's

    run(tasks.digest, {"now": (now + timedelta(minutes=5)).isoformat()})
    again = run_queued(flows, tasks.digest_repo)

    assert again[full[orphan]]["skipped"].startswith("GitHub answered 404")
    assert again[full[fine]]["digest"][full[fine]] == {"issue": f"#{posted[fine]} unchanged"}
    assert again[full[mixed]]["digest"][full[mixed]] == {
        "issue": f"#{posted[mixed]} is gone (GitHub answered 404): not posted again this week"
    }
    assert flows.queued(DIGEST_REPO.name) == []


def test_what_was_uninstalled_is_forgotten_after_the_retention_period(worker: Flows) -> None:
    """Two installations deleted (``installation.deleted``), 31 days ago and a day ago,
    each with a repository that has feedback and a model version; the daily task forgets
    the first only (``STEWARD_RETENTION_DAYS`` is 30)."""
    flows, store = worker, worker.store
    old_id, recent_id = 990_201, 990_202
    old, recent = f"{ORG}/{flows.new_repo('forget-old')}", f"{ORG}/{flows.new_repo('forget-new')}"
    for installation, full in ((old_id, old), (recent_id, recent)):
        store.upsert_installation(installation, ORG, "Organization")
        store.add_repositories(installation, [(next(_ids), full)])
        store.record_feedback(repo=full, number=1, kind="label_removed", subject="bug", actor="m")
        store.add_model_version(full, "/x", metrics={}, fingerprint="f", promoted=True)
        store.delete_installation(installation)
    past = now_utc() - timedelta(days=31)
    with store.engine.begin() as conn:  # uninstalled 31 days ago, as if time had passed
        conn.execute(
            update(installations).where(installations.c.id == old_id).values(deleted_at=past)
        )
        conn.execute(
            update(repositories)
            .where(repositories.c.installation_id == old_id)
            .values(removed_at=past)
        )
    assert flows.settings.retention_days == 30

    result = run(tasks.forget, {})

    assert list(result["forgotten"]) == [old]
    assert store.feedback_for(old) == [] and store.model_versions_for(old) == []
    assert store.feedback_for(recent) and store.model_versions_for(recent)  # a day: kept
    assert run(tasks.forget, {}) == {"forgotten": {}}  # nothing twice
