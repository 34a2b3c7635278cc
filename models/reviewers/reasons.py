"""One-line, human-readable reasons for a reviewer suggestion (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Evidence:
    """The facts behind one suggestion, gathered from the past for the top candidates."""

    login: str
    top_path: str = ""  # the change's file this person touched most
    path_count: int = 0
    path_last: float = 0.0
    top_dir: str = ""  # else: the change's directory they worked in most
    dir_count: int = 0
    dir_last: float = 0.0
    owned: str = ""  # a file they own per CODEOWNERS
    author: str = ""
    author_reviews: int = 0  # this author's changes they reviewed
    similar_title: str = ""  # the most similar past change they reviewed
    last_review: float = 0.0


def month_year(seconds: float) -> str:
    """``March 2024`` for a timestamp."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%B %Y")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def reason_text(evidence: Evidence) -> str:
    """The strongest piece of evidence as one sentence fragment.

    >>> reason_text(Evidence("ana", top_path="net/http2/transport.go", path_count=14,
    ...                      path_last=1709251200.0))
    'touched `net/http2/transport.go` 14 times, last in March 2024'
    """
    e = evidence
    if e.path_count:
        main = f"touched `{e.top_path}` {_times(e.path_count)}, last in {month_year(e.path_last)}"
    elif e.owned:
        main = f"owns `{e.owned}` per CODEOWNERS"
    elif e.dir_count:
        where = f"`{e.top_dir}/`" if e.top_dir else "the top-level directory"
        main = f"worked in {where} {_times(e.dir_count)}, last in {month_year(e.dir_last)}"
    elif e.similar_title:
        main = f"reviewed a similar change: “{e.similar_title}”"
    elif e.last_review:
        main = f"active reviewer, last review in {month_year(e.last_review)}"
    else:
        return "no past activity here; suggested by position"
    if e.author_reviews and e.author:
        main += f"; reviewed {e.author}'s changes {_times(e.author_reviews)}"
    return main
