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
says) are pure functions in :mod:`workers.records`; the HTTP and file work sits here, in
:func:`collect` and the small helpers around it. ``steward dataset collect`` collects
through it, for people who train offline. The bot's own history (the bootstrap,
triage's nearest neighbours, retraining) is read through GraphQL into the database
instead, a hundred items per query with who labelled them (:mod:`workers.history`).
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from workers.github import RateLimited, pull_files
from workers.records import (
    CSV_COLUMNS,
    CollectError,
    CollectQuery,
    ResumeMismatch,
    ResumeState,
    created_since,
    csv_line,
    describe,
    encode_record,
    is_new,
    is_pull_request,
    item_cursor,
    kept_labels,
    label_names,
    label_times,
    load_state,
    make_record,
    resume_from,
    save_state,
    state_path,
)

#: Items per page (GitHub's maximum).
PER_PAGE = 100

T = TypeVar("T")


class RepoNotFound(CollectError):
    """The repository does not exist or these credentials cannot see it."""


# ----------------------------------------------------------------- the query


# ------------------------------------------------------- labels and records


# ---------------------------------------------------------------- resume state


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
