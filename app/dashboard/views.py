"""The dashboard's HTML: pure functions from the data of :mod:`core.community.reads` to
one server-rendered page each (inline CSS and SVG; no script, no CDN: the pages' policy,
:mod:`app.dashboard.security`, allows this one stylesheet and nothing else).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from app.dashboard import svg

STYLE = (
    "*{box-sizing:border-box}body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;"
    "line-height:1.45;background:#f9fafb}header{background:#111827;color:#f9fafb;"
    "padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}"
    "header a{color:#bfdbfe}header .who{margin-left:auto}main{max-width:64rem;margin:0 auto;"
    "padding:1rem}h1{font-size:1.5rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}"
    "h2{font-size:1.2rem;margin:0 0 .5rem}h3{font-size:1rem;margin:1rem 0 .4rem}"
    "section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:1rem;"
    "margin:0 0 1rem}nav.jump{display:flex;gap:1rem;margin:0 0 1rem}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr));gap:1rem}"
    ".split{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1rem}"
    ".scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}"
    "th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e5e7eb;"
    "vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".live{color:#047857;font-weight:600}.shadow{color:#6b7280}.big{font-size:1.6rem;"
    "font-weight:700}.muted{color:#6b7280}.plot{width:100%;max-width:36rem;height:auto;"
    "display:block}.stat{display:flex;flex-wrap:wrap;gap:.75rem 1.5rem;margin:.25rem 0 .75rem}"
    ".stat>div{min-width:7rem;flex:0 1 auto}.stat small{display:block;color:#6b7280}"
    "ul.repos{padding-left:1.2rem}ul.repos li{margin:.2rem 0;overflow-wrap:anywhere}"
    "a.button,button.button{display:inline-block;background:#111827;color:#fff;"
    "padding:.6rem 1rem;border:0;border-radius:6px;text-decoration:none;font:inherit;"
    "cursor:pointer}form.out{display:inline;margin:0}form.out button.link{background:none;"
    "border:0;padding:0;color:#bfdbfe;font:inherit;text-decoration:underline;cursor:pointer}"
    # Phones last, so these win over the rules above.
    "@media (max-width:48rem){.split{grid-template-columns:minmax(0,1fr)}main{padding:.5rem}"
    "section{padding:.75rem}th,td{padding:.25rem .3rem}table{font-size:.85rem}"
    ".stat{display:grid;grid-template-columns:repeat(2,minmax(0,1fr))}.stat>div{min-width:0}"
    ".big{font-size:1.3rem}}"
)


def logout_form(csrf: str, *, label: str = "sign out", style: str = "link") -> str:
    """The sign-out button: a POST with the session's CSRF token (a GET signs nobody out)."""
    return (
        '<form class="out" method="post" action="/dashboard/logout">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit" class="{style}">{escape(label)}</button></form>'
    )


def page(title: str, body: str, *, login: str | None = None, csrf: str = "") -> str:
    """A whole document: header (who is signed in, the sign-out button), title, body."""
    out = logout_form(csrf) if csrf else '<a href="/dashboard/logout">sign out</a>'
    who = f'<span class="who">{escape(login)} · {out}</span>' if login else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><a href="/dashboard"><strong>Steward</strong></a>{who}</header>'
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def pct(value: Any) -> str:
    """A share as a percentage, or a dash."""
    return f"{100 * value:.0f} %" if isinstance(value, int | float) else "–"


def at_least(value: Any) -> str:
    """A lower bound as a percentage rounded down (94.97 % must not read as 95 %)."""
    return f"{math.floor(100 * value)} %" if isinstance(value, int | float) else "–"


