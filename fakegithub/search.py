"""GitHub search query parsing and matching. Pure functions over fake state."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from fakegithub.state import Discussion, Issue, Repo


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search string: ``qualifiers`` (lower-case keys) plus free ``words``."""

    qualifiers: dict[str, list[str]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)

    def values(self, key: str) -> list[str]:
        """All values of a qualifier (``label:a label:b`` → ``["a", "b"]``)."""
        return self.qualifiers.get(key, [])


def parse(query: str) -> SearchQuery:
    """Split ``repo:o/r is:open label:"good first issue" crash`` into parts."""
    try:
        tokens = shlex.split(query)
    except ValueError:
        tokens = query.split()
    qualifiers: dict[str, list[str]] = {}
    words: list[str] = []
    for token in tokens:
        key, sep, value = token.partition(":")
        if sep and key and value and key.isalpha():
            qualifiers.setdefault(key.lower(), []).append(value)
        else:
            words.append(token.lower())
    return SearchQuery(qualifiers, words)


def _repo_ok(query: SearchQuery, repo: Repo) -> bool:
    repos = [r.lower() for r in query.values("repo")]
    orgs = [o.lower() for o in query.values("org") + query.values("user")]
    if repos and repo.full_name.lower() not in repos:
        return False
    return not orgs or repo.owner.lower() in orgs


def _text_ok(query: SearchQuery, title: str, body: str | None) -> bool:
    text = f"{title}\n{body or ''}".lower()
    return all(word in text for word in query.words)


def _kind_ok(query: SearchQuery, item: Issue) -> bool:
    flags = {v.lower() for v in query.values("is") + query.values("type")}
    if flags & {"issue"} and item.pull is not None:
        return False
    if flags & {"pr", "pull-request"} and item.pull is None:
        return False
    merged = item.pull is not None and item.pull.merged
    if "merged" in flags and not merged:
        return False
    if "unmerged" in flags and (item.pull is None or merged or item.state != "closed"):
        return False
    states = {s.lower() for s in query.values("state")} | (flags & {"open", "closed"})
    return not states or item.state in states


def matches_issue(query: SearchQuery, repo: Repo, item: Issue) -> bool:
    """Whether an issue or PR satisfies every qualifier GitHub's issue search supports
    here: ``repo: org: user: author: is: type: state: label: -label:`` and free text.
    """
    if not _repo_ok(query, repo) or not _kind_ok(query, item):
        return False
    authors = {a.lower() for a in query.values("author")}
    if authors and item.user.lower() not in authors:
        return False
    names = {n.lower() for n in item.labels}
    if any(label.lower() not in names for label in query.values("label")):
        return False
    return _text_ok(query, item.title, item.body)


def matches_discussion(query: SearchQuery, repo: Repo, item: Discussion) -> bool:
    """Whether a discussion satisfies ``repo:``, ``author:``, ``label:`` and free text."""
    if not _repo_ok(query, repo):
        return False
    authors = {a.lower() for a in query.values("author")}
    if authors and item.author.lower() not in authors:
        return False
    names = {n.lower() for n in item.labels}
    if any(label.lower() not in names for label in query.values("label")):
        return False
    return _text_ok(query, item.title, item.body)
