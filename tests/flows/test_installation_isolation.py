"""Installations and repositories are isolated from each other (issue 24, item 7): a
task's token reaches only the repository it acts on, configuration is read with a
token that writes nothing, and a cached response of one installation or token scope is
never served to another.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from gidgethub import BadRequest
from sqlalchemy import update

from core.store import now_utc, repositories
from core.tasks import InstallationArgs, NoArgs, TriageArgs
from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG
from workers.auth import READ_CONTENTS, token_cache_key, token_request
from workers.installations.flow import run_forget, run_installation_sync
from workers.modelstore import ModelPaths, model_dir_of, point_live
from workers.runtime import InstallationGone
from workers.tasks import cannot_act
from workers.triage.flow import run_triage


@pytest.mark.parametrize(
    ("repo", "permissions", "body", "key"),
    [
        (None, (), {}, "steward:token:7"),
        ("Org/Repo", (), {"repositories": ["Repo"]}, "steward:token:7:org/repo"),
        (
            None,
            READ_CONTENTS,
            {"permissions": {"contents": "read", "metadata": "read"}},
            "steward:token:7:contents=read,metadata=read",
        ),
    ],
)
def test_token_requests_and_their_cache_keys(
    repo: str | None, permissions: tuple[tuple[str, str], ...], body: dict, key: str
) -> None:
    assert token_request(repo, permissions) == body
    assert token_cache_key(7, repo, permissions) == key


async def test_a_tasks_token_reaches_only_its_repository(flows: Flows) -> None:
    mine = flows.new_repo("isolated-mine")
    other = flows.new_repo("isolated-other")
    async with flows.runtime.task_context() as ctx:
        gh = await ctx.client(INSTALLATION_ID, repo=f"{ORG}/{mine}")
        found = await gh.getitem("/repos/{owner}/{repo}", {"owner": ORG, "repo": mine})
        assert found["name"] == mine
        with pytest.raises(BadRequest) as refused:
            await gh.getitem("/repos/{owner}/{repo}", {"owner": ORG, "repo": other})
    assert refused.value.status_code == 404  # as GitHub hides what a token cannot see
    requested = [r.json for r in flows.requests("POST", r"/app/installations/\d+/access_tokens$")]
    assert {"repositories": [mine]} in requested


async def test_the_configuration_reader_cannot_write(flows: Flows) -> None:
    repo = flows.new_repo("isolated-reader", config="mode: shadow\n")
    async with flows.runtime.task_context() as ctx:
        reader = await ctx.client(INSTALLATION_ID, permissions=READ_CONTENTS)
        ids = {"owner": ORG, "repo": repo}
        assert (await reader.getitem("/repos/{owner}/{repo}", ids))["name"] == repo
        with pytest.raises(BadRequest) as refused:
            await reader.post("/repos/{owner}/{repo}/issues", ids, data={"title": "x"})
    assert refused.value.status_code == 403
    assert flows.fake.repo(ORG, repo).issues == {}


async def test_cached_responses_stay_with_their_token_scope(flows: Flows) -> None:
    """A 200 cached (with its ETag) for the installation-wide token is not what a token
    narrowed to another repository gets for the same URL: it gets GitHub's 404."""
    shared = flows.new_repo("isolated-cached")
    other = flows.new_repo("isolated-elsewhere")
    ids = {"owner": ORG, "repo": shared}
    async with flows.runtime.task_context() as ctx:
        wide = await ctx.client(INSTALLATION_ID)
        assert (await wide.getitem("/repos/{owner}/{repo}", ids))["name"] == shared
        assert (await wide.getitem("/repos/{owner}/{repo}", ids))["name"] == shared  # 304
        narrow = await ctx.client(INSTALLATION_ID, repo=f"{ORG}/{other}")
        with pytest.raises(BadRequest) as refused:
            await narrow.getitem("/repos/{owner}/{repo}", ids)
    assert refused.value.status_code == 404
    keys = {k.decode() for k in flows.runtime.redis.scan_iter("steward:etag:*")}
    wide_prefix = f"steward:etag:{INSTALLATION_ID}:http"
    narrow_prefix = f"steward:etag:{INSTALLATION_ID}:{ORG.lower()}/{other.lower()}:"
    assert any(k.startswith(wide_prefix) and shared in k for k in keys)
    assert not any(k.startswith(narrow_prefix) and shared in k for k in keys)


GONE = 990_001  # an installation these tests install and remove in the store


def sync(action: str, *, added: tuple[tuple[int, str], ...] = ()) -> InstallationArgs:
    """An installation event, as its route queues it."""
    return InstallationArgs(
        installation_id=GONE, action=action, account=ORG, account_type="Organization", added=added
    )


async def test_an_uninstalled_installations_work_stops_and_its_credentials_go(
    flows: Flows,
) -> None:
    repo = flows.new_repo("isolated-uninstalled")
    await flows.run(run_installation_sync, sync("created", added=((4401, f"{ORG}/{repo}"),)))
    flows.runtime.redis.set(f"steward:token:{GONE}", "x")
    flows.runtime.redis.set(f"steward:token:{GONE}:{ORG.lower()}/{repo.lower()}", "x")
    flows.runtime.redis.set(f"steward:etag:{GONE}:*:https://api/x", "x")
    flows.runtime.redis.set("steward:token:1", "another installation's")

    removed = await flows.run(run_installation_sync, sync("deleted"))

    assert removed == {"installation": GONE, "deleted": True}
    assert [k for k in flows.runtime.redis.scan_iter(f"steward:*:{GONE}*")] == []
    assert flows.runtime.redis.get("steward:token:1") == b"another installation's"
    issue = flows.fake.add_issue(ORG, repo, title="Crash on save")
    triage = TriageArgs(
        installation_id=GONE, owner=ORG, repo=repo, number=issue.number, kind="issue"
    )
    async with flows.runtime.task_context() as ctx:
        with pytest.raises(InstallationGone, match="was removed"):
            await run_triage(ctx, triage)
    assert cannot_act(InstallationGone("x")) == {"skipped": "x"}  # the task ends, no retry
    assert flows.requests() == []  # not one call to GitHub, not even for a token


async def test_removed_repositories_are_forgotten_after_the_retention_period(
    flows: Flows,
) -> None:
    old = f"{ORG}/{flows.new_repo('isolated-old')}"
    recent = f"{ORG}/{flows.new_repo('isolated-recent')}"
    store = flows.store
    store.add_repositories(GONE, [(4501, old), (4502, recent)])
    for full in (old, recent):
        store.record_feedback(repo=full, number=1, kind="label_removed", subject="bug", actor="m")
        store.replace_gates(full, source="model", gates=[])
        store.add_model_version(full, "/x", metrics={}, fingerprint="f", promoted=True)
    store.remove_repositories([4501, 4502])
    past = now_utc() - timedelta(days=31)
    with store.engine.begin() as conn:  # removed 31 days ago, as if time had passed
        conn.execute(update(repositories).where(repositories.c.id == 4501).values(removed_at=past))
    live = ModelPaths(model_dir_of(flows.settings), old)
    live.version(1).mkdir(parents=True)
    (live.version(1) / "triage.json").write_text("{}")
    point_live(live, 1)

    result = await flows.run(run_forget, NoArgs())

    assert list(result["forgotten"]) == [old]
    assert store.feedback_for(old) == [] and store.model_versions_for(old) == []
    assert store.feedback_for(recent) and store.model_versions_for(recent)  # within 30 days
    assert not live.live.exists() and not live.live.is_symlink() and not live.versions.exists()
    assert (await flows.run(run_forget, NoArgs()))["forgotten"] == {}  # nothing twice
