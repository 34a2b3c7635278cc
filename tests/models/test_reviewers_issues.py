"""Issue helpers: people for an issue, newcomer matching, good-first-issue detection."""

from __future__ import annotations

import pytest

from models.reviewers.data import Change
from models.reviewers.index import ReviewerIndex
from models.reviewers.issues import (
    OpenIssue,
    extract_paths,
    looks_like_good_first_issue,
    match_good_first_issues,
    rank_people_for_issue,
)

ISSUES = [
    OpenIssue(1, "Fix typo in README", "The word 'recieve' is misspelled.", ("good first issue",)),
    OpenIssue(
        2, "Add example for http2 client", "Show a small http2 client.", ("Good First Issue",)
    ),
    OpenIssue(3, "Rewrite the scheduler", "Big redesign of the http2 scheduler.", ("enhancement",)),
    OpenIssue(4, "Improve docs for html parser", "Document tokenizer options.", ("beginner",)),
]


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("I know HTTP/2 well and wrote an http2 client before", 2),
        ("I like writing documentation for parsers, html especially", 4),
        ("spelling and typo fixes in the README", 1),
    ],
)
def test_match_good_first_issues(text: str, first: int) -> None:
    matches = match_good_first_issues(text, ISSUES, k=3)
    assert matches[0].issue.number == first
    assert all(m.issue.number != 3 for m in matches)  # not labelled for newcomers


def test_match_good_first_issues_without_candidates() -> None:
    assert match_good_first_issues("hello", ISSUES[2:3]) == []


@pytest.mark.parametrize(
    ("title", "body", "labels", "verdict", "reason_part"),
    [
        ("Anything", "", ("good first issue",), True, "labelled"),
        (
            "Fix typo in docs",
            "In `docs/intro.md` the word 'recieve' should be 'receive'. Line 12 of the page.",
            (),
            True,
            "points at `docs/intro.md`",
        ),
        (
            "Crash on startup",
            "The server panics when the config is empty. " * 3,
            (),
            False,
            "panic",
        ),
        (
            "Wrong error message",
            'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad value here',
            (),
            False,
            "stack trace",
        ),
        ("Typo", "typo", (), False, "too little"),
        (
            "Support feature X",
            "We would like feature X to be supported across the API. " * 3,
            (),
            False,
            "no sign",
        ),
    ],
)
def test_looks_like_good_first_issue(
    title: str, body: str, labels: tuple[str, ...], verdict: bool, reason_part: str
) -> None:
    result, reason = looks_like_good_first_issue(title, body, labels)
    assert result is verdict
    assert reason_part in reason


def test_extract_paths() -> None:
    text = "See net/http2/transport.go and README.md, not http://x or 1.5."
    assert extract_paths(text) == ["net/http2/transport.go", "README.md"]


def test_rank_people_for_issue_uses_paths_and_text() -> None:
    day = 86_400.0
    history = [
        Change(
            str(n),
            n * day,
            n * day,
            "zoe",
            ("ana",) if n % 2 else ("bob",),
            "http2 flow control" if n % 2 else "html tokenizer",
            "",
            ("net/http2/flow.go",) if n % 2 else ("html/token.go",),
        )
        for n in range(30)
    ]
    index = ReviewerIndex.rebuild(history)
    people = rank_people_for_issue("flow control stalls\nsee net/http2/flow.go", [], index, k=2)
    assert people[0].login == "ana"
    by_text = rank_people_for_issue("html tokenizer drops attributes", [], index, k=1)
    assert by_text[0].login == "bob"
