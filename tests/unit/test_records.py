"""The collector's pure record rules (``workers/records.py``) as tables: which labels a
record keeps and when they were applied, the record itself, its CSV and JSONL lines,
the resume state, and the command line's arguments. The collector against the fake
GitHub is in tests/integration/test_collect.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.triage.data import load_dataset
from workers.records import (
    CollectQuery,
    ResumeMismatch,
    ResumeState,
    encode_record,
    kept_labels,
    label_times,
    make_record,
    parse_repo,
    parse_since,
    resume_from,
    state_from_json,
    state_to_json,
)

TRICKY_BODY = 'line one\r\nline two, with "quotes"\u2028and a Unicode line break'


def user(login: str, kind: str = "User") -> dict[str, Any]:
    return {"login": login, "type": kind}


def labeled(
    name: str, actor: dict[str, Any] | None, event: str = "labeled", at: str | None = None
) -> dict[str, Any]:
    made: dict[str, Any] = {"event": event, "label": {"name": name}, "actor": actor}
    if at is not None:
        made["created_at"] = at
    return made


ALICE, DEPENDABOT, STEWARD = user("alice"), user("dependabot[bot]", "Bot"), user("steward[bot]")


@pytest.mark.parametrize(
    ("labels", "events", "expected"),
    [
        pytest.param(["bug"], [], ["bug"], id="no events: kept"),
        pytest.param(["bug"], [labeled("bug", ALICE)], ["bug"], id="person: kept"),
        pytest.param(
            ["bug", "dependencies"],
            [labeled("bug", ALICE), labeled("dependencies", DEPENDABOT)],
            ["bug"],
            id="dependabot: dropped",
        ),
        pytest.param(["bug"], [labeled("bug", STEWARD)], [], id="steward itself: dropped"),
        pytest.param(
            ["docs"],
            [labeled("docs", STEWARD), labeled("docs", ALICE, "unlabeled"), labeled("docs", ALICE)],
            ["docs"],
            id="bot then person: the latest wins",
        ),
        pytest.param(
            ["docs"],
            [labeled("docs", ALICE), labeled("docs", STEWARD)],
            [],
            id="person then bot: the latest wins",
        ),
        pytest.param(["Bug"], [labeled("bug", DEPENDABOT)], [], id="names case-insensitive"),
        pytest.param(
            ["bug"],
            [{"event": "closed", "actor": DEPENDABOT}, {"event": "labeled", "actor": DEPENDABOT}],
            ["bug"],
            id="other events ignored",
        ),
    ],
)
def test_kept_labels(labels: list[str], events: list[dict[str, Any]], expected: list[str]) -> None:
    assert kept_labels(labels, events) == expected


T1, T2, T3 = "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"


@pytest.mark.parametrize(
    ("labels", "events", "expected"),
    [
        pytest.param(["bug"], [], {}, id="no events: absent"),
        pytest.param(["bug"], [labeled("bug", ALICE, at=T1)], {"bug": T1}, id="one event"),
        pytest.param(
            ["bug"],
            [labeled("bug", ALICE, at=T1), labeled("bug", ALICE, "unlabeled", T2)],
            {"bug": T1},
            id="unlabeled events ignored",
        ),
        pytest.param(
            ["bug"],
            [labeled("bug", ALICE, at=T1), labeled("bug", ALICE, at=T3)],
            {"bug": T3},
            id="the latest wins",
        ),
        pytest.param(["Bug"], [labeled("bug", ALICE, at=T2)], {"Bug": T2}, id="case-insensitive"),
        pytest.param(
            ["bug"],
            [labeled("docs", ALICE, at=T1), labeled("bug", ALICE)],
            {},
            id="only the asked labels, only timed events",
        ),
    ],
)
def test_label_times(
    labels: list[str], events: list[dict[str, Any]], expected: dict[str, str]
) -> None:
    assert label_times(events, labels) == expected


ISSUE = {"number": 7, "title": "Crash", "body": None, "created_at": "2024-01-01T00:00:00Z"}
PULL = {**ISSUE, "number": 8, "body": "Fixes #7", "pull_request": {"url": "..."}}
CLOSED = {**ISSUE, "closed_at": T3}


@pytest.mark.parametrize(
    ("item", "labels", "files", "times", "expected"),
    [
        (
            ISSUE,
            ["bug"],
            None,
            None,
            {
                "repo": "o/r",
                "number": 7,
                "kind": "issue",
                "title": "Crash",
                "body": "",
                "labels": ["bug"],
                "created_at": "2024-01-01T00:00:00Z",
                "closed_at": None,
                "labelled_at": {},
            },
        ),
        (
            PULL,
            [],
            ["a.py"],
            None,
            {
                "repo": "o/r",
                "number": 8,
                "kind": "pull_request",
                "title": "Crash",
                "body": "Fixes #7",
                "labels": [],
                "created_at": "2024-01-01T00:00:00Z",
                "closed_at": None,
                "labelled_at": {},
                "files": ["a.py"],
            },
        ),
        (
            CLOSED,
            ["bug", "wontfix"],
            None,
            {"bug": T1, "wontfix": T3, "dependencies": T2},  # not kept: left out
            {
                "repo": "o/r",
                "number": 7,
                "kind": "issue",
                "title": "Crash",
                "body": "",
                "labels": ["bug", "wontfix"],
                "created_at": "2024-01-01T00:00:00Z",
                "closed_at": T3,
                "labelled_at": {"bug": T1, "wontfix": T3},
            },
        ),
    ],
)
def test_make_record(
    item: dict[str, Any],
    labels: list[str],
    files: list[str] | None,
    times: dict[str, str] | None,
    expected: dict[str, Any],
) -> None:
    if times is None:  # callers from before ``labelled_at`` still work
        assert make_record("o/r", item, labels=labels, files=files) == expected
    else:
        assert make_record("o/r", item, labels=labels, files=files, labelled_at=times) == expected


def test_records_without_the_new_keys_still_load(tmp_path: Path) -> None:
    old = make_record("o/r", ISSUE, labels=["bug"])
    del old["closed_at"], old["labelled_at"]
    new = make_record("o/r", CLOSED, labels=["bug"], labelled_at={"bug": T1})
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(encode_record(r, "jsonl") or "" for r in (old, new)))
    items = load_dataset(path).items
    assert [it.labels for it in items] == [("bug",), ("bug",)]


@pytest.mark.parametrize(
    ("labels", "csv_text"),
    [
        (["bug"], 'o/r,2024-01-01T00:00:00Z,bug,Crash,"a, b"\r\n'),
        ([], None),  # the single-label CSV keeps exactly one label
        (["bug", "ui"], None),
    ],
)
def test_csv_rows_only_for_one_label(labels: list[str], csv_text: str | None) -> None:
    record = make_record("o/r", {**ISSUE, "body": "a, b"}, labels=labels)
    assert encode_record(record, "csv") == csv_text


def test_jsonl_lines_escape_unicode_line_breaks() -> None:
    record = make_record("o/r", {**ISSUE, "body": TRICKY_BODY}, labels=["bug"])
    text = encode_record(record, "jsonl")
    assert text is not None and len(text.splitlines()) == 1
    assert json.loads(text)["body"] == TRICKY_BODY


Q = CollectQuery("o/r")


@pytest.mark.parametrize(
    ("saved", "out_size", "expected"),
    [
        pytest.param(None, None, ResumeState(Q), id="fresh"),
        pytest.param(None, 0, ResumeState(Q), id="empty file"),
        pytest.param(ResumeState(Q, 3, ("t", 250), 900, 250), 950, None, id="resume"),
        pytest.param(None, 10, ResumeMismatch, id="file without state"),
        pytest.param(ResumeState(CollectQuery("o/r", "open")), 0, ResumeMismatch, id="other"),
        pytest.param(ResumeState(Q, offset=900), 100, ResumeMismatch, id="file shortened"),
    ],
)
def test_resume_from(saved: ResumeState | None, out_size: int | None, expected: Any) -> None:
    if expected is ResumeMismatch:
        with pytest.raises(ResumeMismatch):
            resume_from(saved, Q, out_size=out_size)
    else:
        assert resume_from(saved, Q, out_size=out_size) == (expected or saved)


def test_state_round_trips_through_json() -> None:
    state = ResumeState(CollectQuery("o/r", "closed", "2024-01-01T00:00:00Z", "csv"), 2, ("t", 5))
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    with pytest.raises(ResumeMismatch):
        state_from_json({"version": 99})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-01", "2024-03-01T00:00:00Z"),
        ("2024-03-01T12:30:00Z", "2024-03-01T12:30:00Z"),
        ("2024-03-01T14:30:00+02:00", "2024-03-01T12:30:00Z"),
        ("yesterday", ValueError),
    ],
)
def test_parse_since(raw: str, expected: Any) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError):
            parse_since(raw)
    else:
        assert parse_since(raw) == expected


@pytest.mark.parametrize("raw", ["octo-org", "a/b/c", "/b", ""])
def test_parse_repo_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        parse_repo(raw)
