"""Pure welcome decisions: who, whether, what."""

from __future__ import annotations

from typing import Any

import pytest

from core.config_schema import WelcomeConfig
from workers.welcome.decide import first_time, marker, render_welcome, skip_reason

ISSUE = {"number": 3}
PR = {"number": 4, "pull_request": {"merged_at": None}}
MERGED = {"number": 5, "pull_request": {"merged_at": "2026-01-01T00:00:00Z"}}


@pytest.mark.parametrize(
    ("kind", "authored", "number", "expected"),
    [
        ("issue", [], 9, True),
        ("issue", [{"number": 9}], 9, True),
        ("issue", [PR, MERGED], 9, True),
        ("issue", [PR, ISSUE], 9, False),
        ("pull_request", [ISSUE], 9, True),
        ("pull_request", [ISSUE, PR], 9, False),
        ("pull_request", [{"number": 9, "pull_request": {}}], 9, True),
        ("merged_pull_request", [PR], 9, True),
        ("merged_pull_request", [MERGED], 9, False),
        ("merged_pull_request", [MERGED], 5, True),
    ],
)
def test_first_time(kind: Any, authored: list[dict[str, Any]], number: int, expected: bool) -> None:
    assert first_time(kind, authored, number) is expected


@pytest.mark.parametrize(
    ("login", "kind", "association", "config", "skipped"),
    [
        ("alice", "User", "NONE", WelcomeConfig(), False),
        ("alice", "User", "FIRST_TIME_CONTRIBUTOR", WelcomeConfig(), False),
        ("alice", "User", "CONTRIBUTOR", WelcomeConfig(), False),
        ("alice", "User", "MEMBER", WelcomeConfig(), True),
        ("alice", "User", "OWNER", WelcomeConfig(), True),
        ("alice", "User", "COLLABORATOR", WelcomeConfig(include_members=True), False),
        ("dependabot[bot]", "Bot", "NONE", WelcomeConfig(), True),
        ("renovate[bot]", "Bot", "NONE", WelcomeConfig(include_bots=True), False),
    ],
)
def test_skip_reason(
    login: str, kind: str, association: str, config: WelcomeConfig, skipped: bool
) -> None:
    reason = skip_reason(config, login=login, account_type=kind, association=association)
    assert (reason is not None) is skipped


def test_render_default_templates_with_marker() -> None:
    context = {"author": "alice", "repo": "o/r", "number": 1, "contributing_url": "https://x/C.md"}
    for kind in ("issue", "pull_request", "merged_pull_request", "discussion"):
        body, error = render_welcome(WelcomeConfig(), kind, context)  # type: ignore[arg-type]
        assert "@alice" in body and body.endswith(marker(kind)) and error is None  # type: ignore[arg-type]
    body, _ = render_welcome(WelcomeConfig(), "issue", context)
    assert "https://x/C.md" in body


def test_sandbox_blocks_unsafe_templates_and_falls_back() -> None:
    config = WelcomeConfig(issue_message="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    body, error = render_welcome(config, "issue", {"author": "a", "repo": "o/r"})
    assert error and "Thanks for opening your first issue" in body


def test_broken_template_syntax_falls_back() -> None:
    body, error = render_welcome(WelcomeConfig(issue_message="{% if %}"), "issue", {"author": "a"})
    assert error and "@a" in body


def test_each_kind_has_its_own_marker() -> None:
    assert marker("issue") != marker("pull_request") and "steward:welcome" in marker("issue")
