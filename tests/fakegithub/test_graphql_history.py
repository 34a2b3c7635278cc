"""``POST /graphql`` for a history backfill: a repository's issues and pull requests a
hundred at a time, with labels, the label events of their timeline, a pull request's
files and ``rateLimit``; its discussions with labels, category, answer state and times;
all within the committed schema subset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakegithub.helpers import OWNER, REPO, Served

BASE = datetime(2024, 1, 1, tzinfo=UTC)

ITEMS = """
query($owner: String!, $name: String!, $first: Int!, $after: String, $since: DateTime,
      $direction: OrderDirection = ASC) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    issues(first: $first, after: $after, filterBy: {since: $since},
           orderBy: {field: UPDATED_AT, direction: $direction}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        number title body createdAt updatedAt closedAt
        labels(first: 100) { nodes { name } }
        timelineItems(first: 100, itemTypes: [LABELED_EVENT, UNLABELED_EVENT]) {
          pageInfo { hasNextPage endCursor }
          nodes {
            __typename
            ... on LabeledEvent { actor { login __typename } createdAt label { name } }
            ... on UnlabeledEvent { actor { login __typename } label { name } }
          }
        }
      }
    }
    pullRequests(first: 10, states: [MERGED, OPEN]) {
      nodes { number files(first: 1) { nodes { path } pageInfo { hasNextPage endCursor } } }
    }
  }
}
"""

MORE = """
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) { files(first: 1, after: $after) { nodes { path } } }
    issue(number: 1) {
      timelineItems(first: 1, after: $after, itemTypes: [LABELED_EVENT]) { nodes { __typename } }
    }
  }
}
"""


def history(served: Served) -> None:
    """Three issues (a person's label, a bot's label, none) and two pull requests."""
    fake = served.fake
    repo = fake.repo(OWNER, REPO)
    first = fake.add_issue(OWNER, REPO, title="One", created_at=BASE, state="closed")
    fake.set_labels(repo, first, ["bug"], "alice")
    second = fake.add_issue(OWNER, REPO, title="Two", created_at=BASE + timedelta(hours=1))
    fake.set_labels(repo, second, ["enhancement"], "dependabot[bot]")
    fake.set_labels(repo, second, [], "alice")
    fake.add_issue(OWNER, REPO, title="Three", body=None, created_at=BASE + timedelta(hours=2))
    fake.add_pull(OWNER, REPO, title="Merged", files=["a.py", "b.py"], merged=True)
    fake.add_pull(OWNER, REPO, title="Closed", files=["c.py"], state="closed")


async def items(served: Served, **variables: Any) -> dict[str, Any]:
    answer = await served.graphql(ITEMS, owner=OWNER, name=REPO, **variables)
    assert "errors" not in answer, answer
    return dict(answer["data"])


async def test_issues_with_labels_and_who_labelled_them(served: Served) -> None:
    history(served)
    data = await items(served, first=100)
    issues = data["repository"]["issues"]
    assert issues["totalCount"] == 3
    by_number = {n["number"]: n for n in issues["nodes"]}
    assert by_number[1]["labels"]["nodes"] == [{"name": "bug"}]
    assert by_number[1]["closedAt"] == by_number[1]["createdAt"] == "2024-01-01T00:00:00Z"
    (labelled,) = by_number[1]["timelineItems"]["nodes"]
    assert labelled["__typename"] == "LabeledEvent" and labelled["label"] == {"name": "bug"}
    assert labelled["actor"] == {"login": "alice", "__typename": "User"}
    events = by_number[2]["timelineItems"]["nodes"]
    assert [(e["__typename"], e["actor"]["__typename"]) for e in events] == [
        ("LabeledEvent", "Bot"),
        ("UnlabeledEvent", "User"),
    ]
    assert by_number[3]["body"] == "" and by_number[3]["closedAt"] is None
    # Only the merged and the open pull requests (none is open): one.
    (merged,) = data["repository"]["pullRequests"]["nodes"]
    assert merged["files"]["nodes"] == [{"path": "a.py"}]
    assert merged["files"]["pageInfo"]["hasNextPage"] is True
    assert data["rateLimit"]["cost"] == 2  # (1 + 100 + 100 + 1 + 10) requests / 100


async def test_updated_since_and_newest_first(served: Served) -> None:
    history(served)
    everything = await items(served, first=100)
    latest = max(n["updatedAt"] for n in everything["repository"]["issues"]["nodes"])
    since = await items(served, first=100, since=latest)
    assert [n["number"] for n in since["repository"]["issues"]["nodes"]] == [1, 2]
    newest = await items(served, first=100, direction="DESC")
    numbers = [n["number"] for n in newest["repository"]["issues"]["nodes"]]
    assert numbers == [2, 1, 3]  # the label changes made 1 and 2 the newest updates


async def test_an_item_updated_during_a_walk_is_read_again_never_skipped(served: Served) -> None:
    history(served)
    page = await items(served, first=1)
    seen = [n["number"] for n in page["repository"]["issues"]["nodes"]]
    assert seen == [3]  # the oldest update first
    # Before the next page, the item just read and the next one are updated.
    fake = served.fake
    fake.set_labels(fake.repo(OWNER, REPO), fake.issue(OWNER, REPO, 3), ["question"], "alice")
    cursor = page["repository"]["issues"]["pageInfo"]["endCursor"]
    while cursor:
        page = await items(served, first=1, after=cursor)
        seen += [n["number"] for n in page["repository"]["issues"]["nodes"]]
        info = page["repository"]["issues"]["pageInfo"]
        cursor = info["endCursor"] if info["hasNextPage"] else None
    assert sorted(set(seen)) == [1, 2, 3] and seen[-1] == 3


async def test_an_items_timeline_and_files_page_on(served: Served) -> None:
    history(served)
    data = await items(served, first=100)
    (merged,) = data["repository"]["pullRequests"]["nodes"]
    cursor = merged["files"]["pageInfo"]["endCursor"]
    answer = await served.graphql(
        MORE, owner=OWNER, name=REPO, number=merged["number"], after=cursor
    )
    assert answer["data"]["repository"]["pullRequest"]["files"]["nodes"] == [{"path": "b.py"}]
    missing = await served.graphql(MORE, owner=OWNER, name=REPO, number=1, after=None)
    assert missing["errors"][0]["type"] == "NOT_FOUND"  # #1 is an issue, not a pull request


async def test_page_sizes_follow_githubs_rules(served: Served) -> None:
    answer = await served.graphql(ITEMS, owner=OWNER, name=REPO, first=101)
    assert answer["errors"][0]["type"] == "EXCESSIVE_PAGINATION"


DISCUSSIONS = """
query($owner: String!, $name: String!, $first: Int!, $after: String,
      $direction: OrderDirection!) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    discussions(first: $first, after: $after,
                orderBy: {field: UPDATED_AT, direction: $direction}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        number createdAt updatedAt closedAt isAnswered answerChosenAt
        author { login } category { name } labels(first: 100) { nodes { name } }
      }
    }
  }
}
"""


async def discussions(served: Served, **variables: Any) -> dict[str, Any]:
    answer = await served.graphql(DISCUSSIONS, owner=OWNER, name=REPO, **variables)
    assert "errors" not in answer, answer
    return dict(answer["data"]["repository"]["discussions"])


async def test_discussions_with_labels_category_and_answer(served: Served) -> None:
    fake = served.fake
    asked = fake.add_discussion(
        OWNER, REPO, title="How?", labels=["question"], category="Q&A", created_at=BASE
    )
    asked.answer_chosen_at = BASE + timedelta(hours=1)
    idea = fake.add_discussion(OWNER, REPO, title="Idea", created_at=BASE + timedelta(hours=2))
    idea.closed, idea.closed_at = True, BASE + timedelta(hours=3)
    idea.updated_at = idea.closed_at
    page = await discussions(served, first=100, direction="ASC")
    first, second = page["nodes"]
    assert (first["number"], second["number"]) == (asked.number, idea.number)
    assert first["labels"]["nodes"] == [{"name": "question"}]
    assert first["category"] == {"name": "Q&A"} and first["author"] == {"login": "octocat"}
    assert (first["isAnswered"], first["answerChosenAt"]) == (True, "2024-01-01T01:00:00Z")
    assert (second["isAnswered"], second["closedAt"]) == (False, "2024-01-01T03:00:00Z")
    assert first["updatedAt"] == first["createdAt"] and second["updatedAt"] == second["closedAt"]


async def test_a_discussion_updated_during_a_walk_is_read_again_never_skipped(
    served: Served,
) -> None:
    fake = served.fake
    made = [
        fake.add_discussion(OWNER, REPO, title=f"D{i}", created_at=BASE + timedelta(hours=i))
        for i in range(3)
    ]
    page = await discussions(served, first=1, direction="ASC")
    seen = [n["number"] for n in page["nodes"]]
    made[0].updated_at = made[1].updated_at = BASE + timedelta(days=1)  # both move behind
    cursor = page["pageInfo"]["endCursor"]
    while cursor:
        page = await discussions(served, first=1, after=cursor, direction="ASC")
        seen += [n["number"] for n in page["nodes"]]
        cursor = page["pageInfo"]["endCursor"] if page["pageInfo"]["hasNextPage"] else None
    numbers = [d.number for d in made]
    assert seen == [numbers[0], numbers[2], numbers[0], numbers[1]]  # none skipped
