"""Possible duplicates, decided (pure): which earlier issue people said an issue
duplicates, the score the gate reads, what to do with a new issue's candidates, and the
comment.

* **History.** People mark a duplicate in three ways GitHub shows: a comment that starts
  with ``Duplicate of #N`` (GitHub then records a ``marked_as_duplicate`` event), the
  close reason ``duplicate``, or a duplicate label. A comment names the earlier issue
  itself; the event, the close reason and the label do not (the REST events carry no
  target), so with them the earlier issue is the first one people's comments link,
  newest comment first. An ``unmarked_as_duplicate`` after the last mark undoes it.
* **Score.** The ranking (``models.duplicates``: encoder, words and recency fused as
  z-scores) says which earlier issue is likeliest; how sure to be of it is read from how
  much the two share in absolute terms: the mean of their cosine and of the top
  candidate's BM25 as a share of the most any issue could score for the new one's words
  (``gate_score``, in [0, 1], so the label gate's thresholds apply unchanged). A z-score
  says only that a candidate stands out among the others, which the closest of many
  unrelated issues always does: replayed on the Hadoop and SeaMonkey trackers, this score
  told right top suggestions from wrong ones with an AUC of 0.803 and 0.768, the fused
  z-score with 0.701 and 0.698 (``docs/duplicates.md``).
* **Decision.** ``off``: nothing. ``shadow``: recorded only. ``live``: a comment (or
  the label) only when the gate is live and the top candidate's score reaches its
  threshold; otherwise recorded in shadow. Nothing is ever closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.accounts import is_bot_user
from core.markdown import inert

#: The hidden marker of the bot's one duplicates comment on an issue.
MARKER = "<!-- steward:duplicates -->"
#: Characters of an earlier issue's title a comment shows.
TITLE_CHARS = 120
#: Close reasons that may mean "duplicate" (GitHub's ``duplicate``; before it existed,
#: duplicates were closed as ``not planned``).
DUPLICATE_REASONS = frozenset({"duplicate", "not_planned"})
#: The earlier issue of a duplicate whose mark names none (its truth is unknown: the
#: replay does not ask it, but it stays a candidate for later issues).
UNKNOWN = 0

_REF = r"(?:https?://[^\s/]+/(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)/issues/|(?P<full>[\w.-]+/[\w.-]+)?#)(?P<number>\d+)"
DUPLICATE_OF = re.compile(r"^[ \t]*duplicate of[ \t]+" + _REF, re.IGNORECASE | re.MULTILINE)
ISSUE_REF = re.compile(r"(?<![\w/])" + _REF, re.IGNORECASE)


def effect_key(full: str, number: int) -> str:
    """The audit key of the one duplicates decision per issue."""
    return f"duplicates:{full}#{number}"


def gate_score(cosine: float, words_share: float) -> float:
    """How sure to be of a candidate, in [0, 1]: the mean of its cosine with the new issue
    (negative read as 0) and the share of the new issue's best possible BM25 it scores."""
    return 0.5 * (min(max(cosine, 0.0), 1.0) + min(max(words_share, 0.0), 1.0))


def _ref_number(match: re.Match[str], full: str) -> int | None:
    """The issue a reference names when it is in repository ``full`` (None: elsewhere)."""
    owner, repo, named = match.group("owner"), match.group("repo"), match.group("full")
    where = f"{owner}/{repo}" if owner else named
    if where and where.casefold() != full.casefold():
        return None
    return int(match.group("number"))


