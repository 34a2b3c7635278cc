"""CODEOWNERS parsing and matching, as pure functions.

Follows GitHub's rules: one ``pattern owner...`` rule per line, ``#`` comments, the *last*
matching rule wins, a rule without owners un-owns its paths. Patterns use gitignore syntax:
a leading ``/`` or an inner ``/`` anchors to the repository root, ``*`` stays within one
component, ``**`` crosses directories, a trailing ``/`` matches a directory's contents, and a
pattern that names a directory owns everything below it (``dir/*`` only its direct files).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class OwnerRule:
    """One CODEOWNERS line: its pattern, the compiled matcher and its owners (lower-cased)."""

    pattern: str
    regex: re.Pattern[str]
    owners: tuple[str, ...]


def normalize_owner(owner: str) -> str:
    """Compare owners without ``@`` and case (``@Octo`` == ``octo``)."""
    return owner.strip().lstrip("@").lower()


def _translate(body: str) -> str:
    """gitignore glob body -> regex body (no anchors)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    return "".join(out)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile one CODEOWNERS pattern into a regex over repository-relative paths."""
    directory_only = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = pattern.startswith("/") or "/" in body
    prefix = "^" if anchored else "^(?:.*/)?"
    if not body:  # "/" alone: the whole repository
        return re.compile(r"^.*$")
    # A name may be a directory: then everything below it matches too. GitHub documents
    # ``docs/*`` as matching direct children only, so a trailing ``/*`` stops there.
    if directory_only:
        suffix = "/.*$"
    elif body.endswith("/*") and not body.endswith("**/*"):
        suffix = "$"
    else:
        suffix = "(?:/.*)?$"
    return re.compile(prefix + _translate(body) + suffix)


def parse_codeowners(text: str) -> list[OwnerRule]:
    """Parse CODEOWNERS text into rules, in file order (malformed lines are skipped)."""
    rules: list[OwnerRule] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        pattern, *owners = line.split()
        if pattern.startswith("!") or "[" in pattern:
            continue  # negation and character ranges are not supported by GitHub either
        rules.append(
            OwnerRule(pattern, compile_pattern(pattern), tuple(normalize_owner(o) for o in owners))
        )
    return rules


def owners_of(path: str, rules: Iterable[OwnerRule]) -> tuple[str, ...]:
    """Owners of ``path``: those of the last matching rule (empty when none matches)."""
    owners: tuple[str, ...] = ()
    for rule in rules:
        if rule.regex.match(path.lstrip("/")):
            owners = rule.owners
    return owners


def ownership_share(files: Iterable[str], rules: list[OwnerRule]) -> dict[str, float]:
    """For each owner, the share of ``files`` they own (0..1); teams count as owners too."""
    paths = list(files)
    counts: dict[str, int] = {}
    for path in paths:
        for owner in owners_of(path, rules):
            counts[owner] = counts.get(owner, 0) + 1
    return {owner: count / len(paths) for owner, count in counts.items()} if paths else {}