def table(heads: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: int = 0) -> str:
    """A table; the last ``numeric`` columns are right-aligned numbers."""
    first = len(heads) - numeric

    def cell(tag: str, i: int, value: Any) -> str:
        cls = ' class="n"' if i >= first else ""
        return f"<{tag}{cls}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(heads))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def login_page(problem: str | None = None, *, can_sign_in: bool = True) -> str:
    """The sign-in page (``problem``: why the last attempt failed, HTML-safe; without
    ``can_sign_in``, no button: there is no App to sign in with yet)."""
    note = f"<p class='shadow'>{problem}</p>" if problem else ""
    button = (
        '<p><a class="button" id="signin" href="/dashboard/login">Sign in with GitHub</a></p>'
        if can_sign_in
        else ""
    )
    body = (
        f"{note}<p>Maintainers see what Steward does in their repositories: labels, "
        f"response times, reviewers and newcomers.</p>{button}"
    )
    return page("Steward dashboard", body)


def logout_page(login: str, *, csrf: str, expired: bool = False) -> str:
    """What ``GET /dashboard/logout`` shows: the button (``expired``: the last press came
    without this session's token, from an old page or another site)."""
    note = (
        "<p class='shadow'>That sign-out did not come from this session's page; press the "
        "button to sign out.</p>"
        if expired
        else ""
    )
    body = (
        f"{note}<p>Sign out of the dashboard, here and wherever this session is used.</p>"
        f"<p>{logout_form(csrf, label='Sign out', style='button')}</p>"
    )
    return page("Sign out", body, login=login, csrf=csrf)


def index_page(login: str, installs: Sequence[tuple[str, Sequence[str]]], *, csrf: str = "") -> str:
    """The person's installations and the repositories Steward knows in each."""
    if not installs:
        body = (
            "<p>Steward looks after none of the repositories you can reach. Install the App "
            "on a repository, or ask its maintainers to.</p>"
        )
        return page("Your repositories", body, login=login, csrf=csrf)
    parts = []
    for account, repos in installs:
        items = "".join(f'<li><a href="/dashboard/{escape(r)}">{escape(r)}</a></li>' for r in repos)
        parts.append(f"<section><h2>{escape(account)}</h2><ul class='repos'>{items}</ul></section>")
    return page("Your repositories", "".join(parts), login=login, csrf=csrf)


def _triage_stat(live: Mapping[str, Any], labels: Sequence[Mapping[str, Any]]) -> str:
    live_count = sum(r["state"] == "live" for r in labels)
    return (
        '<div class="stat">'
        f"<div><div class='big'>{pct(live['live_precision'])}</div>live precision"
        f"<small>{live['live_judged']} judged</small></div>"
        f"<div><div class='big'>{pct(live['coverage'])}</div>coverage"
        f"<small>{live['decisions']} decisions</small></div>"
        f"<div><div class='big'>{live_count}</div>labels live</div></div>"
    )


def _model_text(model: Mapping[str, Any] | None) -> str:
    if not model:
        return "nearest neighbours over the labelled history (no fine-tuned model promoted)"
    return f"fine-tuned model #{model['id']} since {escape(str(model['since']))}"


NONE_YET = "<p class='muted'>None yet.</p>"


def triage_section(data: Mapping[str, Any]) -> str:
    """Labels live and in shadow, live precision, corrections, the model in use."""
    labels = data["labels"]
    tables = "".join(
        f"<h3>{title}</h3>"
        + table(
            ["label", "precision (n)", "at least", "coverage"],
            [
                (
                    str(r["name"]),
                    f"{pct(r['precision'])} ({r['support']})",
                    at_least(r["bound"]),
                    pct(r["coverage"]),
                )
                for r in labels
                if r["state"] == state
            ],
            numeric=3,
        )
        for state, title in (("live", "Live"), ("shadow", "In shadow"))
        if any(r["state"] == state for r in labels)
    )
    measured = [
        (str(r["name"]), 100 * float(r["precision"])) for r in labels if r["precision"] is not None
    ]
    plot = svg.hbars(measured[:15], title="Measured precision per label (%)", scale=100.0)
    corrections = [
        (f"#{c['number']}", c["change"], c["actor"], c["when"][5:]) for c in data["corrections"]
    ]
    fixes = table(["item", "change", "by", "when"], corrections) if corrections else ""
    return (
        f'<section id="triage"><h2>Triage</h2>{_triage_stat(data["live"], labels)}'
        f"<p>Classifier: {_model_text(data['model'])}.</p>"
        f"<div class='split'><div>{tables or NONE_YET}</div>"
        f"<div><h3>Measured precision</h3>{plot or NONE_YET}</div></div>"
        f"<h3>Recent corrections</h3>{fixes or NONE_YET}</section>"
    )


