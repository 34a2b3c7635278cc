"""Collect training data for the triage classifier from a GitHub repository.

``collect()`` pages through a repository's issues and pull requests (oldest first),
keeps the labels a person applied (labels whose latest ``labeled`` event came from a
bot are dropped), adds each pull request's changed paths, and appends one record per
item to a JSONL file (or a one-label CSV). It writes incrementally and records a small
resume state next to the output (``FILE.state.json``): the page of the last item
written, that item's ``(created_at, number)`` cursor and the committed byte length of
the file. Re-running the same collection truncates any half-written tail, re-reads that
page, skips what is already written and goes on, so lines are never duplicated; a
finished collection re-run picks up only the items created since.

GitHub exposes the *current* body of an issue, not the one it was opened with, so
``body`` is today's text; labels are rolled back as far as the events API allows.
A JSONL record also says when the item was closed (``closed_at``) and when each kept
label was last applied (``labelled_at``, from the same events), which is how
``models/triage/taxonomy.py`` tells triage labels from status labels. The CSV format
has neither.

Decisions (which labels to keep, what a record looks like, what the resume state
says) are pure functions; the HTTP and file work sits in :func:`collect` and the small
helpers around it.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from core.accounts import is_bot_user
from workers.github import RateLimited, pull_files

#: Items per page (GitHub's maximum).
PER_PAGE = 100
#: Version of the resume-state file layout.
STATE_VERSION = 1
#: Columns of the one-label CSV format (see ARCHITECTURE.md).
CSV_COLUMNS = ("repo", "created_at", "label", "title", "body")
#: Issue states the list endpoint accepts.
STATES = ("all", "open", "closed")
FORMATS = ("jsonl", "csv")

Format = Literal["jsonl", "csv"]
Cursor = tuple[str, int]
T = TypeVar("T")


class CollectError(Exception):
    """A collection that cannot start or go on; the message says what to do."""


class RepoNotFound(CollectError):
    """The repository does not exist or these credentials cannot see it."""


class ResumeMismatch(CollectError):
    """The output file belongs to another collection, or was changed since."""


# ----------------------------------------------------------------- the query


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


# ------------------------------------------------------- labels and records


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


# ---------------------------------------------------------------- resume state


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


# ------------------------------------------------------------------ the writer


class Output:
    """The output file, truncated to its committed length and appended to."""

    def __init__(self, path: Path, state: ResumeState) -> None:
        self.path = path
        self._file = path.open("r+b" if path.exists() else "w+b")
        self._file.truncate(state.offset)
        self._file.seek(state.offset)
        if state.offset == 0 and state.query.format == "csv":
            self.write(csv_line(CSV_COLUMNS))

    def write(self, text: str) -> int:
        """Append text, flush it to the OS and return the new committed length."""
        self._file.write(text.encode("utf-8"))
        self._file.flush()
        return self._file.tell()

    @property
    def offset(self) -> int:
        """The current length of what has been written."""
        return self._file.tell()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


# ---------------------------------------------------------------- GitHub calls


Sleep = Callable[[float], Awaitable[None]]
Echo = Callable[[str], None]


async def patiently(call: Callable[[], Awaitable[T]], *, sleep: Sleep, echo: Echo) -> T:
    """Run ``call``; when GitHub's rate limit outlasts the client's own wait, sleep it
    out (saying so) and try again.
    """
    while True:
        try:
            return await call()
        except RateLimited as exc:
            until = datetime.now(UTC).timestamp() + exc.wait_seconds
            clock = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
            echo(
                f"GitHub rate limit reached; waiting {exc.wait_seconds:.0f}s (until {clock}). "
                "Interrupting is safe: re-run the same command to continue."
            )
            await sleep(exc.wait_seconds)


def issue_list_params(query: CollectQuery, *, sort: str) -> dict[str, Any]:
    """Parameters of ``GET /repos/{owner}/{repo}/issues``, oldest first by ``sort``."""
    owner, name = query.owner_and_name
    return {
        "owner": owner,
        "repo": name,
        "state": query.state,
        "sort": sort,
        "direction": "asc",
        "per_page": PER_PAGE,
    }


async def fetch_page(gh: GitHubAPI, query: CollectQuery, page: int) -> list[dict[str, Any]]:
    """One page of the repository's issues and pull requests, oldest first."""
    params = issue_list_params(query, sort="created")
    params["page"] = page
    if query.since:
        params["since"] = query.since  # GitHub filters on updated_at: a superset
    try:
        data = await gh.getitem(
            "/repos/{owner}/{repo}/issues{?state,sort,direction,since,per_page,page}", params
        )
    except BadRequest as exc:
        if exc.status_code in (404, 410):
            raise RepoNotFound(
                f"repository {query.repo} was not found or is not accessible with these credentials"
            ) from None
        raise
    return list(data or [])


