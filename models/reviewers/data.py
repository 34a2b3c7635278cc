"""Typed review history: the ``Change`` record and the JSONL loader.

A history is one reviewed change per line, oldest first::

    {"id", "created_at", "merged_at", "author", "reviewers": [...], "title", "body", "files": [...]}

Extra fields are kept in ``Change.extra``; ``author``, ``title`` and ``body`` may be empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Fields of the history format; anything else on a line goes to ``Change.extra``.
KNOWN_FIELDS = frozenset(
    {"id", "created_at", "merged_at", "author", "reviewers", "title", "body", "files"}
)


def parse_time(value: str | None) -> float:
    """Seconds since the epoch for an ISO-8601 timestamp (``Z`` allowed); 0.0 when empty."""
    if not value:
        return 0.0
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        # Naive timestamps in histories are UTC by convention (git, Gerrit and GitHub exports).
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def format_time(seconds: float) -> str:
    """ISO-8601 UTC timestamp (``2024-03-01T12:00:00Z``) for seconds since the epoch."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """One reviewed change (a merged pull request or Gerrit change)."""

    id: str
    created_at: float
    merged_at: float
    author: str
    reviewers: tuple[str, ...]
    title: str = ""
    body: str = ""
    files: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def text(self) -> str:
        """Title and body as one text, for the text-similarity signal."""
        return f"{self.title}\n{self.body}".strip()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Change:
        """Build a change from one decoded JSONL object (missing optional fields default)."""
        created = parse_time(raw.get("created_at"))
        merged = parse_time(raw.get("merged_at")) or created
        # Order-preserving de-duplication: a person or file listed twice counts once.
        reviewers = tuple(dict.fromkeys(str(r) for r in raw.get("reviewers") or () if r))
        files = tuple(dict.fromkeys(str(f) for f in raw.get("files") or () if f))
        return cls(
            id=str(raw.get("id", "")),
            created_at=created,
            merged_at=merged,
            author=str(raw.get("author") or ""),
            reviewers=reviewers,
            title=str(raw.get("title") or ""),
            body=str(raw.get("body") or ""),
            files=files,
            extra={k: v for k, v in raw.items() if k not in KNOWN_FIELDS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSONL object for this change (the inverse of ``from_dict``)."""
        return {
            "id": self.id,
            "created_at": format_time(self.created_at),
            "merged_at": format_time(self.merged_at),
            "author": self.author,
            "reviewers": list(self.reviewers),
            "title": self.title,
            "body": self.body,
            "files": list(self.files),
            **dict(self.extra),
        }


def iter_changes(lines: Iterable[str]) -> Iterator[Change]:
    """Decode JSONL lines into changes, skipping blank lines."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield Change.from_dict(json.loads(line))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"line {number}: not a review-history record: {exc}") from exc


def load_changes(path: str | Path, *, limit: int | None = None) -> list[Change]:
    """Read a JSONL review history, sorted by ``merged_at`` (stable, so file order breaks ties)."""
    with Path(path).open(encoding="utf-8") as handle:
        changes = []
        for change in iter_changes(handle):
            changes.append(change)
            if limit is not None and len(changes) >= limit:
                break
    return sorted(changes, key=lambda c: c.merged_at)