def _hours(value: float) -> str:
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


def response_section(data: Mapping[str, Any] | None) -> str:
    """Time to first response by week, and what waits for an answer now."""
    if data is None:
        return (
            '<section id="response"><h2>Response</h2><p class="muted">Time to first response '
            "is not recorded yet in this deployment.</p></section>"
        )
    weeks = data["weeks"]
    oldest = data["oldest_hours"]
    stat = (
        f"<div class='stat'><div><div class='big'>{data['unanswered']}</div>unanswered now</div>"
        f"<div><div class='big'>{_hours(oldest) if oldest is not None else '–'}</div>"
        "longest wait</div></div>"
    )
    plot = svg.week_bars(
        [(w, m, p) for w, m, p, _ in weeks], title="Hours to first response per week", unit="h"
    )
    rows = [(w, _hours(m), _hours(p), n) for w, m, p, n in weeks]
    table_html = table(["week of", "median", "p90", "items"], rows, numeric=3) if rows else ""
    return (
        f'<section id="response"><h2>Response</h2>{stat}<div class="split"><div>'
        f"<h3>Hours to first response (median dark, p90 light)</h3>"
        f"{plot or '<p class=muted>No answered item in the last weeks.</p>'}</div>"
        f"<div>{table_html}</div></div>{waiting_table(data.get('waiting') or [])}</section>"
    )


def waiting_table(items: Sequence[Mapping[str, Any]]) -> str:
    """The oldest items nobody answered yet, and whom the follow-up asked."""
    if not items:
        return ""
    rows = [
        (
            f"#{i['number']}",
            i["kind"],
            i["routed_to"] or "not routed yet",
            _hours(i["hours"]),
        )
        for i in items
    ]
    return "<h3>Waiting for a first answer (oldest first)</h3>" + table(
        ["item", "kind", "routed to", "waiting"], rows, numeric=1
    )


def people_section(data: Mapping[str, Any]) -> str:
    """Reviewer load, newcomers, top contributors and reviewers this quarter."""
    new = data["newcomers"]
    stat = (
        f"<div class='stat'><div><div class='big'>{new['welcomed']}</div>newcomers welcomed</div>"
        f"<div><div class='big'>{new['returned']}</div>came back ({pct(new['share'])})</div></div>"
    )
    load = svg.hbars(data["load"], title="Open review requests per person")
    authors = svg.hbars(data["authors"], title="Top contributors this quarter")
    reviewers = svg.hbars(data["reviewers"], title="Top reviewers this quarter")
    none = "<p class='muted'>Nobody yet.</p>"
    return (
        f'<section id="people"><h2>People</h2>{stat}<div class="grid">'
        f"<div><h3>Reviewer load (open requests)</h3>{load or none}</div>"
        f"<div><h3>Top contributors since {escape(data['since'])}</h3>{authors or none}</div>"
        f"<div><h3>Top reviewers since {escape(data['since'])}</h3>{reviewers or none}</div>"
        "</div></section>"
    )


