"""Collected history as records: what a collection asks for, which labels of an item
people applied, what one record looks like (JSONL or a one-label CSV), the resume state
of a collection, and reading a collected file back (pure functions and small file I/O).

The collector (:mod:`workers.collect`) writes these records; the bootstrap, retraining
and ``steward dataset collect`` read them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from core.accounts import is_bot_user
from core.settings import Settings
from models.triage.data import LabelledItem, item_from_json, repo_dirname

#: Version of the resume-state file layout.
STATE_VERSION = 1


#: Columns of the one-label CSV format (see ARCHITECTURE.md).
CSV_COLUMNS = ("repo", "created_at", "label", "title", "body")


#: Issue states the list endpoint accepts.
STATES = ("all", "open", "closed")


FORMATS = ("jsonl", "csv")


Format = Literal["jsonl", "csv"]


Cursor = tuple[str, int]


class CollectError(Exception):
    """A collection that cannot start or go on; the message says what to do."""


class ResumeMismatch(CollectError):
    """The output file belongs to another collection, or was changed since."""


@dataclass(frozen=True)
class CollectQuery:
    """What is collected: the identity a resume state must match."""

    repo: str
    state: str = "all"
    since: str | None = None
    format: Format = "jsonl"

    @property
    def owner_and_name(self) -> tuple[str, str]:
        """``(owner, name)`` of :attr:`repo`."""
        return parse_repo(self.repo)


def parse_repo(full_name: str) -> tuple[str, str]:
    """``owner/name`` → ``(owner, name)``; ``ValueError`` for anything else."""
    parts = full_name.strip().strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{full_name!r} is not a repository; write it as owner/name")
    return parts[0], parts[1]


def parse_since(raw: str) -> str:
    """An ISO-8601 date or time as GitHub's ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).

    A date alone means midnight UTC; a time without an offset is taken as UTC.
    """
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {raw!r} is not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_for(path: Path, explicit: str | None = None) -> Format:
    """The output format: the one asked for, else ``csv`` for ``*.csv``, else ``jsonl``."""
    chosen = explicit or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    if chosen not in FORMATS:
        raise ValueError(f"format {chosen!r} is not one of {', '.join(FORMATS)}")
    return "csv" if chosen == "csv" else "jsonl"


def label_names(item: Mapping[str, Any]) -> list[str]:
    """Names of an issue's current labels (strings or label objects), in order."""
    names = []
    for label in item.get("labels") or []:
        name = label.get("name") if isinstance(label, Mapping) else label
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def last_labelers(events: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any] | None]:
    """For each label name (lower-cased), the actor of its latest ``labeled`` event."""
    found: dict[str, Mapping[str, Any] | None] = {}
    for event in events:
        label = event.get("label") or {}
        if event.get("event") == "labeled" and label.get("name"):
            found[str(label["name"]).lower()] = event.get("actor")
    return found


def label_times(events: Iterable[Mapping[str, Any]], labels: Iterable[str]) -> dict[str, str]:
    """For each of ``labels``, the time of its latest ``labeled`` event.

    Names match case-insensitively, like :func:`last_labelers`; a label without a
    timed ``labeled`` event is absent from the result.
    """
    latest: dict[str, str] = {}
    for event in events:
        label = event.get("label") or {}
        when = event.get("created_at")
        if event.get("event") == "labeled" and label.get("name") and when:
            latest[str(label["name"]).lower()] = str(when)
    return {name: latest[name.lower()] for name in labels if name.lower() in latest}


def kept_labels(
    labels: Sequence[str],
    events: Iterable[Mapping[str, Any]],
    *,
    extra_bots: Iterable[str] = (),
) -> list[str]:
    """The current labels a person applied.

    A label is dropped when its latest ``labeled`` event was made by a bot (Steward's
    own ``steward[bot]`` included); a label with no ``labeled`` event is kept (GitHub
    does not always record labels set when the item was created).
    """
    extra = tuple(extra_bots)
    labelers = last_labelers(events)
    return [
        name
        for name in labels
        if name.lower() not in labelers or not is_bot_user(labelers[name.lower()], also=extra)
    ]


def is_pull_request(item: Mapping[str, Any]) -> bool:
    """Whether an item of the issues list is a pull request."""
    return bool(item.get("pull_request"))


