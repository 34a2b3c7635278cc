"""Commands in comments, pure: parsing, who may, labels, replies (tables of cases)."""

from __future__ import annotations

from typing import Any

import pytest

from workers.commands.decide import (
    HELP,
    HELP_MARKER,
    Command,
    bot_labels,
    command_key,
    help_comment,
    logins,
    may_triage,
    new_corrections,
    parse_commands,
    present,
    refusal,
    refusal_comment,
    resolve_labels,
)


def parsed(body: str) -> list[tuple[str, tuple[str, ...]]]:
    """(name, args) of every command in ``body``."""
    return [(c.name, c.args) for c in parse_commands(body)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("/label bug", [("label", ("bug",))], id="one label"),
        pytest.param("/label bug, docs", [("label", ("bug", "docs"))], id="several labels, commas"),
        pytest.param(
            "/label good first issue", [("label", ("good first issue",))], id="label with spaces"
        ),
        pytest.param('/label "bug"', [("label", ("bug",))], id="quoted label"),
        pytest.param("/remove-label bug", [("remove-label", ("bug",))], id="remove-label"),
        pytest.param("/assign @me", [("assign", ("@me",))], id="assign me"),
        pytest.param("/assign", [("assign", ())], id="assign alone"),
        pytest.param("/assign @alice @bob", [("assign", ("@alice", "@bob"))], id="assign two"),
        pytest.param("/unassign", [("unassign", ())], id="unassign"),
        pytest.param("/reviewers", [("reviewers", ())], id="reviewers"),
        pytest.param("/steward wrong", [("wrong", ("wrong",))], id="wrong"),
        pytest.param("/steward help", [("help", ("help",))], id="help"),
        pytest.param("/steward", [("help", ("",))], id="steward alone is help"),
        pytest.param("/steward dance", [("unknown", ("dance",))], id="unknown steward word"),
        pytest.param("Thanks!\n/label bug\nmore text", [("label", ("bug",))], id="inside text"),
        pytest.param("   /label bug", [("label", ("bug",))], id="three spaces of indent"),
        pytest.param("please /label bug", [], id="not at the start of the line"),
        pytest.param("    /label bug", [], id="indented code"),
        pytest.param("\t/label bug", [], id="tab-indented code"),
        pytest.param("> /label bug", [], id="quote"),
        pytest.param(">> /label bug\n> /assign @me", [], id="nested quote"),
        pytest.param("```\n/label bug\n```", [], id="fenced code"),
        pytest.param("~~~sh\n/label bug\n~~~\n/label docs", [("label", ("docs",))], id="tilde"),
        pytest.param("````\n```\n/label bug\n````", [], id="longer fence holds a shorter"),
        pytest.param("```\n/label bug", [], id="unclosed fence runs to the end"),
        pytest.param("<!-- /label bug -->", [], id="html comment"),
        pytest.param("<!--\n/label bug\n-->\n/label docs", [("label", ("docs",))], id="html block"),
        pytest.param("<!--\n/label bug", [], id="unclosed html comment"),
        pytest.param("`/label bug`", [], id="inline code"),
        pytest.param("/labels bug", [], id="not a command name"),
        pytest.param("/usr/bin/env python", [], id="a path"),
        pytest.param("/label bug\r\n/label bug", [("label", ("bug",))], id="same line once"),
        pytest.param(
            "/label bug\n/assign @me\n/steward help",
            [("label", ("bug",)), ("assign", ("@me",)), ("help", ("help",))],
            id="several commands",
        ),
    ],
)
def test_parse(body: str, expected: list[tuple[str, tuple[str, ...]]]) -> None:
    assert parsed(body) == expected


def cmd(text: str) -> Command:
    """The one command of ``text``."""
    (found,) = parse_commands(text)
    return found