def _duplicates_gate(gate: Mapping[str, Any]) -> str:
    """The duplicates' gate in a sentence: live or shadow, the bound against the bar."""
    (applied, right), (judged, kept) = gate["history"], gate["people"]
    need = (
        "it clears the bar"
        if gate["state"] == "live"
        else f"it needs {gate['needed']} more right suggestions in a row"
        if gate["needed"]
        else "it does not clear the bar yet"
    )
    return (
        f"<p>The top suggestion's precision is at least <strong>{at_least(gate['bound'])}"
        f"</strong> ({pct(gate['confidence'])} confidence) where the bar is "
        f"{pct(gate['target'])}: {need}. Evidence: {right} of {applied} right in the "
        f"replay of {gate['issues']:,} issues and {gate['pairs']:,} known duplicates, "
        f"{kept} of {judged} kept by people since. Calibrated "
        f"{escape(str(gate['calibrated_at'])[:16])}; {gate['state']} since "
        f"{escape(str(gate['since'])[:16])}.</p>"
    )


def _duplicates_counts(live: Mapping[str, int], shadow: Mapping[str, int]) -> str:
    """The suggestions made live and in shadow, and what people did with them."""
    rows = [
        (
            name,
            made.get("suggested", 0),
            made.get("confirmed", 0),
            made.get("wrong", 0),
            made.get("other", 0),
        )
        for name, made in (("live", live), ("shadow", shadow))
    ]
    return table(["", "made", "confirmed", "wrong", "other"], rows, numeric=4) + (
        "<p class='muted'>Confirmed: closed as a duplicate of a suggested issue; other: of "
        "an issue Steward did not suggest; wrong: a maintainer's thumbs-down or "
        "<code>/steward wrong</code>.</p>"
    )


def duplicates_section(data: Mapping[str, Any]) -> str:
    """Possible duplicates: the gate (live or shadow, its bound against the bar) and
    what people did with the suggestions (``Store.duplicate_overview``)."""
    gate, counts = data["gate"], data["counts"]
    live, shadow = counts.get("live", {}), counts.get("shadow", {})
    state = gate["state"] if gate else "not calibrated"
    stat = (
        '<div class="stat">'
        f"<div><div class='big {escape(state.split()[0])}'>{escape(state)}</div>gate</div>"
        f"<div><div class='big'>{live.get('suggested', 0)}</div>suggested live"
        f"<small>{shadow.get('suggested', 0)} in shadow</small></div>"
        f"<div><div class='big'>{live.get('confirmed', 0) + shadow.get('confirmed', 0)}</div>"
        "confirmed</div>"
        f"<div><div class='big'>{live.get('wrong', 0)}</div>wrong</div></div>"
    )
    numbers = _duplicates_counts(live, shadow)
    plot = (
        svg.hbars(
            [
                ("at least", round(100 * float(gate["bound"]), 1)),
                ("the bar", round(100 * float(gate["target"]), 1)),
            ],
            title="Top suggestion's precision: lower bound against the bar (%)",
            scale=100.0,
        )
        if gate and gate["bound"] is not None and gate["target"] is not None
        else ""
    )
    said = (
        _duplicates_gate(gate)
        if gate
        else "<p class='muted'>Not calibrated yet: the first calibration runs after the "
        "repository's history is read.</p>"
    )
    return (
        f'<section id="duplicates"><h2>Possible duplicates</h2>{stat}{said}'
        f"<div class='split'><div>{numbers}</div>"
        f"<div><h3>Lower bound against the bar</h3>{plot or NONE_YET}</div></div></section>"
    )


def repo_page(repo: str, login: str, sections: Sequence[str], *, csrf: str = "") -> str:
    """One repository: a jump bar, then the triage, duplicates, response and people
    sections."""
    jump = (
        '<nav class="jump"><a href="#triage">Triage</a><a href="#duplicates">Duplicates</a>'
        '<a href="#response">Response</a><a href="#people">People</a></nav>'
    )
    return page(repo, jump + "".join(sections), login=login, csrf=csrf)


def not_found_page(login: str | None, *, csrf: str = "") -> str:
    """The 404 page (the same for a repository that does not exist and one not yours)."""
    return page(
        "Not found",
        "<p>There is no such page. <a href='/dashboard'>Your repositories</a>.</p>",
        login=login,
        csrf=csrf,
    )