def make_record(
    repo: str,
    item: Mapping[str, Any],
    *,
    labels: Sequence[str],
    files: Sequence[str] | None = None,
    labelled_at: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSONL record of an issue or pull request (``files`` only for pull requests).

    ``labelled_at`` maps a label to the time it was last applied (see
    :func:`label_times`); entries for labels not in ``labels`` are left out.
    """
    kind = "pull_request" if is_pull_request(item) else "issue"
    times = labelled_at or {}
    record: dict[str, Any] = {
        "repo": repo,
        "number": int(item["number"]),
        "kind": kind,
        "title": item.get("title") or "",
        "body": item.get("body") or "",
        "labels": list(labels),
        "created_at": item.get("created_at") or "",
        "closed_at": item.get("closed_at") or None,
        "labelled_at": {name: str(times[name]) for name in labels if name in times},
    }
    if kind == "pull_request":
        record["files"] = list(files or [])
    return record


def graphql_item(node: Mapping[str, Any], *, kind: str) -> dict[str, Any]:
    """A GraphQL ``Issue`` or ``PullRequest`` in the REST shape the record rules read."""
    labels = [{"name": label["name"]} for label in (node.get("labels") or {}).get("nodes") or []]
    item: dict[str, Any] = {
        "number": int(node["number"]),
        "title": node.get("title") or "",
        "body": node.get("body") or "",
        "created_at": node.get("createdAt") or "",
        "closed_at": node.get("closedAt") or None,
        "labels": labels,
    }
    if kind == "pull_request":
        item["pull_request"] = {"node_id": node.get("id")}
    return item


def graphql_events(nodes: Iterable[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """The timeline's ``LabeledEvent``/``UnlabeledEvent`` nodes as REST issue events
    (``event``, ``actor`` with its ``type``, ``created_at``, ``label``)."""
    events = []
    for node in nodes:
        if not node or node.get("__typename") not in ("LabeledEvent", "UnlabeledEvent"):
            continue
        actor = node.get("actor")
        events.append(
            {
                "event": "labeled" if node["__typename"] == "LabeledEvent" else "unlabeled",
                "actor": (
                    {"login": actor.get("login"), "type": actor.get("__typename")}
                    if isinstance(actor, Mapping)
                    else None
                ),
                "created_at": node.get("createdAt"),
                "label": {"name": (node.get("label") or {}).get("name")},
            }
        )
    return events


def graphql_record(
    repo: str,
    node: Mapping[str, Any],
    *,
    kind: str,
    events: Sequence[Mapping[str, Any]],
    files: Sequence[str] | None = None,
    extra_bots: Iterable[str] = (),
) -> dict[str, Any]:
    """The record of a GraphQL item, by the same rules as the REST collector's: labels
    people applied (the latest labelling by a bot drops a label), when each was applied,
    a pull request's files."""
    item = graphql_item(node, kind=kind)
    labels = label_names(item)
    times: dict[str, str] = {}
    if labels:
        labels = kept_labels(labels, events, extra_bots=extra_bots)
        times = label_times(events, labels)
    pull_files = list(files or []) if kind == "pull_request" else None
    return make_record(repo, item, labels=labels, files=pull_files, labelled_at=times)


def csv_row(record: Mapping[str, Any]) -> list[str] | None:
    """The one-label CSV row of a record, or None unless it has exactly one label."""
    labels = record["labels"]
    if len(labels) != 1:
        return None
    return [record["repo"], record["created_at"], labels[0], record["title"], record["body"]]


def encode_record(record: Mapping[str, Any], fmt: Format) -> str | None:
    """The text a record adds to the output file (None: the format skips it)."""
    if fmt == "jsonl":
        text = json.dumps(record, ensure_ascii=False)
        # Keep one record per line for readers that split on Unicode line breaks too.
        for char in ("\u2028", "\u2029", "\x85"):
            text = text.replace(char, f"\\u{ord(char):04x}")
        return text + "\n"
    row = csv_row(record)
    return None if row is None else csv_line(row)


def csv_line(row: Sequence[str]) -> str:
    """One CSV record, quoted as needed."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue()


def item_cursor(item: Mapping[str, Any]) -> Cursor:
    """The sort position of an item in the ``sort=created&direction=asc`` listing."""
    return str(item.get("created_at") or ""), int(item["number"])


def is_new(item: Mapping[str, Any], cursor: Cursor | None) -> bool:
    """Whether an item comes after the last one already processed."""
    return cursor is None or item_cursor(item) > cursor


def created_since(item: Mapping[str, Any], since: str | None) -> bool:
    """Whether an item was created at or after ``since`` (``--since``)."""
    return since is None or str(item.get("created_at") or "") >= since


@dataclass(frozen=True)
class ResumeState:
    """Progress of one collection, saved next to its output after every record.

    ``page`` holds the last processed item (re-read on resume), ``cursor`` is that
    item's sort position, ``offset`` the committed length of the output in bytes.
    """

    query: CollectQuery
    page: int = 1
    cursor: Cursor | None = None
    offset: int = 0
    written: int = 0
    complete: bool = False


def state_path(out: Path) -> Path:
    """Where the resume state of ``out`` lives: ``FILE.state.json`` beside it."""
    return out.with_name(out.name + ".state.json")


def state_to_json(state: ResumeState) -> dict[str, Any]:
    """The JSON object saved for a resume state."""
    data = asdict(state)
    data["version"] = STATE_VERSION
    data["cursor"] = list(state.cursor) if state.cursor else None
    return data


def state_from_json(data: Mapping[str, Any]) -> ResumeState:
    """A resume state from its JSON object; ``ResumeMismatch`` if it is not one."""
    try:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        query = CollectQuery(**data["query"])
        cursor = data.get("cursor")
        return ResumeState(
            query=query,
            page=int(data["page"]),
            cursor=(str(cursor[0]), int(cursor[1])) if cursor else None,
            offset=int(data["offset"]),
            written=int(data["written"]),
            complete=bool(data.get("complete", False)),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ResumeMismatch(
            f"the resume state is not one this version understands ({exc}); pass --restart"
        ) from None


def resume_from(
    saved: ResumeState | None, query: CollectQuery, *, out_size: int | None
) -> ResumeState:
    """Where a run starts, given the saved state (if any) and the output's size.

    ``out_size`` is None when the output does not exist. A state for another query, an
    output shorter than the committed length, or an output with content but no state
    is refused rather than guessed at.
    """
    if saved is None:
        if out_size:
            raise ResumeMismatch(
                "the output file exists and has no resume state; choose another --out "
                "or pass --restart to overwrite it"
            )
        return ResumeState(query=query)
    if saved.query != query:
        raise ResumeMismatch(
            f"the output file belongs to another collection ({describe(saved.query)}, not "
            f"{describe(query)}); choose another --out or pass --restart to overwrite it"
        )
    if (out_size or 0) < saved.offset:
        raise ResumeMismatch(
            "the output file is shorter than its resume state says (was it edited?); "
            "pass --restart to collect again from the start"
        )
    return saved


def describe(query: CollectQuery) -> str:
    """A short human description of a query."""
    parts = [query.repo, f"state={query.state}", f"format={query.format}"]
    if query.since:
        parts.append(f"since={query.since}")
    return " ".join(parts)


def load_state(path: Path) -> ResumeState | None:
    """The saved resume state, or None when there is none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return state_from_json(json.loads(text))
    except json.JSONDecodeError as exc:
        raise ResumeMismatch(f"{path} is not valid JSON ({exc}); pass --restart") from None


def save_state(path: Path, state: ResumeState) -> None:
    """Write the resume state atomically (a crash leaves the old or the new one)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state_to_json(state), indent=1) + "\n")
    os.replace(tmp, path)


def latest_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per item: the last one written (a refresh appends newer versions), at
    the place the item first appeared.
    """
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        latest[(str(record.get("repo")), int(record.get("number") or 0))] = dict(record)
    return list(latest.values())


def read_records(path: Path) -> list[dict[str, Any]]:
    """The current record of every item of a collected JSONL file (none if it is missing)."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return latest_records(json.loads(line) for line in lines if line.strip())


def refresh_path(out: Path) -> Path:
    """Where the time of the last refresh of ``out`` is kept: ``FILE.refresh.json``."""
    return out.with_name(out.name + ".refresh.json")


def dataset_path(settings: Settings, repo: str) -> Path:
    """Where a repository's collected history was kept before it moved to the database
    (``history_items``); a file left there is deleted with the repository's data."""
    return settings.data_dir / "datasets" / f"{repo_dirname(repo)}.jsonl"


def read_issues(path: Path) -> list[LabelledItem]:
    """The issues (not pull requests) of a collected JSONL file, as last refreshed."""
    return issues_of(read_records(path))


def issues_of(records: Iterable[Mapping[str, Any]]) -> list[LabelledItem]:
    """The issues (not pull requests) of collected records, as labelled items."""
    return [item_from_json(dict(r)) for r in records if r.get("kind", "issue") == "issue"]
