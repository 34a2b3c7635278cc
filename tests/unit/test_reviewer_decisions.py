"""Pure contributor-matching helpers: history records, who may review, comment texts."""

from __future__ import annotations

from typing import Any

import pytest

from models.reviewers import Suggestion
from models.reviewers.requests import change_record, review_requests, reviewers_from, writers
from workers.people import suggestion_comment


def review(login: str, state: str = "APPROVED", kind: str = "User") -> dict[str, Any]:
    return {"user": {"login": login, "type": kind}, "state": state}


@pytest.mark.parametrize(
    ("reviews", "expected"),
    [
        ([review("a"), review("b"), review("a", "COMMENTED")], ["a", "b"]),
        ([review("author")], []),
        ([review("ci[bot]", kind="Bot")], []),
        ([review("a", "PENDING")], []),
        ([review("b", "CHANGES_REQUESTED"), review("a")], ["b", "a"]),
    ],
)
def test_reviewers_from(reviews: list[dict[str, Any]], expected: list[str]) -> None:
    assert reviewers_from(reviews, "author") == expected


@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [
        ({"push": True}, True),
        ({"maintain": True}, True),
        ({"admin": True}, True),
        ({"pull": True, "triage": True}, False),
        ({}, False),
    ],
)
def test_writers(permissions: dict[str, bool], allowed: bool) -> None:
    people = [{"login": "p", "type": "User", "permissions": permissions}]
    assert (writers(people) == ["p"]) is allowed


def test_bots_never_write() -> None:
    assert writers([{"login": "x[bot]", "type": "Bot", "permissions": {"push": True}}]) == []


def test_open_requests_count_one_and_past_reviews_fade() -> None:
    from models.reviewers.constraints import workload

    pulls = [
        {
            "created_at": "2026-11-30T00:00:00Z",
            "requested_reviewers": [{"login": "a"}, {"login": "b"}],
        },
        {"created_at": "2026-11-30T00:00:00Z", "requested_reviewers": [{"login": "a"}]},
        {},
    ]
    history = [  # c reviewed a change merged 60 days (one half-life) before "now"
        {
            "created_at": "2026-09-01T00:00:00Z",
            "merged_at": "2026-10-02T00:00:00Z",
            "reviewers": ["c"],
        }
    ]
    from models.reviewers.data import parse_time

    now = parse_time("2026-12-01T00:00:00Z")
    load = workload(review_requests(pulls, history), now)
    assert load["a"] == 2.0 and load["b"] == 1.0
    assert abs(load["c"] - 0.5) < 0.01
    # While c's change was open it counted fully; the later requests did not exist yet.
    during = parse_time("2026-09-15T00:00:00Z")
    assert workload(review_requests(pulls, history), during) == {"c": 1.0}


def test_change_record_format() -> None:
    pull = {
        "number": 5,
        "created_at": "c",
        "merged_at": "m",
        "user": {"login": "u"},
        "title": "t",
        "body": None,
    }
    assert change_record(pull, reviewers=["r"], files=["f.go"]) == {
        "id": "5",
        "created_at": "c",
        "merged_at": "m",
        "author": "u",
        "reviewers": ["r"],
        "title": "t",
        "body": "",
        "files": ["f.go"],
        "fixes": [],
    }


def test_suggestion_comment() -> None:
    text = suggestion_comment([Suggestion("alice", 0.9, "reviewed `a.go` 3 times")])
    assert "- @alice — reviewed `a.go` 3 times" in text and "steward:reviewers" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fixes #12", [12]),
        ("This closes #3 and resolves #4; fixed: #3", [3, 4]),
        ("fix octo/repo#7", [7]),
        ("fixes other/repo#7", []),
        ("See #5, related to #6", []),
        ("Prefix #1", []),
    ],
)
def test_closing_references(text: str, expected: list[int]) -> None:
    from models.reviewers.requests import closing_references

    assert closing_references(text, "octo/repo") == expected


def test_indexed_text_adds_fixed_issue_titles() -> None:
    from models.reviewers.requests import indexed_text

    change = {"id": "1", "body": "b", "fixes": [{"number": 3, "title": "http2 hangs"}]}
    assert indexed_text(change)["body"] == "b\nhttp2 hangs"
    assert indexed_text({"id": "1", "body": "b"})["body"] == "b"
