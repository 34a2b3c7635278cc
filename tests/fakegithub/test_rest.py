"""REST behaviour: pagination, ETags, contents, labels, reviewers, headers."""

from __future__ import annotations

import base64
import re

import pytest

from fakegithub.state import git_blob_sha
from tests.fakegithub.helpers import OWNER, REPO, Served

ISSUES = f"/repos/{OWNER}/{REPO}/issues"


def _links(header: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


async def test_pagination_link_headers(served: Served) -> None:
    for n in range(7):
        served.fake.add_issue(OWNER, REPO, title=f"issue {n}")
    status, page1, resp = await served.call("GET", ISSUES, params={"per_page": "3"})
    links = _links(resp.headers["Link"])
    assert (status, len(page1), set(links)) == (200, 3, {"next", "last"})
    assert "per_page=3" in links["next"] and "page=2" in links["next"]
    assert links["last"].endswith("page=3")
    _, page3, resp = await served.call("GET", ISSUES, params={"per_page": "3", "page": "3"})
    assert len(page3) == 1
    assert set(_links(resp.headers["Link"])) == {"prev", "first"}
    assert [i["number"] for i in page1] == [7, 6, 5]  # newest first, like GitHub
    assert served.fake.violations == []


async def test_single_page_has_no_link_header(served: Served) -> None:
    _, _, resp = await served.call("GET", ISSUES)
    assert "Link" not in resp.headers


async def test_etag_and_if_none_match(served: Served) -> None:
    served.fake.add_issue(OWNER, REPO, title="cache me")
    status, _, resp = await served.call("GET", f"{ISSUES}/1")
    etag = resp.headers["ETag"]
    status, body, resp = await served.call("GET", f"{ISSUES}/1", headers={"If-None-Match": etag})
    assert (status, body) == (304, None)
    served.fake.issue(OWNER, REPO, 1).title = "changed"
    status, body, _ = await served.call("GET", f"{ISSUES}/1", headers={"If-None-Match": etag})
    assert (status, body["title"]) == (200, "changed")


@pytest.mark.parametrize(
    ("path", "status"),
    [(".github/steward.yml", 200), (".github/missing.yml", 404), ("nope/../x", 404)],
)
async def test_contents(served: Served, path: str, status: int) -> None:
    got, body, _ = await served.call("GET", f"/repos/{OWNER}/{REPO}/contents/{path}")
    assert got == status
    if status == 200:
        assert base64.b64decode(body["content"]) == b"mode: live\n"
        assert body["sha"] == git_blob_sha(b"mode: live\n")
        assert body["encoding"] == "base64"
    else:
        assert body["message"] == "Not Found"


async def test_rate_limit_headers_on_every_response(served: Served) -> None:
    _, _, first = await served.call("GET", f"/repos/{OWNER}/{REPO}")
    _, _, second = await served.call("GET", "/nope")
    for resp in (first, second):
        assert {
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-used",
            "x-ratelimit-resource",
        } <= {k.lower() for k in resp.headers}
    assert first.headers["x-ratelimit-resource"] == "core"


async def test_issue_list_includes_pulls_and_filters(served: Served) -> None:
    fake = served.fake
    fake.add_issue(OWNER, REPO, title="bug report", user="dave", labels=["bug"])
    fake.add_pull(OWNER, REPO, title="a fix", user="erin", files=["src/a.py"])
    fake.add_issue(OWNER, REPO, title="old", state="closed")
    _, everything, _ = await served.call("GET", ISSUES, params={"state": "all"})
    assert [("pull_request" in i, i["number"]) for i in everything] == [
        (False, 3),
        (True, 2),
        (False, 1),
    ]
    _, bugs, _ = await served.call("GET", ISSUES, params={"labels": "bug", "creator": "dave"})
    assert [i["number"] for i in bugs] == [1]
    _, pulls, _ = await served.call("GET", f"/repos/{OWNER}/{REPO}/pulls")
    assert [p["number"] for p in pulls] == [2]
    _, files, _ = await served.call("GET", f"/repos/{OWNER}/{REPO}/pulls/2/files")
    assert [f["filename"] for f in files] == ["src/a.py"]
    assert fake.violations == []


async def test_labels_round_trip_with_events(served: Served) -> None:
    fake = served.fake
    fake.add_issue(OWNER, REPO, title="t", labels=["bug"])
    status, labels, _ = await served.call(
        "POST", f"{ISSUES}/1/labels", json={"labels": ["enhancement", "brand new"]}
    )
    assert (status, [x["name"] for x in labels]) == (200, ["bug", "enhancement", "brand new"])
    status, labels, _ = await served.call("DELETE", f"{ISSUES}/1/labels/brand%20new")
    assert (status, fake.labels_on(OWNER, REPO, 1)) == (200, ["bug", "enhancement"])
    status, _, _ = await served.call("DELETE", f"{ISSUES}/1/labels/absent")
    assert status == 404
    _, events, _ = await served.call("GET", f"{ISSUES}/1/events")
    assert [(e["event"], e["label"]["name"], e["actor"]["login"]) for e in events] == [
        ("labeled", "enhancement", "steward[bot]"),
        ("labeled", "brand new", "steward[bot]"),
        ("unlabeled", "brand new", "steward[bot]"),
    ]
    assert fake.violations == []


async def test_comments_create_and_edit(served: Served) -> None:
    served.fake.add_issue(OWNER, REPO, title="t")
    status, made, _ = await served.call("POST", f"{ISSUES}/1/comments", json={"body": "hi"})
    assert (status, made["user"]["login"]) == (201, "steward[bot]")
    status, edited, _ = await served.call(
        "PATCH", f"/repos/{OWNER}/{REPO}/issues/comments/{made['id']}", json={"body": "bye"}
    )
    assert (status, edited["body"]) == (200, "bye")
    assert served.fake.comment_bodies(OWNER, REPO, 1) == ["bye"]
    assert served.fake.violations == []


@pytest.mark.parametrize(
    ("reviewers", "status", "requested"),
    [(["alice"], 201, ["alice"]), (["mallory"], 422, []), (["erin"], 422, [])],
    ids=["collaborator", "not a collaborator", "the author"],
)
async def test_request_reviewers(
    served: Served, reviewers: list[str], status: int, requested: list[str]
) -> None:
    served.fake.add_pull(OWNER, REPO, title="p", user="erin")
    got, _, _ = await served.call(
        "POST", f"/repos/{OWNER}/{REPO}/pulls/1/requested_reviewers", json={"reviewers": reviewers}
    )
    assert got == status
    assert served.fake.requested_reviewers(OWNER, REPO, 1) == requested
    assert served.fake.violations == []


async def test_collaborator_permission(served: Served) -> None:
    _, body, _ = await served.call("GET", f"/repos/{OWNER}/{REPO}/collaborators/alice/permission")
    assert (body["permission"], body["role_name"]) == ("write", "maintain")
    status, _, _ = await served.call(
        "GET", f"/repos/{OWNER}/{REPO}/collaborators/nobody-at-all/permission"
    )
    assert status == 404


async def test_requests_are_recorded_without_authorization(served: Served) -> None:
    await served.call("GET", f"/repos/{OWNER}/{REPO}", params={})
    (call,) = served.fake.calls("GET", r"^/repos/acme/widgets$")
    assert call.operation_id == "repos/get"
    assert "authorization" not in call.headers
