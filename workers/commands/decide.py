"""Commands in comments, pure: parsing, who may run what, labels, keys and replies.

A command is a line that starts (after at most three spaces) with one of
:data:`COMMANDS`. Lines inside fenced code blocks and HTML comments never count, and
neither do quotes or indented code (they do not start with the command).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: What each command does and who may run it, in the order the help lists them.
HELP: tuple[tuple[str, str, str], ...] = (
    ("/label bug, docs", "triage access", "adds labels that exist in the repository"),
    ("/remove-label bug", "triage access", "removes labels"),
    ("/assign @me | @login", "anyone for @me; triage access for others", "assigns people"),
    ("/unassign | @login", "anyone for themselves; triage access for others", "unassigns"),
    (
        "/reviewers",
        "triage access, or the pull request's author",
        "suggests or requests reviewers again (`reviewers.mode`)",
    ),
    (
        "/steward wrong",
        "triage access",
        "removes the labels Steward applied here and learns from it",
    ),
    ("/steward help", "anyone", "lists these commands"),
)
HELP_MARKER = "<!-- steward:commands-help -->"
REFUSAL_MARKER = "<!-- steward:command-refused:{comment}:{digest} -->"
REVIEWERS_COMMAND_MARKER = "<!-- steward:reviewers-command:{comment} -->"

#: Roles that may triage: GitHub's ``role_name`` (and the legacy ``permission``).
TRIAGE_ROLES = frozenset({"triage", "write", "maintain", "admin"})
#: Commands that act on who works on an item: issues and pull requests only.
NOT_FOR_DISCUSSIONS = frozenset({"assign", "unassign", "reviewers"})
#: Commands run from one comment; the rest are refused (a comment of thousands of lines
#: must not turn into thousands of API calls).
MAX_COMMANDS = 10
#: Refused commands listed in the one reply (GitHub caps a comment at 65,536 characters).
MAX_LISTED = 10
#: Characters of a command's text quoted back.
MAX_QUOTED = 100

_LINE = re.compile(
    r"^ {0,3}/(?P<name>label|remove-label|assign|unassign|reviewers|steward)"
    r"(?:[ \t]+(?P<rest>.*?))?[ \t]*$"
)
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_LOGIN = re.compile(r"@?(?P<login>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))")


@dataclass(frozen=True)
class Command:
    """One command: ``name`` (``label``, ``remove-label``, ``assign``, ``unassign``,
    ``reviewers``, ``wrong``, ``help`` or ``unknown``), its arguments and its line.
    """

    name: str
    args: tuple[str, ...]
    text: str


def _uncommented(body: str) -> str:
    """The body without HTML comments (an unclosed one runs to the end, as in HTML)."""
    return _HTML_COMMENT.sub("", body.replace("\r\n", "\n"))


def _closes(found: re.Match[str] | None, fence: str) -> bool:
    """Whether a fence line closes the block ``fence`` opened (same character, at least
    as long, nothing after it)."""
    if found is None or found["info"].strip():
        return False
    return found["fence"][0] == fence[0] and len(found["fence"]) >= len(fence)


def command_lines(body: str) -> Iterator[str]:
    """The lines of ``body`` outside fenced code blocks and HTML comments."""
    fence = ""
    for line in _uncommented(body).split("\n"):
        found = _FENCE.match(line)
        if fence:
            fence = "" if _closes(found, fence) else fence
            continue
        if found and not (found["fence"][0] == "`" and "`" in found["info"]):
            fence = found["fence"]
            continue
        yield line


def _split(rest: str, *, commas_only: bool) -> tuple[str, ...]:
    parts = rest.split(",") if commas_only else re.split(r"[,\s]+", rest)
    return tuple(p.strip().strip("\"'`").strip() for p in parts if p.strip().strip("\"'`"))


def parse_line(line: str) -> Command | None:
    """The command on one line, or None when the line holds none."""
    found = _LINE.match(line)
    if found is None:
        return None
    name, rest = found["name"], (found["rest"] or "").strip()
    text = f"/{name} {rest}".strip()
    if name in ("label", "remove-label"):
        return Command(name, _split(rest, commas_only=True), text)
    if name in ("assign", "unassign"):
        return Command(name, _split(rest, commas_only=False), text)
    if name == "reviewers":
        return Command(name, (), text)
    word = rest.split()[0].lower() if rest else "help"
    return Command(word if word in ("wrong", "help") else "unknown", (rest,), text)


def parse_commands(body: str) -> list[Command]:
    """Every command in a comment, in order, each line once."""
    found: dict[str, Command] = {}
    for line in command_lines(body):
        command = parse_line(line)
        if command is not None and command.text not in found:
            found[command.text] = command
    return list(found.values())


def over_the_limit(commands: Sequence[Command]) -> tuple[list[Command], list[Command]]:
    """The commands of one comment that run (the first :data:`MAX_COMMANDS`) and the
    rest, which are refused."""
    return list(commands[:MAX_COMMANDS]), list(commands[MAX_COMMANDS:])


def too_many_reason() -> str:
    """Why a command past the limit did not run."""
    return (
        f"Steward runs at most {MAX_COMMANDS} commands from one comment; "
        "write the rest in another comment."
    )


def may_triage(answer: Mapping[str, Any]) -> bool:
    """Whether ``GET …/collaborators/{username}/permission`` grants triage or more."""
    role = str(answer.get("role_name") or "")
    legacy = str(answer.get("permission") or "")
    flags = (answer.get("user") or {}).get("permissions") or {}
    return role in TRIAGE_ROLES or legacy in ("write", "admin") or bool(flags.get("triage"))


def logins(command: Command, *, author: str) -> list[str]:
    """The people an ``assign``/``unassign`` names (``@me`` and nothing: the author)."""
    named = [_login(arg, author=author) for arg in command.args] or [author]
    return list(dict.fromkeys(named))


def _login(arg: str, *, author: str) -> str:
    if arg.lower() in ("@me", "me"):
        return author
    found = _LOGIN.fullmatch(arg)
    return found["login"] if found else arg


def refusal(
    command: Command, *, kind: str, author: str, triager: bool, item_author: str = ""
) -> str | None:
    """Why ``author`` may not run ``command`` on this kind of item (None: they may)."""
    if command.name == "unknown":
        return f"`{command.text}` is not a command; `/steward help` lists them."
    if kind == "discussion" and command.name in NOT_FOR_DISCUSSIONS:
        return f"`/{command.name}` does not apply to discussions."
    if command.name == "reviewers" and kind != "pull_request":
        return "`/reviewers` works on pull requests only."
    if command.name in ("label", "remove-label") and not command.args:
        return f"`/{command.name}` needs the name of a label."
    if triager or command.name == "help":
        return None
    if command.name in ("assign", "unassign"):
        others = [p for p in logins(command, author=author) if p.lower() != author.lower()]
        return f"only people with triage access may {command.name} others." if others else None
    if command.name == "reviewers" and author.lower() == item_author.lower():
        return None
    return f"only people with triage access may run `/{command.name}`."


def resolve_labels(
    wanted: Iterable[str], repo_labels: Iterable[str]
) -> tuple[list[str], list[str]]:
    """``(found, unknown)``: the wanted labels with the repository's spelling (matched
    case-insensitively), and those the repository does not have.
    """
    spelling = {name.lower(): name for name in repo_labels}
    found = [spelling[w.lower()] for w in wanted if w.lower() in spelling]
    unknown = [w for w in wanted if w.lower() not in spelling]
    return list(dict.fromkeys(found)), unknown


def unknown_labels_reason(unknown: Sequence[str]) -> str:
    """The refusal of a label command that names labels the repository lacks."""
    shown = [f"`{_quoted(name)}`" for name in unknown[:MAX_LISTED]]
    more = f" and {len(unknown) - MAX_LISTED} more" if len(unknown) > MAX_LISTED else ""
    return f"this repository has no label {', '.join(shown)}{more}; nothing was changed."


def present(names: Iterable[str], on_item: Iterable[str]) -> list[str]:
    """Those of ``names`` that are on the item (case-insensitive), with its spelling."""
    spelling = {name.lower(): name for name in on_item}
    return list(dict.fromkeys(spelling[n.lower()] for n in names if n.lower() in spelling))


def bot_labels(actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """The labels triage applied live to an item, from its audit-log rows."""
    return list(
        dict.fromkeys(
            str(a["detail"].get("label"))
            for a in actions
            if a["feature"] == "triage" and a["action"] == "label" and a["mode"] == "live"
        )
    )


def new_corrections(
    labels: Iterable[str], feedback: Iterable[Mapping[str, Any]], *, number: int
) -> list[str]:
    """The labels whose removal is not yet recorded as a correction of this item."""
    known = {
        str(f["subject"])
        for f in feedback
        if f["number"] == number and f["kind"] == "label_removed"
    }
    return [label for label in labels if label not in known]


def digest(text: str) -> str:
    """A short, stable digest of ``text`` (for effect keys and markers)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def command_key(full: str, number: int, *, comment: int, command: Command) -> str:
    """The audit-log key of one command of one comment: an edit that keeps the line
    never runs it again, a new line runs once.
    """
    return f"command:{full}#{number}:{comment}:{digest(command.text)}"


