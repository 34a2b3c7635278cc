"""Pure decisions of the weekly digest: the ISO week of a moment, the numbers (from the
rows of :mod:`core.community`, by the dashboard's own rules), the post's title and
Markdown body, and whether a post needs an edit.

The body carries a hidden marker naming its week, so a post made by a run that died
before it was recorded is found again on GitHub instead of being posted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from core.community import stats
from core.community.stats import CommunityRows
from core.live_precision import live_precision
from core.markdown import inert

#: Where a digest is posted (the last part of its audit-log key).
WHERES = ("issue", "discussion")
NO_DATA = "(no data yet)"
#: How many labels, people or contributors a line lists at most.
TOP = 3
LABELS_SHOWN = 5


@dataclass(frozen=True)
class Week:
    """One ISO week: ``label`` like ``2026-W49`` and its Monday at 00:00 UTC."""

    year: int
    number: int

    @property
    def label(self) -> str:
        """``YYYY-Www``."""
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> datetime:
        """The week's first moment (Monday 00:00 UTC)."""
        return datetime.combine(date.fromisocalendar(self.year, self.number, 1), time(), UTC)

    @property
    def previous(self) -> Week:
        """The week before."""
        return week_of(self.monday - timedelta(days=1))


def parse_moment(text: str) -> datetime | None:
    """An ISO 8601 moment (``Z`` or an offset; naive: UTC), None when empty or broken."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment and not moment.tzinfo else moment


def week_of(moment: datetime) -> Week:
    """The ISO week of ``moment`` (a naive moment is UTC; weeks are counted in UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    year, number, _ = aware.astimezone(UTC).isocalendar()
    return Week(year, number)


def marker(week: Week) -> str:
    """The hidden marker of ``week``'s digest, in the body of the post."""
    return f"<!-- steward:digest {week.label} -->"


def title(full_name: str, week: Week) -> str:
    """The post's title."""
    return f"Steward digest: week {week.number} of {week.year} ({full_name})"


def effect_key(full_name: str, week: Week, where: str, *, live: bool = True) -> str:
    """Audit-log key of a week's post (``where``: issue or discussion). What shadow mode
    records has its own key, so turning ``mode: live`` on mid-week still posts.
    """
    return f"digest:{full_name}:{week.label}:{where}" + ("" if live else ":shadow")


def close_key(full_name: str, week: Week) -> str:
    """Audit-log key of closing ``week``'s digest issue (once, when a newer one exists)."""
    return f"digest:{full_name}:{week.label}:issue:closed"


@dataclass(frozen=True)
class LabelNumber:
    """A gated label: its name and measured precision (None: not measured)."""

    label: str
    precision: float | None


@dataclass(frozen=True)
class ResponseWeek:
    """Time to first response of the items opened in one week (hours)."""

    median: float
    p90: float
    items: int


@dataclass(frozen=True)
class TriageNumbers:
    """Labels live and in shadow, live precision, corrections this week, the model."""

    live: tuple[LabelNumber, ...] = ()
    shadow: tuple[LabelNumber, ...] = ()
    precision: float | None = None
    judged: int = 0
    corrections: int = 0
    #: The promoted model (``#id since YYYY-MM-DD``); empty: nearest neighbours.
    model: str = ""


@dataclass(frozen=True)
class ResponseNumbers:
    """Items opened this week, time to first response this week and last, what waits."""

    opened: int = 0
    this_week: ResponseWeek | None = None
    last_week: ResponseWeek | None = None
    unanswered: int = 0
    oldest_hours: float | None = None
    routed: int = 0


@dataclass(frozen=True)
class PeopleNumbers:
    """Newcomers, reviewer load and the quarter's top people."""

    welcomed: int = 0
    returned_share: float | None = None
    load: tuple[tuple[str, int], ...] = ()
    authors: tuple[tuple[str, int], ...] = ()
    reviewers: tuple[tuple[str, int], ...] = ()
    quarter: str = ""


@dataclass(frozen=True)
class DigestNumbers:
    """Everything one digest shows; ``response`` None: first responses not recorded."""

    triage: TriageNumbers
    response: ResponseNumbers | None
    people: PeopleNumbers


def rows_since(week: Week) -> datetime:
    """How far back the digest's first-response rows go: last week's Monday."""
    return week.previous.monday


def triage_numbers(rows: CommunityRows, week: Week) -> TriageNumbers:
    """The triage numbers of :mod:`core.community.stats` and the live-precision rule."""
    labels = stats.label_rows(rows.gates)
    live = live_precision(rows.decisions, rows.feedback)
    model = stats.model_in_use(rows.versions)
    return TriageNumbers(
        live=tuple(LabelNumber(r["name"], r["precision"]) for r in labels if r["state"] == "live"),
        shadow=tuple(
            LabelNumber(r["name"], r["precision"]) for r in labels if r["state"] == "shadow"
        ),
        precision=live["live_precision"],
        judged=int(live["live_judged"]),
        corrections=stats.corrections_since(rows.feedback, week.monday),
        model=f"#{model['id']} since {str(model['since'])[:10]}" if model else "",
    )


def response_numbers(
    rows: Sequence[Mapping[str, Any]] | None, *, week: Week, now: datetime
) -> ResponseNumbers | None:
    """This week's and last week's time to first response and what waits now (None: no
    first response recorded for the repository).
    """
    if not rows:
        return None
    pairs = [(r.get("opened_at"), r.get("first_response_at")) for r in rows]
    found = stats.response_weeks(pairs, now=now, weeks=2)
    by_week = {w: ResponseWeek(median, p90, n) for w, median, p90, n in found["weeks"]}
    return ResponseNumbers(
        opened=stats.opened_since(rows, week.monday),
        this_week=by_week.get(week.monday.date().isoformat()),
        last_week=by_week.get(week.previous.monday.date().isoformat()),
        unanswered=int(found["unanswered"]),
        oldest_hours=found["oldest_hours"],
        routed=stats.routed_waiting(rows),
    )


def people_numbers(rows: CommunityRows, *, week: Week, now: datetime) -> PeopleNumbers:
    """Newcomers this week and who came back, reviewer load, the quarter's top people."""
    since = stats.quarter_start(now.date())
    authors, reviewers = stats.top_people(rows.changes, since=since, limit=TOP)
    newcomers = stats.newcomers(rows.welcomes, rows.changes)
    return PeopleNumbers(
        welcomed=stats.welcomed_since(rows.welcomes, week.monday),
        returned_share=newcomers["share"],
        load=tuple(stats.reviewer_load(rows.review_requests, rows.changes, limit=TOP)),
        authors=tuple(authors),
        reviewers=tuple(reviewers),
        quarter=since.isoformat(),
    )


def digest_numbers(rows: CommunityRows, *, now: datetime) -> DigestNumbers:
    """The digest's numbers at ``now``, from one repository's rows."""
    week = week_of(now)
    return DigestNumbers(
        triage=triage_numbers(rows, week),
        response=response_numbers(rows.responses, week=week, now=now),
        people=people_numbers(rows, week=week, now=now),
    )


def pct(value: float | None) -> str:
    """A share as a whole percentage (``–`` when unknown)."""
    return "–" if value is None else f"{100 * value:.0f}%"


def hours(value: float) -> str:
    """A wait: hours below two days, days from then on."""
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


def waited(value: float) -> str:
    """How long the oldest item waits, in whole hours, then whole days: it grows between
    runs, and a coarse number keeps the post from being edited for every tick.
    """
    return f"{int(value)} h" if value < 48 else f"{int(value // 24)} d"


def _labels(found: Sequence[LabelNumber]) -> str:
    shown = ", ".join(
        f"{inert(n.label, limit=100)} {pct(n.precision)}" for n in found[:LABELS_SHOWN]
    )
    more = len(found) - LABELS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "") if found else "none"