def _people_comments(comments: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [c for c in comments if not is_bot_user(c.get("user"))]


def marked_in_comments(
    comments: Sequence[Mapping[str, Any]], *, full: str, number: int
) -> int | None:
    """The issue the newest ``Duplicate of #N`` comment names (None: no such comment)."""
    for comment in reversed(list(comments)):
        for match in DUPLICATE_OF.finditer(str(comment.get("body") or "")):
            found = _ref_number(match, full)
            if found is not None and found != number:
                return found
    return None


def linked_earlier(comments: Sequence[Mapping[str, Any]], *, full: str, number: int) -> int | None:
    """The first earlier issue of this repository people's comments link, newest
    comment first (an issue numbered before ``number``)."""
    for comment in reversed(_people_comments(comments)):
        for match in ISSUE_REF.finditer(str(comment.get("body") or "")):
            found = _ref_number(match, full)
            if found is not None and 0 < found < number:
                return found
    return None


def still_marked(events: Iterable[Mapping[str, Any]]) -> bool | None:
    """Whether the newest duplicate event marks (True) or unmarks (False); None: none."""
    state = None
    for event in events:
        if event.get("event") == "marked_as_duplicate":
            state = True
        elif event.get("event") == "unmarked_as_duplicate":
            state = False
    return state


def has_label(issue: Mapping[str, Any], labels: Iterable[str]) -> bool:
    """Whether the issue carries one of ``labels`` (case-insensitive)."""
    wanted = {name.casefold() for name in labels}
    names = {str((label or {}).get("name") or "").casefold() for label in issue.get("labels") or []}
    return bool(wanted & names)


def hinted(issue: Mapping[str, Any], labels: Iterable[str]) -> bool:
    """Whether a closed issue may be a duplicate (worth reading its comments and events)."""
    if issue.get("state") != "closed" or "pull_request" in issue:
        return False
    return issue.get("state_reason") in DUPLICATE_REASONS or has_label(issue, labels)


def to_read(
    issues: Sequence[Mapping[str, Any]], *, labels: Iterable[str], known: set[int], limit: int
) -> list[Mapping[str, Any]]:
    """The closed issues whose comments are worth reading, at most ``limit``: those with a
    hint first, then those with any comment (a ``Duplicate of #N`` comment may close an
    issue as completed), newest first as given; issues in ``known`` left out."""
    closed = [
        i
        for i in issues
        if i.get("state") == "closed" and "pull_request" not in i and int(i["number"]) not in known
    ]
    first = [i for i in closed if hinted(i, labels)]
    rest = [i for i in closed if not hinted(i, labels) and int(i.get("comments") or 0) > 0]
    return (first + rest)[:limit]


def duplicate_of(
    issue: Mapping[str, Any],
    comments: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    *,
    full: str,
    labels: Iterable[str],
) -> tuple[int, str] | None:
    """``(earlier issue, how people said so)`` when people marked ``issue`` a duplicate
    of an earlier issue of ``full`` (module doc); the earlier issue is ``UNKNOWN`` when
    the mark names none and no comment links one. None: not marked."""
    number = int(issue["number"])
    marked = still_marked(events)
    if marked is False:
        return None
    named = marked_in_comments(comments, full=full, number=number)
    if named is not None:
        return named, "comment"
    for source, said in (
        ("event", marked is True),
        ("state_reason", issue.get("state_reason") == "duplicate"),
        ("label", has_label(issue, labels)),
    ):
        if said:
            linked = linked_earlier(comments, full=full, number=number)
            return (linked if linked is not None else UNKNOWN), source
    return None


@dataclass(frozen=True)
class Found:
    """One candidate as the decision reads it: the earlier issue and its gate score."""

    number: int
    score: float
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    """What to do with a new issue's candidates, and why."""

    action: str  # "comment", "label": act; "suggest": would, held back; "none"
    suggested: tuple[int, ...] = ()
    score: float = 0.0
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def acts(self) -> bool:
        """Whether the decision changes GitHub (in a repository in live mode)."""
        return self.action in ("comment", "label")


def decide(
    found: Sequence[Found],
    *,
    setting: str,
    gate: Mapping[str, Any],
    how: str,
    count: int,
) -> Decision:
    """The decision for a new issue's candidates (best first), ``triage.duplicates``
    ``setting`` and the repository's gate (``LabelGate`` JSON)."""
    threshold, live = float(gate["threshold"]), bool(gate["live"])
    detail = {"threshold": threshold, "gate": "live" if live else "shadow", "setting": setting}
    if not found:
        return Decision("none", reason="no earlier issue to compare with", detail=detail)
    top = found[0]
    suggested = tuple(f.number for f in found[:count])
    if top.score < threshold:
        why = f"top score {top.score:.3f} below the threshold {threshold:.3f}"
        return Decision("none", (), top.score, why, detail)
    if setting != "live":
        return Decision("suggest", suggested, top.score, "triage.duplicates is shadow", detail)
    if not live:
        why = "the gate is in shadow: the history has not shown the precision yet"
        return Decision("suggest", suggested, top.score, why, detail)
    return Decision(how, suggested, top.score, "the gate is live", detail)


def state_word(issue: Mapping[str, Any]) -> str:
    """``open``, ``closed`` or ``closed as a duplicate`` (as a maintainer reads it)."""
    if issue.get("state") != "closed":
        return "open"
    return "closed as a duplicate" if issue.get("state_reason") == "duplicate" else "closed"


def comment_body(rows: Sequence[tuple[int, str, str]]) -> str:
    """The one comment: ``(number, title, state)`` per earlier issue, titles shown inert."""
    lines = "\n".join(
        f"- #{number} ({state}): {inert(title, limit=TITLE_CHARS)}" for number, title, state in rows
    )
    return (
        "This issue is possibly a duplicate of:\n\n"
        f"{lines}\n\n"
        "If it is not, a maintainer can react with 👎 to this comment or write "
        "`/steward wrong`: Steward learns from it. Steward never closes issues.\n\n"
        f"{MARKER}"
    )
