"""The dashboard's pure parts: the signed session cookie, the statistics, the SVG plots,
and the HTML escaping of what people typed (labels, logins)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from app.dashboard import svg, views
from app.dashboard.session import (
    NoSecret,
    id_hash,
    needs_check,
    seal,
    secret_of,
    session_of,
    sign,
    unseal,
    unsign,
)
from core.community import stats
from core.settings import Settings
from core.store import DashboardSession

SECRET = b"k" * 32


def test_a_signed_cookie_comes_back_until_it_expires() -> None:
    value = sign({"sid": "abc", "exp": 2_000}, SECRET)
    assert unsign(value, SECRET, now=1_999) == {"sid": "abc", "exp": 2_000}
    assert unsign(value, SECRET, now=2_000) is None  # expired


def test_a_stored_session_names_what_the_person_reaches_and_when_to_ask_again() -> None:
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    row = DashboardSession(
        id_hash=id_hash("abc"),
        login="alice",
        access=[[7, "acme", ["acme/Widgets"]]],
        token=None,
        checked_at=now,
        expires_at=now + timedelta(hours=8),
    )
    person = session_of(row)
    assert (person.login, person.repositories) == ("alice", {"acme/widgets"})
    assert person.expires == int(row.expires_at.timestamp())
    assert id_hash("abc") != id_hash("abd") and len(id_hash("abc")) == 64
    assert not needs_check(row, now=now + timedelta(seconds=599))
    assert needs_check(row, now=now + timedelta(seconds=600))


def test_a_sealed_token_opens_only_with_the_same_secret() -> None:
    sealed = seal("ghu_secret", SECRET)
    assert "ghu_secret" not in sealed and unseal(sealed, SECRET) == "ghu_secret"
    assert unseal(sealed, b"another secret") is None and unseal(None, SECRET) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # signature
        lambda v: "e30" + v[v.index(".") :],  # body swapped for {}
        lambda v: v.replace(".", ""),
        lambda v: "",
    ],
)
def test_a_tampered_cookie_is_nobody(tamper: object) -> None:
    value = sign({"sid": "abc", "exp": 2_000}, SECRET)
    assert unsign(tamper(value), SECRET, now=0) is None  # type: ignore[operator]
    assert unsign(value, b"another secret", now=0) is None


def test_the_secret_is_set_or_derived_and_never_empty() -> None:
    assert secret_of(Settings(session_secret="s3")) == b"s3"
    derived = secret_of(Settings(webhook_secret="w", client_secret="c"))
    assert len(derived) == 32 and derived != secret_of(Settings(webhook_secret="w"))
    with pytest.raises(NoSecret):
        secret_of(Settings())


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert stats.percentile(values, 0.5) == 5.0
    assert stats.percentile(values, 0.9) == 9.0
    assert stats.percentile([3.0], 0.9) == 3.0


def test_response_weeks_group_by_the_monday_of_opening() -> None:
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)  # a Wednesday
    monday = datetime(2026, 11, 30, 9, tzinfo=UTC)
    pairs = [
        (monday, monday + timedelta(hours=2)),
        (monday, monday + timedelta(hours=10)),
        ("2026-11-24T09:00:00Z", "2026-11-24T10:00:00Z"),
        (now - timedelta(hours=30), None),
        (now - timedelta(hours=5), None),
    ]
    found = stats.response_weeks(pairs, now=now)
    assert found["weeks"] == [("2026-11-23", 1.0, 1.0, 1), ("2026-11-30", 2.0, 10.0, 2)]
    assert found["unanswered"] == 2 and found["oldest_hours"] == pytest.approx(30.0)


def test_reviewer_load_counts_requests_not_yet_done() -> None:
    requests = [
        {"number": 1, "detail": {"reviewers": ["ann", "bo"]}},
        {"number": 2, "detail": {"reviewers": ["ann"]}},
        {"number": 3, "detail": {"reviewers": ["ann", "cy"]}},
    ]
    changes: list[dict[str, Any]] = [
        {"number": 2, "merged_at": "2026-11-01", "reviewers": []},  # merged: done
        {"number": 3, "merged_at": None, "reviewers": ["Cy"]},  # cy reviewed already
    ]
    assert stats.reviewer_load(requests, changes) == [("ann", 2), ("bo", 1)]


def test_newcomers_who_came_back_authored_another_change() -> None:
    welcomes = [
        {"number": 5, "detail": {"author": "new1"}},
        {"number": 9, "detail": {"author": "new2"}},
        {"number": 12, "detail": {"author": "New1"}},  # the same person again
    ]
    changes = [
        {"number": 5, "author": "new1"},
        {"number": 20, "author": "new1"},
        {"number": 9, "author": "new2"},
    ]
    assert stats.newcomers(welcomes, changes) == {"welcomed": 2, "returned": 1, "share": 0.5}


def test_top_people_of_this_quarter() -> None:
    assert stats.quarter_start(date(2026, 12, 2)) == date(2026, 10, 1)
    changes = [
        {"author": "a", "reviewers": ["r"], "created_at": "2026-10-02", "merged_at": None},
        {"author": "a", "reviewers": ["r", "s"], "created_at": "2026-11-02", "merged_at": None},
        {"author": "old", "reviewers": ["s"], "created_at": "2026-09-02", "merged_at": None},
    ]
    authors, reviewers = stats.top_people(changes, since=date(2026, 10, 1))
    assert authors == [("a", 2)] and reviewers == [("r", 2), ("s", 1)]


def test_label_rows_put_live_labels_first() -> None:
    gates = [
        {"label": "z", "kind": "issue", "live": True, "gate": {"precision": 0.9, "applied": 3}},
        {"label": "a", "kind": "issue", "live": False, "gate": {}},
    ]
    rows = stats.label_rows(gates)
    assert [(r["label"], r["state"]) for r in rows] == [("z", "live"), ("a", "shadow")]


def test_plots_are_well_formed_svg_and_escape_names() -> None:
    bars = svg.hbars([("<script>", 3.0), ("bo", 1.0)], title="load & more")
    tree = ET.fromstring(bars)
    assert tree.tag.endswith("svg") and "<script>" not in bars
    assert len([e for e in tree.iter() if e.tag.endswith("rect")]) == 2
    weeks = svg.week_bars([("2026-11-23", 1.0, 4.0)], title="t", unit="h")
    assert len([e for e in ET.fromstring(weeks).iter() if e.tag.endswith("rect")]) == 2
    assert svg.hbars([], title="none") == "" and svg.week_bars([], title="x", unit="h") == ""


def test_pages_escape_what_people_typed() -> None:
    html = views.index_page("<b>eve</b>", [("acme", ["acme/<x>"])])
    assert "<b>eve</b>" not in html and "&lt;b&gt;eve" in html and "acme/&lt;x&gt;" in html
    response = views.response_section(None)
    assert "not recorded yet" in response


def test_waiting_items_say_how_long_and_whom_the_follow_up_asked() -> None:
    from core.community.stats import waiting_items

    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    rows = [
        {"number": 4, "kind": "issue", "opened_at": now - timedelta(hours=80), "routed_to": "bob"},
        {"number": 9, "kind": "pull_request", "opened_at": "2026-12-03T10:00:00Z"},
        {"number": 5, "kind": "discussion", "opened_at": None},  # opening never seen
    ]
    assert waiting_items(rows, now=now) == [
        {"number": 4, "kind": "issue", "hours": 80.0, "routed_to": "bob"},
        {"number": 9, "kind": "pull request", "hours": 2.0, "routed_to": ""},
    ]
    html = views.waiting_table(waiting_items(rows, now=now))
    assert "bob" in html and "not routed yet" in html and "#9" in html
    assert views.waiting_table([]) == ""


NO_SUGGESTIONS = {
    state: {"suggested": 0, "confirmed": 0, "wrong": 0, "other": 0} for state in ("live", "shadow")
}


@pytest.mark.parametrize(
    ("gate", "says"),
    [
        pytest.param(None, ["not calibrated", "Not calibrated yet"], id="never calibrated"),
        pytest.param(
            {
                "state": "shadow",
                "bound": 0.8123,
                "target": 0.95,
                "confidence": 0.95,
                "threshold": 0.7,
                "needed": 23,
                "history": (14, 12),
                "people": (0, 0),
                "reason": "below",
                "calibrated_at": datetime(2026, 12, 1, 9, tzinfo=UTC),
                "since": datetime(2026, 12, 1, 9, tzinfo=UTC),
                "issues": 1200,
                "pairs": 9,
            },
            [
                "class='big shadow'>shadow<",
                "at least <strong>81 %</strong>",
                "the bar is 95 %: it needs 23 more right suggestions in a row",
                "12 of 14 right in the replay of 1,200 issues and 9 known duplicates",
                "0 of 0 kept by people since",
                "shadow since 2026-12-01 09:00",
            ],
            id="shadow, needing more",
        ),
    ],
)
def test_the_duplicates_section_says_the_gate_against_the_bar(
    gate: dict[str, Any] | None, says: list[str]
) -> None:
    counts = {**NO_SUGGESTIONS, "shadow": {"suggested": 7, "confirmed": 2, "wrong": 0, "other": 1}}
    html = views.duplicates_section({"gate": gate, "counts": counts})
    assert html.startswith('<section id="duplicates">')
    for said in says:
        assert said in html, said
    # The counts table: in shadow 7 made, 2 confirmed, 1 of another issue.
    row = html[html.index("<td>shadow</td>") :].split("</tr>")[0]
    assert [cell.split(">")[-1] for cell in row.split("</td>")[1:-1]] == ["7", "2", "0", "1"]
    assert ("<svg" in html) == (gate is not None)
