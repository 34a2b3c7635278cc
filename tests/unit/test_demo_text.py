"""How `steward demo` prints the receiver's answers: readable, never cut to nothing."""

from __future__ import annotations

import pytest

from app.demo import answer_text, shorten

QUEUED = '{"queued":["steward.triage","steward.issue_people","steward.welcome","steward.embed"]}'


@pytest.mark.parametrize(
    ("body", "width", "expected"),
    [
        (QUEUED, 70, "queued triage, issue_people, welcome, embed"),
        ('{"duplicate":true}', 70, '{"duplicate":true}'),
        (
            '{"queued":[' + ",".join(['"steward.x"'] * 30) + "]}",
            30,
            "queued x, x, x, x, x, x, x, …",
        ),
        ('{"msg":"' + "a" * 80 + '"}', 20, '{"msg":"' + "a" * 11 + "…"),
        ("not json at all, and rather long for the column", 30, "not json at all, and rather …"),
    ],
)
def test_answers_are_readable_and_never_empty(body: str, width: int, expected: str) -> None:
    assert shorten(answer_text(body), width) == expected
