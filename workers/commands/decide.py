"""Commands in comments, pure: parsing, who may run what, labels, keys and replies.

A command is a line that starts (after at most three spaces) with one of
:data:`NAMES` after a slash. Lines inside fenced code blocks and HTML comments never
count, and neither do quotes or indented code (they do not start with the command).
The parser uses ``str`` methods only (no regular expression reads people's text): its
work grows with the comment's length, of which only GitHub's 65,536 characters are read.

Every reply quotes people's text through :mod:`core.markdown` (commands and labels in
code spans, logins inert unless the reply deliberately mentions its author).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate, compress, repeat
from operator import add, mod, not_
from typing import Any

from core.markdown import code, is_login, mention
from workers.gates import duplicates_label

#: What each command does and who may run it, in the order the help lists them.
HELP: tuple[tuple[str, str, str], ...] = (
    ("/label bug, docs", "triage access", "adds labels that exist in the repository"),
    ("/remove-label bug", "triage access", "removes labels"),
    ("/assign @me | @login", "anyone for `@me`; triage access for others", "assigns people"),
    ("/unassign | @login", "anyone for themselves; triage access for others", "unassigns"),
    (
        "/reviewers",
        "triage access, or the pull request's author",
        "suggests or requests reviewers again (`reviewers.mode`)",
    ),
    (
        "/steward wrong",
        "triage access",
        "removes the labels Steward applied here (or says its duplicates suggestion is "
        "wrong) and learns from it",
    ),
    ("/steward help", "anyone", "lists these commands"),
)
HELP_MARKER = "<!-- steward:commands-help -->"
#: What the one reply to a comment's refused commands is found by (one per comment: a
#: reply written before this marker had a digest after the colon, and is found too).
REFUSAL_FIND = "<!-- steward:command-refused:{comment}:"
REFUSAL_MARKER = REFUSAL_FIND + "reply -->"
#: ``/reviewers`` in ``suggest`` mode: one suggestion comment per pull request head.
REVIEWERS_COMMAND_MARKER = "<!-- steward:reviewers-command:{head} -->"
#: How long replies to one person on one item are counted for ``max_replies_per_hour``.
REPLY_WINDOW = timedelta(hours=1)

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

#: GitHub keeps at most this many characters of a comment; nothing past them is read.
MAX_BODY = 65_536
#: Distinct commands read from one comment at most: the first :data:`MAX_COMMANDS` run,
#: the rest are refused, and nothing past these is parsed or recorded.
MAX_PARSED = 100
#: Lines that start like a command read from one comment at most (repeats included).
MAX_LINES = 1_000
#: Fence lines read from one comment at most; commands after more are not read.
MAX_FENCES = 1_000
#: Characters of a command's arguments read at most; a longer command is refused.
MAX_ARGS = 1_000
#: Command names (after the slash).
NAMES = frozenset({"label", "remove-label", "assign", "unassign", "reviewers", "steward"})
#: Characters that open a fenced code block (three or more of one of them).
FENCE_CHARS = "`~"


@dataclass(frozen=True)
class Command:
    """One command: ``name`` (``label``, ``remove-label``, ``assign``, ``unassign``,
    ``reviewers``, ``wrong``, ``help``, ``unknown`` or ``too-long``), its arguments and
    its line.
    """

    name: str
    args: tuple[str, ...]
    text: str


class Said(str):
    """A refusal already explained on this item: the comment gets a reaction, no reply."""

    __slots__ = ()


def _uncommented(body: str) -> str:
    """The first :data:`MAX_BODY` characters of ``body`` without HTML comments (an
    unclosed one runs to the end, as in HTML), found with ``str.find``: linear time."""
    text = body[:MAX_BODY].replace("\r\n", "\n")
    kept: list[str] = []
    at = 0
    while (start := text.find("<!--", at)) >= 0:
        kept.append(text[at:start])
        end = text.find("-->", start + 4)
        if end < 0:
            return "".join(kept)
        at = end + 3
    kept.append(text[at:])
    return "".join(kept)


#: What a line that may hold a command starts with, after its newline: up to three
#: spaces, then a command name's slash; and what a fence line starts with.
_COMMAND_NEEDLES = tuple(f"\n{' ' * i}/{name}" for i in range(4) for name in sorted(NAMES))
_FENCE_NEEDLES = tuple(f"\n{' ' * i}{char * 3}" for i in range(4) for char in FENCE_CHARS)
#: What may follow a command's name.
_AFTER_NAME = (" ", "\t", "\n")


def _offsets(
    text: str, needles: tuple[str, ...], *, limit: int, follow: tuple[str, ...] = ()
) -> list[int]:
    """Offsets of the newline before the first ``limit`` lines of ``text`` per needle
    that start with it (with ``follow``: and go on with one of these), sorted.

    Found in C: ``str.split`` at each needle, at most ``limit`` times (no needle holds a
    second newline, so no two matches overlap), the offsets summed by
    ``itertools.accumulate`` and the next characters checked by ``map(str.startswith)``.
    Lines that start with no needle cost nothing in Python, however many there are.
    """
    found: list[int] = []
    for needle in needles:
        parts = text.split(needle, limit)
        if len(parts) == 1:
            continue
        size = len(needle)
        starts = map(add, accumulate(map(len, parts[:-1])), range(0, size * len(parts), size))
        if follow:
            # An empty part means the next needle (a newline) follows at once.
            after = map(str.startswith, map(add, parts[1:], repeat("\n")), repeat(follow))
            found.extend(compress(starts, after))
        else:
            found.extend(starts)
    return sorted(found)


def _fence_after(line: str, fence: str) -> str:
    """The open fence after fence line ``line`` (indent removed) when ``fence`` was open
    before it (``""``: none): it opens, closes or changes nothing."""
    char = line[0]
    info = line.lstrip(char)
    run = len(line) - len(info)
    if fence:
        closes = char == fence[0] and run >= len(fence) and not info.strip()
        return "" if closes else fence
    return "" if char == "`" and "`" in info else line[:run]


def _toggles(text: str, fences: list[int]) -> list[int]:
    """The offsets of the fence lines (``fences``, sorted) that open or close a fenced
    block, in order (a line's effect is remembered per line and state)."""
    toggles: list[int] = []
    fence = ""
    seen: dict[tuple[str, str], str] = {}
    for at in fences:
        line = text[at + 1 : text.find("\n", at + 1)]
        after = seen.get((line, fence))
        if after is None:
            after = seen[line, fence] = _fence_after(line.lstrip(" "), fence)
        if bool(after) != bool(fence):
            toggles.append(at)
        fence = after
    return toggles


def _outside_fences(text: str, commands: list[int]) -> list[int]:
    """Those of the sorted command offsets that are outside fenced code blocks. Past
    :data:`MAX_FENCES` fence lines nothing more is read (no real comment has so many)."""
    fences = _offsets(text[: commands[-1]], _FENCE_NEEDLES, limit=MAX_FENCES + 1)
    if len(fences) > MAX_FENCES:
        commands = commands[: bisect_left(commands, fences[MAX_FENCES])]
        fences = fences[:MAX_FENCES]
    toggles = _toggles(text, fences)
    if not toggles:
        return commands
    inside = map(mod, map(bisect_right, repeat(toggles), commands), repeat(2))
    return list(compress(commands, map(not_, inside)))


def command_lines(body: str) -> list[str]:
    """The distinct lines of ``body`` that may hold a command (a command name after at
    most three spaces), outside fenced code blocks and HTML comments, in order; of the
    first :data:`MAX_LINES` such lines only.

    Only lines that start with a command's name or a fence are looked at, each found,
    sliced and de-duplicated by C code (``str.split``, ``map``, ``dict.fromkeys``);
    Python steps once per fence line (at most :data:`MAX_FENCES`).
    """
    text = "\n" + _uncommented(body) + "\n"
    commands = _offsets(text, _COMMAND_NEEDLES, limit=MAX_LINES, follow=_AFTER_NAME)
    if not commands:
        return []
    kept = _outside_fences(text, commands[:MAX_LINES])
    starts = list(map(add, kept, repeat(1)))
    ends = map(text.find, repeat("\n"), starts)
    return list(dict.fromkeys(map(text.__getitem__, map(slice, starts, ends))))


def _split(rest: str, *, commas_only: bool) -> tuple[str, ...]:
    parts = rest.split(",") if commas_only else rest.replace(",", " ").split()
    return tuple(p.strip().strip("\"'`").strip() for p in parts if p.strip().strip("\"'`"))


def _name_and_rest(line: str) -> tuple[str, str] | None:
    """The word after the slash and the rest of a command line (None: not one)."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3 or not stripped.startswith("/"):
        return None
    name = stripped[1:].partition(" ")[0].partition("\t")[0]
    return (name, stripped[1 + len(name) :].strip()) if name in NAMES else None


def parse_line(line: str) -> Command | None:
    """The command on one line, or None when the line holds none (``str`` methods only:
    linear in the line's length)."""
    found = _name_and_rest(line)
    if found is None:
        return None
    name, rest = found
    text = f"/{name} {rest}".strip()
    if len(rest) > MAX_ARGS:
        return Command("too-long", (), text)
    if name in ("label", "remove-label"):
        return Command(name, _split(rest, commas_only=True), text)
    if name in ("assign", "unassign"):
        return Command(name, _split(rest, commas_only=False), text)
    if name == "reviewers":
        return Command(name, (), text)
    word = rest.split()[0].lower() if rest else "help"
    return Command(word if word in ("wrong", "help") else "unknown", (rest,), text)


def parse_commands(body: str) -> list[Command]:
    """Every command in a comment, in order, each once; at most :data:`MAX_PARSED`."""
    found: dict[str, Command] = {}
    for line in command_lines(body):
        command = parse_line(line)
        if command is not None and command.text not in found:
            found[command.text] = command
            if len(found) >= MAX_PARSED:
                break
    return list(found.values())


def over_the_limit(commands: Sequence[Command]) -> tuple[list[Command], list[Command]]:
    """The commands of one comment that run (the first :data:`MAX_COMMANDS`) and the
    rest, which are refused."""
    return list(commands[:MAX_COMMANDS]), list(commands[MAX_COMMANDS:])


def too_many_reason() -> str:
    """Why a command past the limit did not run."""
    return (
        f"Steward runs at most {MAX_COMMANDS} commands from one comment (and reads at most "
        f"{MAX_PARSED}); write the rest in another comment."
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
    """The login an argument names (``@me``: the author); an argument that is no login
    is kept as written (GitHub then says it cannot be assigned)."""
    if arg.lower() in ("@me", "me"):
        return author
    name = arg.removeprefix("@")
    return name if is_login(name) else arg


def refusal(
    command: Command, *, kind: str, author: str, triager: bool, item_author: str = ""
) -> str | None:
    """Why ``author`` may not run ``command`` on this kind of item (None: they may)."""
    if command.name == "too-long":
        return (
            f"{code(command.text, limit=MAX_QUOTED)} is longer than {MAX_ARGS:,} characters; "
            "Steward reads shorter commands only."
        )
    if command.name == "unknown":
        return (
            f"{code(command.text, limit=MAX_QUOTED)} is not a command; `/steward help` lists them."
        )
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
    shown = [code(name, limit=MAX_QUOTED) for name in unknown[:MAX_LISTED]]
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


@dataclass(frozen=True)
class Undo:
    """What ``/steward wrong`` undoes on an item: triage's labels still on it (removed,
    each recorded as a correction), whether the duplicates suggestion made there is
    marked wrong, and every label removed (triage's and the duplicates' one)."""

    triage: tuple[str, ...] = ()
    duplicate: bool = False
    remove: tuple[str, ...] = ()


NOTHING_TO_UNDO = (
    "Steward applied no label that is still on this item and suggested no duplicate "
    "here; nothing to undo."
)


def plan_undo(
    actions: Sequence[Mapping[str, Any]],
    *,
    on_item: Sequence[str],
    suggestion: Mapping[str, Any] | None,
) -> Undo | str:
    """What ``/steward wrong`` does on an item (why not, when there is nothing to undo),
    from its audit-log rows, its labels now and the duplicates suggestion made there
    (``Store.duplicate_suggestion``; None: none). A suggestion that reached GitHub
    (``live``) and was not called wrong yet is marked wrong; when it was applied as a
    label that is still on the item, the label goes too. Triage's live labels still on
    the item are removed as before."""
    triage = present(bot_labels(actions), on_item)
    duplicate = (
        suggestion is not None
        and suggestion.get("state") == "live"
        and suggestion.get("verdict") != "wrong"
    )
    label = duplicates_label(actions) if duplicate else None
    extra = present([label], on_item) if label else []
    if not triage and not duplicate:
        return NOTHING_TO_UNDO
    remove = list(dict.fromkeys([*triage, *extra]))
    return Undo(tuple(triage), duplicate, tuple(remove))


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
    """The audit-log key of one reply to a comment's refused commands (one per set of
    refused commands; the reply itself is one per comment, edited in place)."""
    return f"command-refused:{full}#{number}:{comment}:{refused_digest(refused)}"


def refused_digest(refused: Sequence[Command]) -> str:
    """A digest naming a set of refused commands."""
    return digest("\n".join(sorted(c.text for c in refused)))


def comment_prefix(full: str, number: int, *, comment: int) -> str:
    """The start of every :func:`command_key` of one comment."""
    return f"command:{full}#{number}:{comment}:"


def earlier_refusals(
    rows: Iterable[Mapping[str, Any]], *, prefix: str
) -> list[tuple[Command, str]]:
    """The refusals recorded for one comment's commands (``prefix``: its
    :func:`comment_prefix`), oldest first, as ``(command, reason)``."""
    found: dict[str, tuple[Command, str]] = {}
    for row in rows:
        detail = row.get("detail") or {}
        if row.get("action") == "refused" and str(row.get("effect_key", "")).startswith(prefix):
            text = str(detail.get("command") or "")
            found.setdefault(text, (Command("recorded", (), text), str(detail.get("reason"))))
    return list(found.values())


def all_refusals(
    earlier: Sequence[tuple[Command, str]], now: Sequence[tuple[Command, str]]
) -> list[tuple[Command, str]]:
    """What the one reply to a comment lists: every refusal of it so far, each command
    once (the newest reason wins)."""
    merged = {command.text: (command, reason) for command, reason in earlier}
    merged.update({command.text: (command, reason) for command, reason in now})
    return list(merged.values())


def _moment(value: Any) -> datetime | None:
    """A stored time as an aware UTC datetime (SQLite gives naive ones)."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def replies_to(rows: Iterable[Mapping[str, Any]], *, author: str, since: datetime) -> int:
    """New replies the commands posted to ``author`` on one item since ``since`` (an
    edit in place of an earlier reply is no new reply)."""
    count = 0
    for row in rows:
        detail = row.get("detail") or {}
        at = _moment(row.get("created_at"))
        if (
            row.get("feature") == "commands"
            and row.get("action") == "refusal"
            and detail.get("reply") == "posted"
            and str(detail.get("author") or "").lower() == author.lower()
            and at is not None
            and at >= since
        ):
            count += 1
    return count


def may_reply(rows: Iterable[Mapping[str, Any]], *, author: str, now: datetime, limit: int) -> bool:
    """Whether ``author`` may get another new reply on this item (at most ``limit`` in
    :data:`REPLY_WINDOW`; past it, a reaction only)."""
    return replies_to(rows, author=author, since=now - REPLY_WINDOW) < limit


def reviewers_asked(rows: Iterable[Mapping[str, Any]], *, head: str) -> bool:
    """Whether ``/reviewers`` already ran on this pull request at head commit ``head``."""
    return any(
        row.get("feature") == "commands"
        and row.get("action") == "reviewers"
        and (row.get("detail") or {}).get("head") == head
        for row in rows
    )


def already_asked_reason(head: str) -> str:
    """Why ``/reviewers`` does not run twice on one head commit."""
    return (
        f"reviewers were already asked for this pull request at `{head[:12]}`; "
        "`/reviewers` runs again after a new commit."
    )


def said_before(rows: Iterable[Mapping[str, Any]], reason: str) -> bool:
    """Whether a refusal with exactly this ``reason`` was recorded on the item already."""
    return any(
        row.get("action") == "refused" and (row.get("detail") or {}).get("reason") == reason
        for row in rows
    )


def refusal_comment(author: str, refused: Sequence[tuple[Command, str]], *, comment: int) -> str:
    """The one reply that says why commands were not run (people's text in code spans;
    the author mentioned on purpose)."""
    listed = [f"- {code(command.text, limit=MAX_QUOTED)}: {reason}" for command, reason in refused]
    if len(listed) > MAX_LISTED:
        listed = [*listed[:MAX_LISTED], f"- … and {len(listed) - MAX_LISTED} more"]
    lines = "\n".join(listed)
    marker = REFUSAL_MARKER.format(comment=comment)
    return f"{mention(author)}, Steward did not run:\n\n{lines}\n\n{marker}"


def help_comment() -> str:
    """The ``/steward help`` answer: every command, who may run it and what it does."""
    # A table cell ends at any ``|``, even in a code span, unless it is escaped.
    rows = "\n".join(
        f"| `{cmd.replace('|', chr(92) + '|')}` | {who} | {what} |" for cmd, who, what in HELP
    )
    return (
        "Commands Steward understands at the start of a line in a comment:\n\n"
        "| command | who may | what it does |\n|---|---|---|\n"
        f"{rows}\n\nCommands in code blocks, quotes and HTML comments are ignored.\n\n"
        f"{HELP_MARKER}"
    )
