"""Installations and repositories are isolated from each other (issue 24, item 7): a
task's token reaches only the repository it acts on, configuration is read with a
token that writes nothing, and a cached response of one installation or token scope is
never served to another.
"""

from __future__ import annotations

import pytest
from gidgethub import BadRequest

from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG
from workers.auth import READ_CONTENTS, token_cache_key, token_request


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