@pytest.mark.parametrize(
    ("text", "kind", "author", "triager", "item_author", "allowed"),
    [
        ("/label bug", "issue", "dave", True, "", True),
        ("/label bug", "issue", "dave", False, "", False),
        ("/label", "issue", "dave", True, "", False),
        ("/remove-label bug", "discussion", "dave", True, "", True),
        ("/assign @me", "issue", "dave", False, "", True),
        ("/assign", "issue", "dave", False, "", True),
        ("/assign @dave", "issue", "dave", False, "", True),
        ("/assign @alice", "issue", "dave", False, "", False),
        ("/assign @alice", "issue", "dave", True, "", True),
        ("/assign @me", "discussion", "dave", True, "", False),
        ("/unassign", "pull_request", "dave", False, "", True),
        ("/unassign @alice", "pull_request", "dave", False, "", False),
        ("/reviewers", "pull_request", "dave", False, "dave", True),
        ("/reviewers", "pull_request", "dave", False, "erin", False),
        ("/reviewers", "pull_request", "dave", True, "erin", True),
        ("/reviewers", "issue", "dave", True, "", False),
        ("/reviewers", "discussion", "dave", True, "", False),
        ("/steward wrong", "issue", "dave", False, "", False),
        ("/steward wrong", "discussion", "dave", True, "", True),
        ("/steward help", "discussion", "dave", False, "", True),
        ("/steward dance", "issue", "dave", True, "", False),
    ],
)
def test_who_may(
    text: str, kind: str, author: str, triager: bool, item_author: str, allowed: bool
) -> None:
    reason = refusal(cmd(text), kind=kind, author=author, triager=triager, item_author=item_author)
    assert (reason is None) == allowed, reason


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"permission": "read", "role_name": "triage"}, True),
        ({"permission": "write", "role_name": "write"}, True),
        ({"permission": "write", "role_name": "maintain"}, True),
        ({"permission": "admin", "role_name": "admin"}, True),
        ({"permission": "read", "role_name": "read"}, False),
        ({"permission": "none", "role_name": "none"}, False),
        # A custom role: the permission flags say what it may do.
        (
            {
                "permission": "read",
                "role_name": "helper",
                "user": {"permissions": {"triage": True}},
            },
            True,
        ),
        ({"permission": "read", "role_name": "viewer", "user": {"permissions": {}}}, False),
    ],
)
def test_may_triage(answer: dict[str, Any], expected: bool) -> None:
    assert may_triage(answer) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/assign @me", ["dave"]),
        ("/assign", ["dave"]),
        ("/assign @alice, bob @alice", ["alice", "bob"]),
        ("/unassign @me @dave", ["dave"]),
    ],
)
def test_logins(text: str, expected: list[str]) -> None:
    assert logins(cmd(text), author="dave") == expected


def test_labels_match_case_insensitively_with_the_repository_spelling() -> None:
    assert resolve_labels(["BUG", "Docs", "nope"], ["bug", "docs"]) == (["bug", "docs"], ["nope"])
    assert present(["BUG", "docs"], ["Bug"]) == ["Bug"]


def test_bot_labels_are_the_live_triage_labels() -> None:
    rows = [
        {"feature": "triage", "action": "label", "mode": "live", "detail": {"label": "bug"}},
        {"feature": "triage", "action": "label", "mode": "shadow", "detail": {"label": "docs"}},
        {"feature": "triage", "action": "decision", "mode": "live", "detail": {}},
        {"feature": "commands", "action": "label", "mode": "live", "detail": {"label": "x"}},
    ]
    assert bot_labels(rows) == ["bug"]


def test_corrections_are_recorded_once() -> None:
    feedback = [{"number": 3, "kind": "label_removed", "subject": "bug"}]
    assert new_corrections(["bug", "docs"], feedback, number=3) == ["docs"]
    assert new_corrections(["bug"], feedback, number=4) == ["bug"]


def test_keys_name_the_comment_and_the_command() -> None:
    one = command_key("o/r", 1, comment=5, command=cmd("/label bug"))
    assert one == command_key("o/r", 1, comment=5, command=cmd("/label  bug "))
    assert one != command_key("o/r", 1, comment=6, command=cmd("/label bug"))
    assert one != command_key("o/r", 1, comment=5, command=cmd("/label docs"))


def test_replies() -> None:
    text = refusal_comment("dave", [(cmd("/label nope"), "no such label.")], comment=9)
    assert text.startswith("@dave") and "`/label nope`: no such label." in text
    assert "steward:command-refused:9:" in text
    answer = help_comment()
    assert answer.endswith(HELP_MARKER)
    # A ``|`` inside a table cell is escaped, or GitHub would split the cell there.
    assert all(command.replace("|", "\\|") in answer for command, _, _ in HELP)


def test_a_comment_runs_at_most_ten_commands_and_the_reply_stays_short() -> None:
    from workers.commands.decide import (
        MAX_COMMANDS,
        MAX_PARSED,
        over_the_limit,
        parse_commands,
        refusal_comment,
        too_many_reason,
    )

    body = "".join(f"/label l{i}\n" for i in range(3000))
    allowed, over = over_the_limit(parse_commands(body))
    assert [c.text for c in allowed] == [f"/label l{i}" for i in range(MAX_COMMANDS)]
    # Reading stops at MAX_PARSED commands: nothing past them is parsed or recorded.
    assert len(over) == MAX_PARSED - MAX_COMMANDS == 90
    reply = refusal_comment("erin", [(c, too_many_reason()) for c in over], comment=7)
    assert reply.count("\n- ") == 11 and "… and 80 more" in reply
    assert len(reply) < 3000  # far below GitHub's 65,536 characters
    (long,) = parse_commands("/label " + "x" * 5000 + "`y")
    quoted = refusal_comment("erin", [(long, "no such label")], comment=7)
    assert len(quoted) < 400 and "`y" not in quoted
    assert over_the_limit(parse_commands("/label a\n/label b")) == (
        parse_commands("/label a\n/label b"),
        [],
    )


def test_a_refusal_names_at_most_ten_unknown_labels() -> None:
    from workers.commands.decide import unknown_labels_reason

    assert unknown_labels_reason(["nope"]) == (
        "this repository has no label `nope`; nothing was changed."
    )
    many = unknown_labels_reason([f"x{i}" for i in range(500)])
    assert many.count("`") == 20 and "and 490 more" in many
