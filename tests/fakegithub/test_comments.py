"""Comment reactions, assignees, comment edits and comment deliveries in the fake."""

from __future__ import annotations

import pytest

from fakegithub import load_webhook_example
from tests.fakegithub.helpers import OWNER, REPO, Served

BASE = f"/repos/{OWNER}/{REPO}"
REACT = """
mutation($id: ID!, $content: ReactionContent!) {
  addReaction(input: {subjectId: $id, content: $content}) { reaction { id content } }
}
"""
COMMENT = "query($id: ID!) { node(id: $id) { ... on DiscussionComment { body updatedAt } } }"


async def test_reactions_on_an_issue_comment(served: Served) -> None:
    item = served.fake.add_issue(OWNER, REPO, title="x")
    made = served.fake.add_comment(OWNER, REPO, item.number, body="/label bug", user="alice")
    path = f"{BASE}/issues/comments/{made.id}/reactions"
    first = await served.call("POST", path, json={"content": "+1"})
    again = await served.call("POST", path, json={"content": "+1"})
    assert (first[0], again[0]) == (201, 200) and first[1]["id"] == again[1]["id"]
    await served.call("POST", path, json={"content": "confused"})
    status, listed, _ = await served.call("GET", path, params={"content": "confused"})
    assert (status, [r["content"] for r in listed]) == (200, ["confused"])
    _, comment, _ = await served.call("GET", f"{BASE}/issues/comments/{made.id}")
    assert comment["reactions"]["total_count"] == 2 and comment["reactions"]["+1"] == 1
    bad, _, _ = await served.call("POST", path, json={"content": "thumbs"})
    assert bad == 422
    assert served.fake.reactions_on(OWNER, REPO, made.id) == [
        ("steward[bot]", "+1"),
        ("steward[bot]", "confused"),
    ]
    assert [v.kind for v in served.fake.violations] == ["request-body"]


async def test_reactions_on_a_discussion_comment(served: Served) -> None:
    found = served.fake.add_discussion(OWNER, REPO, title="Idea")
    made = served.fake.add_discussion_comment(OWNER, REPO, found.number, body="hi")
    for _ in range(2):
        answer = await served.graphql(REACT, id=made.node_id, content="THUMBS_UP")
        assert answer["data"]["addReaction"]["reaction"]["content"] == "THUMBS_UP"
    assert served.fake.reactions_on(OWNER, REPO, made.id) == [("steward[bot]", "+1")]
    missing = await served.graphql(REACT, id="DC_nope", content="CONFUSED")
    assert missing["errors"][0]["type"] == "NOT_FOUND"


@pytest.mark.parametrize(("login", "status"), [("alice", 204), ("BOB", 204), ("mallory", 404)])
async def test_check_assignee(served: Served, login: str, status: int) -> None:
    got, body, _ = await served.call("GET", f"{BASE}/assignees/{login}")
    assert got == status and (body is None) == (status == 204)


async def test_remove_assignees(served: Served) -> None:
    item = served.fake.add_issue(OWNER, REPO, title="x")
    item.assignees = ["alice", "bob"]
    status, body, _ = await served.call(
        "DELETE", f"{BASE}/issues/{item.number}/assignees", json={"assignees": ["Alice", "zed"]}
    )
    assert status == 200 and [a["login"] for a in body["assignees"]] == ["bob"]
    assert [(e.event, e.assignee) for e in item.events] == [("unassigned", "alice")]
    assert served.fake.violations == []


async def test_edits_and_their_deliveries(served: Served) -> None:
    fake = served.fake
    pull = fake.add_pull(OWNER, REPO, title="fix", user="bob")
    made = fake.add_comment(OWNER, REPO, pull.number, body="old", user="alice")
    served.clock.advance(5)
    fake.edit_comment(OWNER, REPO, made.id, body="/label bug")
    payload = fake.comment_payload(OWNER, REPO, made.id, action="edited", previous="old")
    real = load_webhook_example("issue_comment.edited")
    assert set(payload) == set(real) | {"installation"}
    assert payload["changes"] == {"body": {"from": "old"}}
    assert payload["comment"]["body"] == "/label bug" and payload["comment"]["id"] == made.id
    assert payload["comment"]["updated_at"] != payload["comment"]["created_at"]
    assert payload["issue"]["number"] == pull.number and "pull_request" in payload["issue"]
    assert payload["repository"]["full_name"] == f"{OWNER}/{REPO}"
    assert payload["installation"]["id"] == 7 and payload["sender"]["login"] == "alice"

    found = fake.add_discussion(OWNER, REPO, title="Idea")
    other = fake.add_discussion_comment(OWNER, REPO, found.number, body="a", author="bob")
    served.clock.advance(5)
    fake.edit_discussion_comment(OWNER, REPO, other.id, body="/label bug")
    payload = fake.comment_payload(OWNER, REPO, other.id, action="edited")
    assert set(payload) == set(load_webhook_example("discussion_comment.edited")) | {"installation"}
    assert payload["discussion"]["node_id"] == found.node_id
    assert (payload["comment"]["node_id"], payload["comment"]["user"]["login"]) == (
        other.node_id,
        "bob",
    )
    node = (await served.graphql(COMMENT, id=other.node_id))["data"]["node"]
    assert node["body"] == "/label bug" and node["updatedAt"] == payload["comment"]["updated_at"]
