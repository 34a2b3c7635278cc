"""Triage labels versus status labels, learned from a repository's labelled history, pure.

*Triage labels* (type, area, priority) are the ones people apply to new items soon
after they are opened; they are what the bot may guess on a new item. *Status and
workflow labels* (``duplicate``, ``wontfix``, ``stale``, ``help wanted``, …) say where
an item stands: people apply them late, or when they close it, and the bot never
guesses them.

The history is the collector's JSONL records (``steward dataset collect``)::

    {"repo", "number", "kind", "title", "body", "labels": [...],
     "created_at", "closed_at", "labelled_at": {label: time}}

Times are ISO-8601 (``2024-01-01T00:00:00Z``). An *application* of a label is one item
carrying it. It is *timed* when both the label's ``labelled_at`` time and the item's
``created_at`` parse; a missing or unreadable time makes it untimed (older files have
no ``labelled_at`` at all, so every application in them is untimed). A timed
application is *soon* when it came at most ``soon_days`` after the item was opened (one
stamped a little before opening counts as soon), and *at close* when the item has a
``closed_at`` and the label came at or after one hour before it.

The rules, first match wins (shares are taken over the label's timed applications):

| # | when | kind | reason |
|---|---|---|---|
| 1 | the name matches ``status_labels`` (see below) | status | listed as a status label |
| 2 | at close / timed ≥ ``min_share`` | status | applied when items are closed |
| 3 | timed > 0 and soon / timed < ``min_share`` | status | applied late in an item's life |
| 4 | timed > 0 | triage | applied soon after items are opened |
| 5 | no timed application | triage | no application times known and not listed as a status label |

``status_labels`` patterns match case-insensitively; a trailing ``*`` matches a prefix
(``status/*``). Labels of both kinds get a *family*, first match wins:

- ``priority`` for ``P0`` … ``P4`` (alone or followed by a separator and more),
  ``priority/…``, ``priority:…``, ``priority-…``, ``prio…`` alike, and ``high priority``
  style names;
- ``prefix`` for a ``prefix/name``, ``prefix:name`` or ``prefix-name`` label when at
  least two of the history's labels share that prefix (lower-cased; the first ``/``
  splits, else the first ``:``, else the first ``-``);
- ``type`` for GitHub's default type labels (``bug``, ``enhancement``, ``feature``,
  ``documentation``, ``docs``, ``question``);
- none otherwise.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TRIAGE = "triage"
STATUS = "status"

#: How long before closing an application still counts as made at close.
CLOSE_SLACK = timedelta(hours=1)
#: GitHub's default labels that say what kind of item it is (family ``type``).
TYPE_LABELS = frozenset({"bug", "enhancement", "feature", "documentation", "docs", "question"})

_PRIORITY = re.compile(
    r"(p[0-4]([\s:/-].*)?|prio(rity)?\s*[/:-].+|(critical|urgent|high|medium|low)[\s-]priority)",
    re.IGNORECASE,
)

LISTED = "listed as a status label"
AT_CLOSE = "applied when items are closed"
LATE = "applied late in an item's life"
SOON = "applied soon after items are opened"
UNTIMED = "no application times known and not listed as a status label"


@dataclass(frozen=True)
class LabelUse:
    """How people used one label in the history, and what that makes it."""

    label: str
    items: int  # items in the history carrying it (people's labels)
    timed: int  # of those, how many have a known application time
    soon: int  # applied within ``soon_days`` of the item being opened
    at_close: int  # applied at or after closing (within an hour before closing counts)
    kind: str  # "triage" or "status"
    family: str | None  # e.g. "type", "area", "priority", or a prefix such as "kind"
    reason: str  # one short human sentence: why triage or status


@dataclass(frozen=True)
class Taxonomy:
    """Every label of a history, each with its use, kind and family."""

    labels: dict[str, LabelUse]

    @property
    def triage_labels(self) -> list[str]:
        """Labels the bot may guess on a new item, sorted."""
        return sorted(name for name, use in self.labels.items() if use.kind == TRIAGE)

    @property
    def status_labels(self) -> list[str]:
        """Labels the bot never guesses, sorted."""
        return sorted(name for name, use in self.labels.items() if use.kind == STATUS)

    @property
    def families(self) -> dict[str, list[str]]:
        """Family → its labels (of both kinds), sorted; labels without a family left out."""
        grouped: dict[str, list[str]] = {}
        for name, use in sorted(self.labels.items()):
            if use.family is not None:
                grouped.setdefault(use.family, []).append(name)
        return dict(sorted(grouped.items()))


def _normal(text: str) -> str:
    """A label name or pattern for comparison: trimmed, case-folded, straight quotes."""
    return text.strip().casefold().replace("\u2019", "'")


def matches_status(name: str, patterns: Iterable[str]) -> bool:
    """Whether ``name`` matches one of ``patterns``: case-insensitive, and a trailing
    ``*`` matches any name that starts with what precedes it.
    """
    key = _normal(name)
    for raw in [patterns] if isinstance(patterns, str) else patterns:
        pattern = _normal(raw)
        if key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern:
            return True
    return False


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 time as an aware datetime (UTC when it names no offset); None when
    missing or unreadable.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class _Tally:
    items: int = 0
    timed: int = 0
    soon: int = 0
    at_close: int = 0


def _label_names(record: Mapping[str, Any]) -> list[str]:
    """A record's labels (strings or GitHub label objects), each once, in order."""
    names: list[str] = []
    for label in record.get("labels") or []:
        name = label.get("name") if isinstance(label, Mapping) else label
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def _tally(records: Iterable[Mapping[str, Any]], soon: timedelta) -> dict[str, _Tally]:
    """Per label: how many items carry it and when it was applied to them."""
    tallies: dict[str, _Tally] = {}
    for record in records:
        created = parse_time(record.get("created_at"))
        closed = parse_time(record.get("closed_at"))
        times = record.get("labelled_at")
        times = times if isinstance(times, Mapping) else {}
        for name in _label_names(record):
            tally = tallies.setdefault(name, _Tally())
            tally.items += 1
            applied = parse_time(times.get(name))
            if applied is None or created is None:
                continue
            tally.timed += 1
            tally.soon += int(applied - created <= soon)
            tally.at_close += int(closed is not None and applied >= closed - CLOSE_SLACK)
    return tallies