def _people(found: Iterable[tuple[str, int]]) -> str:
    # Logins without ``@`` and inert: a mention would notify people on every edit.
    return ", ".join(f"{inert(login, limit=40)} ({n})" for login, n in found) or NO_DATA


def triage_lines(found: TriageNumbers) -> list[str]:
    """The triage section."""
    lines = ["**Triage**"]
    if found.live or found.shadow:
        lines.append(f"- Labels live: {_labels(found.live)}; in shadow: {_labels(found.shadow)}")
    else:
        lines.append(f"- Labels: {NO_DATA}")
    if found.precision is None:
        lines.append(f"- Live precision: {NO_DATA}")
    else:
        lines.append(f"- Live precision: {pct(found.precision)} ({found.judged} labels judged)")
    lines.append(f"- Corrections this week: {found.corrections}")
    model = f"fine-tuned model {found.model}" if found.model else "nearest neighbours"
    lines.append(f"- Classifier: {model}")
    return lines


def _response_row(name: str, found: ResponseWeek | None) -> str:
    if found is None:
        return f"| {name} | {NO_DATA} | | |"
    return f"| {name} | {hours(found.median)} | {hours(found.p90)} | {found.items} |"


def response_lines(found: ResponseNumbers | None) -> list[str]:
    """The response section (a small table of two weeks)."""
    if found is None:
        return ["**Response**", f"- Time to first response: {NO_DATA}"]
    oldest = f" (oldest waits {waited(found.oldest_hours)})" if found.oldest_hours else ""
    return [
        "**Response**",
        f"- Opened this week: {found.opened}",
        "",
        "| first response | median | p90 | items |",
        "|---|---|---|---|",
        _response_row("this week", found.this_week),
        _response_row("last week", found.last_week),
        "",
        f"- Unanswered now: {found.unanswered}{oldest}; routed to a maintainer: {found.routed}",
    ]