def read_key(full: str, number: int, *, comment: int, version: str) -> str:
    """The audit-log key of one version of a comment read for commands."""
    return f"command-read:{full}#{number}:{comment}:{version}"


def refusal_key(full: str, number: int, *, comment: int, refused: Sequence[Command]) -> str:
    """The audit-log key of the one reply to a comment's refused commands."""
    return f"command-refused:{full}#{number}:{comment}:{refused_digest(refused)}"


def refused_digest(refused: Sequence[Command]) -> str:
    """A digest naming a set of refused commands."""
    return digest("\n".join(sorted(c.text for c in refused)))


def refusal_comment(author: str, refused: Sequence[tuple[Command, str]], *, comment: int) -> str:
    """The one reply that says why commands were not run."""
    listed = [f"- `{_quoted(command.text)}`: {reason}" for command, reason in refused]
    if len(listed) > MAX_LISTED:
        listed = [*listed[:MAX_LISTED], f"- … and {len(listed) - MAX_LISTED} more"]
    lines = "\n".join(listed)
    marker = REFUSAL_MARKER.format(comment=comment, digest=refused_digest([c for c, _ in refused]))
    return f"@{author}, Steward did not run:\n\n{lines}\n\n{marker}"


def _quoted(text: str) -> str:
    """A command's text as the reply quotes it: short, and no backtick to break out."""
    text = text.replace("`", "'")
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 1] + "…"


def help_comment() -> str:
    """The ``/steward help`` answer: every command, who may run it and what it does."""
    rows = "\n".join(f"| `{cmd}` | {who} | {what} |" for cmd, who, what in HELP)
    return (
        "Commands Steward understands at the start of a line in a comment:\n\n"
        "| command | who may | what it does |\n|---|---|---|\n"
        f"{rows}\n\nCommands in code blocks, quotes and HTML comments are ignored.\n\n"
        f"{HELP_MARKER}"
    )