def _classify(name: str, tally: _Tally, patterns: list[str], min_share: float) -> tuple[str, str]:
    """(kind, reason) of one label by the module's rules."""
    if matches_status(name, patterns):
        return STATUS, LISTED
    if not tally.timed:
        return TRIAGE, UNTIMED
    if tally.at_close / tally.timed >= min_share:
        return STATUS, AT_CLOSE
    if tally.soon / tally.timed < min_share:
        return STATUS, LATE
    return TRIAGE, SOON


def _prefix(name: str) -> str | None:
    """The lower-cased ``prefix`` of ``prefix/name``, ``prefix:name`` or ``prefix-name``."""
    for separator in "/:-":
        head, found, tail = name.partition(separator)
        if found:
            head = head.strip().lower()
            return head if head and tail.strip() else None
    return None


def label_families(names: Iterable[str]) -> dict[str, str | None]:
    """The family of each name (see the module docstring), judged among ``names``."""
    unique = list(dict.fromkeys(names))
    prefixes = {name: _prefix(name) for name in unique}
    shared = Counter(prefix for prefix in prefixes.values() if prefix)
    families: dict[str, str | None] = {}
    for name in unique:
        prefix = prefixes[name]
        if _PRIORITY.fullmatch(name.strip()):
            families[name] = "priority"
        elif prefix and shared[prefix] >= 2:
            families[name] = prefix
        elif name.strip().lower() in TYPE_LABELS:
            families[name] = "type"
        else:
            families[name] = None
    return families


def learn_taxonomy(
    records: Iterable[Mapping[str, Any]],
    *,
    status_labels: Iterable[str],
    soon_days: float = 7.0,
    min_share: float = 0.5,
) -> Taxonomy:
    """Tell triage labels from status labels in a labelled history (the module's rules).

    ``records`` are the collector's records (the history's labels are people's: the
    collector drops the ones a bot applied); ``status_labels`` are the patterns listed
    as status (``triage.status_labels``; empty: learn from timing alone).
    """
    if soon_days < 0:
        raise ValueError(f"soon_days must be 0 or more, got {soon_days}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be above 0 and at most 1, got {min_share}")
    patterns = [status_labels] if isinstance(status_labels, str) else list(status_labels)
    tallies = _tally(records, timedelta(days=soon_days))
    families = label_families(tallies)
    uses: dict[str, LabelUse] = {}
    for name, tally in tallies.items():
        kind, reason = _classify(name, tally, patterns, min_share)
        uses[name] = LabelUse(
            label=name,
            items=tally.items,
            timed=tally.timed,
            soon=tally.soon,
            at_close=tally.at_close,
            kind=kind,
            family=families[name],
            reason=reason,
        )
    return Taxonomy(uses)
