"""Eligibility, load discount and reason text: pure functions, table-driven."""

from __future__ import annotations

import pytest

from models.reviewers.constraints import Constraints, Load, apply_load, is_bot, why_ineligible
from models.reviewers.reasons import Evidence, reason_text

RULES = Constraints.build(
    allowed=["ana", "bob", "Cleo", "dependabot[bot]", "ops-bot", "dan", "eve"],
    bots=["ops-bot"],
    never=["dan"],
    opted_out=["eve"],
)


@pytest.mark.parametrize(
    ("login", "author", "reason"),
    [
        ("ana", "bob", None),
        ("cleo", "bob", None),  # case-insensitive
        ("@Ana", "bob", None),
        ("bob", "bob", "author"),
        ("dependabot[bot]", "bob", "bot"),
        ("ops-bot", "bob", "bot"),
        ("dan", "bob", "never list"),
        ("eve", "bob", "opted out"),
        ("zed", "bob", "no write access"),
        ("", "bob", "empty login"),
    ],
)
def test_why_ineligible(login: str, author: str, reason: str | None) -> None:
    assert why_ineligible(login, author, RULES) == reason


def test_unknown_write_access_allows_everyone() -> None:
    assert why_ineligible("zed", "bob", Constraints()) is None


def test_is_bot_suffix() -> None:
    assert is_bot("renovate[bot]") and not is_bot("robot")


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        (None, ["ana", "bob", "cleo"]),
        (Load(open_requests={"ana": 3}), ["bob", "cleo", "ana"]),
        (Load(open_requests={"ana": 1}, per_request=0.1), ["ana", "bob", "cleo"]),
        (Load(busy=frozenset({"bob"})), ["ana", "cleo", "bob"]),
    ],
)
def test_load_discount_reorders(load: Load | None, expected: list[str]) -> None:
    scored = [("ana", 0.9), ("bob", 0.8), ("cleo", 0.5)]
    assert [login for login, _ in apply_load(scored, load)] == expected


MARCH_2024 = 1709251200.0


@pytest.mark.parametrize(
    ("evidence", "text"),
    [
        (
            Evidence("ana", top_path="net/http2/transport.go", path_count=14, path_last=MARCH_2024),
            "touched `net/http2/transport.go` 14 times, last in March 2024",
        ),
        (
            Evidence(
                "ana",
                top_path="a.go",
                path_count=1,
                path_last=MARCH_2024,
                author="bob",
                author_reviews=3,
            ),
            "touched `a.go` once, last in March 2024; reviewed bob's changes 3 times",
        ),
        (Evidence("ana", owned="docs/x.md"), "owns `docs/x.md` per CODEOWNERS"),
        (
            Evidence("ana", top_dir="net/html", dir_count=2, dir_last=MARCH_2024),
            "worked in `net/html/` 2 times, last in March 2024",
        ),
        (Evidence("ana", similar_title="http2: fix"), "reviewed a similar change: “http2: fix”"),
        (Evidence("ana", last_review=MARCH_2024), "active reviewer, last review in March 2024"),
        (Evidence("ana"), "no past activity here; suggested by position"),
    ],
)
def test_reason_text(evidence: Evidence, text: str) -> None:
    assert reason_text(evidence) == text