def people_lines(found: PeopleNumbers) -> list[str]:
    """The people section."""
    share = f"{pct(found.returned_share)} came back" if found.returned_share is not None else ""
    returned = f"; of everyone welcomed, {share}" if share else ""
    return [
        "**People**",
        f"- Newcomers welcomed this week: {found.welcomed}{returned}",
        f"- Open review requests: {_people(found.load)}",
        f"- Top contributors since {found.quarter}: {_people(found.authors)}",
        f"- Top reviewers since {found.quarter}: {_people(found.reviewers)}",
    ]


def body(full_name: str, numbers: DigestNumbers, *, week: Week) -> str:
    """The Markdown of ``week``'s digest: three short sections and the hidden marker."""
    lines = [
        f"Steward's numbers for {inert(full_name)}, week {week.number} of {week.year}, as on the "
        "maintainers' dashboard. This post is edited in place until the week ends.",
        "",
        *triage_lines(numbers.triage),
        "",
        *response_lines(numbers.response),
        "",
        *people_lines(numbers.people),
        "",
        marker(week),
    ]
    return "\n".join(lines) + "\n"


def needs_edit(current: str | None, wanted: str) -> bool:
    """Whether a post's body differs from ``wanted`` (line endings and the whitespace
    around it do not count: GitHub may return ``\\r\\n``).
    """

    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").strip()

    return norm(current or "") != norm(wanted)


def find_marked(items: Iterable[Mapping[str, Any]], week: Week) -> Mapping[str, Any] | None:
    """The earliest item (issue or discussion) Steward's own account wrote (``bot``
    true) whose body carries ``week``'s marker; nobody else's item that quotes the
    marker is taken, another bot's neither.
    """
    found = [i for i in items if i.get("bot") and marker(week) in str(i.get("body") or "")]
    return min(found, key=lambda i: int(i.get("number") or 0)) if found else None


def find_category(nodes: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    """The discussion category called ``name`` (case and surrounding spaces ignored)."""
    wanted = name.strip().lower()
    return next((n for n in nodes if str(n.get("name") or "").strip().lower() == wanted), None)


def recorded(records: Iterable[Mapping[str, Any]], key: str) -> Mapping[str, Any] | None:
    """The detail recorded under ``key`` (None: nothing recorded)."""
    return next((dict(r.get("detail") or {}) for r in records if r["effect_key"] == key), None)


def previous_issue(
    records: Iterable[Mapping[str, Any]], full_name: str, week: Week
) -> tuple[Week, int] | None:
    """The newest digest issue posted live before ``week``: (its week, its number)."""
    found: list[tuple[str, int]] = []
    for r in records:
        detail = r.get("detail") or {}
        label, number = str(detail.get("week") or ""), detail.get("number")
        live_issue = r["effect_key"] == f"digest:{full_name}:{label}:issue"
        if live_issue and r.get("mode") == "live" and number and label < week.label:
            found.append((label, int(number)))
    if not found:
        return None
    label, number = max(found)
    year, _, wk = label.partition("-W")
    return Week(int(year), int(wk)), number
