"""``GET /search/issues`` qualifiers."""

from __future__ import annotations

import pytest

from fakegithub import FakeGitHub
from tests.fakegithub.helpers import OWNER, REPO, Served


def _world(fake: FakeGitHub) -> None:
    fake.add_issue(OWNER, REPO, title="crash on start", user="dave", labels=["bug"])  # 1
    fake.add_issue(OWNER, REPO, title="feature idea", user="erin", state="closed")  # 2
    fake.add_pull(OWNER, REPO, title="fix crash", user="dave", merged=True)  # 3
    fake.add_pull(OWNER, REPO, title="wip", user="erin", labels=["good first issue"])  # 4
    fake.add_repo("other", "repo")
    fake.add_issue("other", "repo", title="not visible", user="dave")


@pytest.mark.parametrize(
    ("query", "numbers"),
    [
        (f"repo:{OWNER}/{REPO}", [4, 3, 2, 1]),
        (f"repo:{OWNER}/{REPO} is:issue", [2, 1]),
        (f"repo:{OWNER}/{REPO} type:pr", [4, 3]),
        (f"repo:{OWNER}/{REPO} is:pr is:merged", [3]),
        (f"repo:{OWNER}/{REPO} is:open", [4, 1]),
        (f"repo:{OWNER}/{REPO} author:dave", [3, 1]),
        (f"repo:{OWNER}/{REPO} author:dave is:pr is:merged", [3]),
        (f'repo:{OWNER}/{REPO} label:"good first issue"', [4]),
        (f"repo:{OWNER}/{REPO} label:bug is:open", [1]),
        (f"repo:{OWNER}/{REPO} crash", [3, 1]),
        ("author:dave", [3, 1]),  # the other org is not covered by the installation
    ],
)
async def test_search_qualifiers(served: Served, query: str, numbers: list[int]) -> None:
    _world(served.fake)
    status, body, _ = await served.call("GET", "/search/issues", params={"q": query})
    assert status == 200
    assert body["total_count"] == len(numbers)
    assert body["incomplete_results"] is False
    assert [i["number"] for i in body["items"]] == numbers
    assert served.fake.violations == []
