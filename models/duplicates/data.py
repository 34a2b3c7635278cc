"""Reading a bug tracker's reports and its duplicate pairs (the GitBugs CSV layout).

``<name>_bugs.csv`` holds one report per row (``Summary``, ``Issue id``, ``Created``,
``Description`` and others this package ignores); ``<name>_bugs-combined.csv`` holds
``Issue id, Duplicate id`` pairs. Trackers write ``Created`` differently (Jira
``30/Sep/21 17:20``, Bugzilla ``2020-01-02 17:14:21+00:00``, ISO 8601 from GitHub), so
several formats are tried; a time without a zone is read as UTC. A report without a
readable time cannot be placed in the replay and is left out (and counted). A missing
``Description`` column or cell is an empty body. Parsing is pure (``parse_*`` take text);
only ``load_*`` read files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

#: Columns a reports file must have, and the one it may lack.
REPORT_COLUMNS = ("Issue id", "Summary", "Created")
BODY_COLUMN = "Description"
PAIR_COLUMNS = ("Issue id", "Duplicate id")
#: ``Created`` formats tried after ISO 8601, in order.
TIME_FORMATS = (
    "%d/%b/%y %H:%M",  # Jira: 30/Sep/21 17:20
    "%d/%b/%Y %H:%M",
    "%d/%b/%y %I:%M %p",  # Jira in 12-hour locales: 30/Sep/21 5:20 PM
    "%d/%b/%Y %I:%M %p",
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M:%S %Z",
    "%a %b %d %H:%M:%S %Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)
#: Largest CSV field accepted: pasted logs exceed csv's default of 128 KiB.
FIELD_LIMIT = 2**31 - 1


class TrackerDataError(ValueError):
    """A reports or pairs file that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class Report:
    """One bug report: key, title, body and creation time (POSIX seconds)."""

    key: str
    title: str
    body: str
    created: float


@dataclass
class Reports:
    """The reports read from a file, and what had to be left out."""

    reports: list[Report] = field(default_factory=list)
    undated: list[str] = field(default_factory=list)  # keys whose Created was unreadable
    repeated: int = 0  # rows whose key was seen before (the first one is kept)


def parse_time(text: str) -> float | None:
    """``text`` as POSIX seconds (naive times as UTC); None if no known format fits."""
    value = text.strip()
    if not value:
        return None
    for parse in (_iso, *(_strptime(fmt) for fmt in TIME_FORMATS)):
        try:
            moment = parse(value)
        except ValueError:
            continue
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return None


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _strptime(fmt: str) -> Callable[[str], datetime]:
    return lambda value: datetime.strptime(value, fmt)


def read_rows(text: str, required: Sequence[str], source: str) -> list[dict[str, str]]:
    """CSV rows of ``text`` as dicts with stripped header names; checks ``required``."""
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in required if name not in header]
    if missing:
        found = ", ".join(header) if header else "no header row"
        raise TrackerDataError(f"{source}: missing column(s) {', '.join(missing)} (found: {found})")
    reader.fieldnames = header
    try:
        return [{k: v or "" for k, v in row.items() if isinstance(k, str)} for row in reader]
    except csv.Error as exc:
        raise TrackerDataError(f"{source}: not a valid CSV file ({exc})") from exc


def parse_reports(text: str, source: str = "reports") -> Reports:
    """Reports of a ``<name>_bugs.csv`` text; TrackerDataError if unusable."""
    out, seen = Reports(), set()
    for row in read_rows(text, REPORT_COLUMNS, source):
        key = row["Issue id"].strip()
        if not key:
            continue
        if key in seen:
            out.repeated += 1
            continue
        seen.add(key)
        created = parse_time(row["Created"])
        if created is None:
            out.undated.append(key)
            continue
        body = row.get(BODY_COLUMN, "")
        out.reports.append(Report(key, row["Summary"].strip(), body, created))
    if not out.reports:
        raise TrackerDataError(_no_reports_message(source, out))
    return out


def _no_reports_message(source: str, read: Reports) -> str:
    if read.undated:
        return (
            f"{source}: no report has a readable Created time "
            f"({len(read.undated)} rows; expected e.g. 30/Sep/21 17:20 or ISO 8601)"
        )
    return f"{source}: holds no reports"


def parse_pairs(text: str, source: str = "pairs") -> list[tuple[str, str]]:
    """``(Issue id, Duplicate id)`` pairs of a ``<name>_bugs-combined.csv`` text."""
    rows = read_rows(text, PAIR_COLUMNS, source)
    pairs = [(row["Issue id"].strip(), row["Duplicate id"].strip()) for row in rows]
    return [(a, b) for a, b in pairs if a and b]


def read_text(path: str | Path) -> str:
    """The text of ``path`` (UTF-8; undecodable bytes replaced); TrackerDataError if unreadable."""
    target = Path(path)
    try:
        return target.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise TrackerDataError(f"{target}: no such file") from exc
    except OSError as exc:
        raise TrackerDataError(f"{target}: cannot be read ({exc.strerror or exc})") from exc


def load_reports(path: str | Path) -> Reports:
    """Reports of a ``<name>_bugs.csv`` file."""
    return parse_reports(read_text(path), str(path))


def load_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Duplicate pairs of a ``<name>_bugs-combined.csv`` file."""
    return parse_pairs(read_text(path), str(path))