async def fetch_events(gh: GitHubAPI, owner: str, name: str, *, number: int) -> list[Any]:
    """Every event of an issue or pull request (all pages)."""
    url = "/repos/{owner}/{repo}/issues/{issue_number}/events{?per_page}"
    params: dict[str, Any] = {
        "owner": owner,
        "repo": name,
        "issue_number": number,
        "per_page": PER_PAGE,
    }
    return [event async for event in gh.getiter(url, params)]


# ------------------------------------------------------------------ collecting


@dataclass(frozen=True)
class CollectResult:
    """What one run did."""

    written: int
    new: int
    pages: int
    complete: bool
    skipped: int = 0


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Collector:
    """One run of a collection: GitHub client, output, state and options."""

    gh: GitHubAPI
    out: Path
    state: ResumeState
    output: Output
    limit: int | None = None
    extra_bots: tuple[str, ...] = ()
    sleep: Sleep = _real_sleep
    echo: Echo = _stderr
    new: int = 0
    skipped: int = 0

    @property
    def full(self) -> bool:
        """Whether ``--limit`` records are in the file."""
        return self.limit is not None and self.state.written >= self.limit

    async def record_for(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """The record of one item, or None when it vanished meanwhile."""
        owner, name = self.state.query.owner_and_name
        number = int(item["number"])
        labels = label_names(item)
        times: dict[str, str] = {}
        try:
            if labels:
                events = await patiently(
                    lambda: fetch_events(self.gh, owner, name, number=number),
                    sleep=self.sleep,
                    echo=self.echo,
                )
                labels = kept_labels(labels, events, extra_bots=self.extra_bots)
                times = label_times(events, labels)
            files = None
            if is_pull_request(item):
                files = await patiently(
                    lambda: pull_files(self.gh, owner, name, number=number),
                    sleep=self.sleep,
                    echo=self.echo,
                )
        except BadRequest as exc:
            if exc.status_code not in (404, 410):
                raise
            self.echo(f"#{number} is gone (HTTP {exc.status_code}); skipped")
            return None
        return make_record(
            self.state.query.repo, item, labels=labels, files=files, labelled_at=times
        )

    async def process(self, item: Mapping[str, Any], page: int) -> None:
        """Write one item (if the format keeps it) and commit the state."""
        wanted = created_since(item, self.state.query.since)
        record = await self.record_for(item) if wanted else None
        text = encode_record(record, self.state.query.format) if record else None
        written = self.state.written
        if text is None:
            self.skipped += 1
        else:
            written += 1
            self.new += 1
        offset = self.output.write(text) if text else self.output.offset
        self.state = replace(
            self.state, page=page, cursor=item_cursor(item), offset=offset, written=written
        )
        save_state(state_path(self.out), self.state)

    def finish_page(self, count: int) -> None:
        """Record that a page was read (to its end unless the limit stopped it); a short
        page read to its end is the last one.

        ``state.page`` stays the page of the last item processed: a resumed run reads
        it again (one request), which also catches items that moved up a page since.
        """
        self.state = replace(self.state, complete=count < PER_PAGE and not self.full)
        save_state(state_path(self.out), self.state)


async def collect(
    gh: GitHubAPI,
    query: CollectQuery,
    out: Path,
    *,
    limit: int | None = None,
    max_pages: int | None = None,
    extra_bots: Iterable[str] = (),
    restart: bool = False,
    progress: bool = True,
    sleep: Sleep | None = None,
    echo: Echo | None = None,
) -> CollectResult:
    """Collect ``query``'s issues and pull requests into ``out``, resuming if possible.

    ``limit`` caps the records in the file (over every run), ``max_pages`` the pages
    this run reads. ``sleep`` and ``echo`` (rate-limit waits and messages) are
    injectable for tests.
    """
    sp = state_path(out)
    if restart:
        sp.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    out_size = out.stat().st_size if out.exists() else None
    try:
        state = resume_from(load_state(sp), query, out_size=out_size)
    except ResumeMismatch as exc:
        raise ResumeMismatch(f"{out}: {exc}") from None
    say = echo or _stderr
    if state.cursor is not None:
        say(f"resuming {describe(query)} at page {state.page} ({state.written} records in {out})")
    out.parent.mkdir(parents=True, exist_ok=True)
    output = Output(out, state)
    run = Collector(
        gh=gh,
        out=out,
        state=replace(state, offset=output.offset),
        output=output,
        limit=limit,
        extra_bots=tuple(extra_bots),
        sleep=sleep or _real_sleep,
        echo=say,
    )
    try:
        pages = await _walk(run, max_pages=max_pages, progress=progress)
    finally:
        output.close()
    return CollectResult(run.state.written, run.new, pages, run.state.complete, run.skipped)


async def _walk(run: Collector, *, max_pages: int | None, progress: bool) -> int:
    """Read pages from the state's page on until the end, the limit or ``max_pages``."""
    from tqdm import tqdm

    pages = 0
    page = run.state.page
    bar = tqdm(
        desc=run.state.query.repo,
        unit=" items",
        total=run.limit,
        initial=run.state.written,
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    run.echo = _via_bar(bar, run.echo)
    try:
        while not run.full and (max_pages is None or pages < max_pages):
            fetch = functools.partial(fetch_page, run.gh, run.state.query, page)
            items = await patiently(fetch, sleep=run.sleep, echo=run.echo)
            pages += 1
            bar.set_postfix(page=page, refresh=False)
            for item in items:
                if run.full:
                    break
                if is_new(item, run.state.cursor):
                    before = run.state.written
                    await run.process(item, page)
                    bar.update(run.state.written - before)
            run.finish_page(len(items))
            if run.state.complete:
                break
            page += 1
    finally:
        bar.close()
    return pages


def _via_bar(bar: Any, echo: Echo) -> Echo:
    """Messages that do not tear the progress bar (printed above it)."""
    if echo is not _stderr or bar.disable:
        return echo
    return lambda message: bar.write(message, file=sys.stderr)


# ------------------------------------------------------------------ refreshing


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


async def refresh_updated(
    gh: GitHubAPI, query: CollectQuery, out: Path, *, echo: Echo | None = None
) -> int:
    """Append a fresh record of every collected item updated since the last refresh.

    Labels people change after an item was collected (a correction, a label added
    later) reach the file this way; readers keep the last record of each item
    (:func:`latest_records`). The first call only notes the time. Returns how many
    records were appended.
    """
    marker = refresh_path(out)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = load_state(state_path(out))
    if state is None or state.query.format != "jsonl":
        return 0  # nothing collected yet; a CSV keeps one row per item and is not refreshed
    if not marker.is_file():
        marker.write_text(json.dumps({"since": now}) + "\n")
        return 0
    since = str(json.loads(marker.read_text())["since"])
    known = {int(r["number"]) for r in read_records(out)}
    output = Output(out, state)
    run = Collector(gh=gh, out=out, state=state, output=output, echo=echo or _stderr)
    try:
        updated = await _updated_items(run, replace(query, since=since))
        for item in updated:
            if int(item["number"]) in known:
                await _append(run, item)
    finally:
        output.close()
    marker.write_text(json.dumps({"since": now}) + "\n")
    return run.new


async def _updated_items(run: Collector, query: CollectQuery) -> list[dict[str, Any]]:
    """Every item updated since ``query.since``, all pages."""
    params = issue_list_params(query, sort="updated")
    params["since"] = query.since
    url = "/repos/{owner}/{repo}/issues{?state,sort,direction,since,per_page}"

    async def every() -> list[dict[str, Any]]:
        return [item async for item in run.gh.getiter(url, params)]

    return await patiently(every, sleep=run.sleep, echo=run.echo)


async def _append(run: Collector, item: Mapping[str, Any]) -> None:
    """Write one item's current record and commit its offset (the cursor stays)."""
    record = await run.record_for(item)
    text = encode_record(record, run.state.query.format) if record else None
    if text is None:
        return
    offset = run.output.write(text)
    run.new += 1
    run.state = replace(run.state, offset=offset, written=run.state.written + 1)
    save_state(state_path(run.out), run.state)
