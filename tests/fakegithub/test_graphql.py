"""``POST /graphql`` over the schema subset."""

from __future__ import annotations

from tests.fakegithub.helpers import OWNER, REPO, Served

DISCUSSION = """
query($id: ID!, $after: String) {
  node(id: $id) {
    ... on Discussion {
      number title body author { login }
      labels(first: 10) { nodes { name } }
      comments(first: 1, after: $after) {
        nodes { id body author { login } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""

ADD_COMMENT = """
mutation($id: ID!, $body: String!) {
  addDiscussionComment(input: {discussionId: $id, body: $body}) { comment { id url body } }
}
"""

ADD_LABELS = """
mutation($id: ID!, $labels: [ID!]!) {
  addLabelsToLabelable(input: {labelableId: $id, labelIds: $labels}) {
    labelable { ... on Discussion { labels(first: 5) { nodes { name } } } }
  }
}
"""

REPO_QUERY = """
query($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    discussion(number: 1) { title }
    labels(first: 2, after: $after) {
      nodes { id name description } pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def test_comment_mutation_then_query_round_trip(served: Served) -> None:
    fake = served.fake
    found = fake.add_discussion(OWNER, REPO, title="How?", body="Q", author="frank")
    fake.add_discussion_comment(OWNER, REPO, found.number, body="first", author="alice")
    made = await served.graphql(ADD_COMMENT, id=found.node_id, body="Welcome!")
    comment = made["data"]["addDiscussionComment"]["comment"]
    stored = fake.discussion_comments(OWNER, REPO, found.number)[-1]
    assert comment == {
        "id": stored.node_id,
        "body": "Welcome!",
        "url": f"https://github.com/{OWNER}/{REPO}/discussions/{found.number}"
        f"#discussioncomment-{stored.id}",
    }
    page1 = (await served.graphql(DISCUSSION, id=found.node_id))["data"]["node"]
    assert (page1["title"], page1["author"]["login"]) == ("How?", "frank")
    assert [n["body"] for n in page1["comments"]["nodes"]] == ["first"]
    info = page1["comments"]["pageInfo"]
    assert info["hasNextPage"] is True
    page2 = await served.graphql(DISCUSSION, id=found.node_id, after=info["endCursor"])
    nodes = page2["data"]["node"]["comments"]["nodes"]
    assert [(n["body"], n["author"]["login"]) for n in nodes] == [("Welcome!", "steward[bot]")]
    assert [c.body for c in fake.discussion_comments(OWNER, REPO, 1)] == ["first", "Welcome!"]


async def test_labels_via_repository_and_add_labels(served: Served) -> None:
    found = served.fake.add_discussion(OWNER, REPO, title="Q")
    page = await served.graphql(REPO_QUERY, owner=OWNER, name=REPO)
    labels = page["data"]["repository"]["labels"]
    assert [n["name"] for n in labels["nodes"]] == ["bug", "enhancement"]
    assert labels["pageInfo"]["hasNextPage"] is True
    rest = await served.graphql(
        REPO_QUERY, owner=OWNER, name=REPO, after=labels["pageInfo"]["endCursor"]
    )
    last = rest["data"]["repository"]["labels"]["nodes"]
    assert [n["name"] for n in last] == ["good first issue"]
    result = await served.graphql(ADD_LABELS, id=found.node_id, labels=[last[0]["id"]])
    names = result["data"]["addLabelsToLabelable"]["labelable"]["labels"]["nodes"]
    assert names == [{"name": "good first issue"}]
    assert served.fake.labels_on(OWNER, REPO, found.number) == ["good first issue"]


async def test_search_discussion_count(served: Served) -> None:
    fake = served.fake
    fake.add_discussion(OWNER, REPO, title="a", author="frank")
    fake.add_discussion(OWNER, REPO, title="b", author="frank")
    fake.add_discussion(OWNER, REPO, title="c", author="gina")
    query = (
        "query($q: String!) { search(query: $q, type: DISCUSSION, first: 1) { discussionCount } }"
    )
    result = await served.graphql(query, q=f"repo:{OWNER}/{REPO} author:frank")
    assert result == {"data": {"search": {"discussionCount": 2}}}


async def test_invalid_query_and_not_found_errors(served: Served) -> None:
    invalid = await served.graphql('{ repository(owner: "acme") { nope } }')
    assert "data" not in invalid and len(invalid["errors"]) >= 2
    syntax = await served.graphql("{ repository(")
    assert syntax["errors"][0]["message"].startswith("Syntax Error")
    missing = await served.graphql("query($id: ID!) { node(id: $id) { id } }", id="D_nope")
    assert missing["data"] == {"node": None}
    assert missing["errors"][0]["type"] == "NOT_FOUND"
    unpaged = await served.graphql(
        '{ repository(owner: "acme", name: "widgets") { labels { totalCount } } }'
    )
    assert unpaged["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"


async def test_graphql_needs_a_token(served: Served) -> None:
    status, body, _ = await served.call(
        "POST", "/graphql", json={"query": "{ viewer { login } }"}, token="ghs_wrong"
    )
    assert (status, body["message"]) == (401, "Bad credentials")


CATEGORIES_AND_CREATE = """
query($owner: String!, $name: String!) {
  repository(owner: $owner, name: $name) {
    id
    discussionCategories(first: 10) { nodes { id name isAnswerable } }
  }
}
"""

CREATE = """
mutation($repo: ID!, $category: ID!, $title: String!, $body: String!) {
  createDiscussion(
    input: {repositoryId: $repo, categoryId: $category, title: $title, body: $body}
  ) { discussion { id number closed category { name } author { login } } }
}
"""

UPDATE = """
mutation($id: ID!, $body: String!) {
  updateDiscussion(input: {discussionId: $id, body: $body}) { discussion { body } }
}
"""


async def test_create_then_update_a_discussion_in_a_category(served: Served) -> None:
    fake = served.fake
    repo = (await served.graphql(CATEGORIES_AND_CREATE, owner=OWNER, name=REPO))["data"]
    categories = {c["name"]: c["id"] for c in repo["repository"]["discussionCategories"]["nodes"]}
    assert {"General", "Announcements", "Q&A"} <= set(categories)
    made = await served.graphql(
        CREATE,
        repo=repo["repository"]["id"],
        category=categories["Announcements"],
        title="Weekly digest",
        body="numbers",
    )
    discussion = made["data"]["createDiscussion"]["discussion"]
    assert discussion["closed"] is False and discussion["category"] == {"name": "Announcements"}
    assert discussion["author"]["login"].endswith("[bot]")
    stored = fake.repo(OWNER, REPO).discussions[discussion["number"]]
    assert stored.title == "Weekly digest"

    edited = await served.graphql(UPDATE, id=discussion["id"], body="new numbers")
    assert edited["data"]["updateDiscussion"]["discussion"] == {"body": "new numbers"}
    assert stored.body == "new numbers" and stored.updated_at is not None


async def test_create_in_an_unknown_category_and_update_of_another_persons_discussion(
    served: Served,
) -> None:
    fake = served.fake
    repo_id = fake.repo(OWNER, REPO).node_id
    wrong = await served.graphql(CREATE, repo=repo_id, category="DIC_nope", title="t", body="b")
    assert wrong["data"]["createDiscussion"] is None
    assert wrong["errors"][0]["type"] == "NOT_FOUND"
    theirs = fake.add_discussion(OWNER, REPO, title="Mine", body="x", author="frank")
    refused = await served.graphql(UPDATE, id=theirs.node_id, body="edited by a bot")
    assert refused["errors"][0]["type"] == "FORBIDDEN" and theirs.body == "x"


LIST = """
query($owner: String!, $name: String!, $category: ID) {
  repository(owner: $owner, name: $name) {
    discussions(first: 2, categoryId: $category, orderBy: {field: CREATED_AT, direction: DESC}) {
      totalCount nodes { number title }
    }
  }
}
"""


async def test_discussions_newest_first_by_category(served: Served) -> None:
    from datetime import UTC, datetime, timedelta

    fake = served.fake
    start = datetime(2026, 12, 1, tzinfo=UTC)
    made = [
        fake.add_discussion(
            OWNER, REPO, title=f"d{i}", category=cat, created_at=start + timedelta(hours=i)
        )
        for i, cat in enumerate(("General", "Announcements", "Announcements", "Announcements"))
    ]
    everything = await served.graphql(LIST, owner=OWNER, name=REPO)
    found = everything["data"]["repository"]["discussions"]
    assert found["totalCount"] >= 4 and [n["title"] for n in found["nodes"]] == ["d3", "d2"]
    category = f"DIC_{fake.repo(OWNER, REPO).id}_Announcements"
    some = await served.graphql(LIST, owner=OWNER, name=REPO, category=category)
    listed = some["data"]["repository"]["discussions"]
    assert listed["totalCount"] == 3 and [n["number"] for n in listed["nodes"]] == [
        made[3].number,
        made[2].number,
    ]
