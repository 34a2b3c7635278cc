"""The duplicates' and the matching choice's tables on SQLite and PostgreSQL (revision
0011): what is kept once, which verdict stands, what the dashboard counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.store import open_store

DAY = timedelta(days=1)
START = datetime(2026, 1, 1, tzinfo=UTC)


def test_issues_pairs_and_the_gate(database_url: str) -> None:
    store = open_store(database_url)
    issues = [
        {"number": n, "title": f"t{n}", "body": "b", "state": "open", "created_at": START + n * DAY}
        for n in (2, 1, 3)
    ]
    assert store.upsert_duplicate_issues("o/r", issues) == 3
    store.upsert_duplicate_issues("o/r", [{**issues[0], "state": "closed", "closed_at": START}])
    rows = store.duplicate_issues("o/r")
    assert [r["number"] for r in rows] == [1, 2, 3]  # oldest first
    assert rows[1]["state"] == "closed" and rows[1]["created_at"] == START + 2 * DAY
    assert store.duplicate_issue_count("o/r") == 3 and store.duplicate_issue_count("o/x") == 0

    assert store.save_duplicate_pairs("o/r", [(3, 1, "comment"), (2, 0, "state_reason")]) == 2
    assert store.save_duplicate_pairs("o/r", [(3, 2, "label")]) == 0  # the first original stays
    assert {(p["number"], p["original"], p["source"]) for p in store.duplicate_pairs("o/r")} == {
        (3, 1, "comment"),
        (2, 0, "state_reason"),
    }

    assert store.duplicate_gate("o/r") is None
    shadow = {"label": "possible duplicate", "threshold": 0.8, "live": False}
    store.save_duplicate_gate("o/r", gate=shadow, calibration={"pairs": 2})
    first = store.duplicate_gate("o/r")
    assert first is not None and first["live"] is False and first["scanned_at"] is None
    store.save_duplicate_gate("o/r", gate=shadow, calibration={"pairs": 3})
    same = store.duplicate_gate("o/r")
    assert same is not None and same["changed_at"] == first["changed_at"]
    assert same["calibration"] == {"pairs": 3}
    store.save_duplicate_gate("o/r", gate={**shadow, "live": True}, calibration={"pairs": 3})
    live = store.duplicate_gate("o/r")
    assert live is not None and live["live"] and live["changed_at"] > first["changed_at"]
    store.mark_duplicates_scanned("o/r", START)
    scanned = store.duplicate_gate("o/r")
    assert scanned is not None and scanned["scanned_at"] == START


def test_suggestions_verdicts_and_counts(database_url: str) -> None:
    store = open_store(database_url)
    made = {"suggested": [1, 4], "score": 0.9, "state": "live", "how": "comment"}
    for number in (10, 11, 12, 13):
        assert store.record_duplicate_suggestion("o/r", number, **made)
    assert not store.record_duplicate_suggestion("o/r", 10, **made)  # once per issue
    store.record_duplicate_suggestion(
        "o/r", 14, suggested=[2], score=0.7, state="shadow", how="record"
    )
    judge = store.judge_duplicate_suggestion
    assert judge("o/r", 10, verdict="confirmed", source="closed")
    assert not judge("o/r", 10, verdict="other", source="closed")  # the first verdict stands
    assert judge("o/r", 11, verdict="other", source="closed")
    assert store.mark_duplicate_wrong("o/r", 12, actor="alice", source="command")
    assert not store.mark_duplicate_wrong("o/r", 12, actor="bob", source="reaction")
    assert store.mark_duplicate_wrong("o/r", 11, actor="bob", source="reaction")  # overrides
    assert not store.mark_duplicate_wrong("o/r", 99, actor="alice", source="command")
    assert judge("o/r", 14, verdict="confirmed", source="closed")
    row = store.duplicate_suggestion("o/r", 12)
    assert row is not None and (row["verdict"], row["verdict_actor"]) == ("wrong", "alice")
    assert row["suggested"] == [1, 4] and row["verdict_at"] is not None
    assert store.duplicate_counts("o/r") == {
        "live": {"suggested": 4, "confirmed": 1, "wrong": 2, "other": 0},
        "shadow": {"suggested": 1, "confirmed": 1, "wrong": 0, "other": 0},
    }
    assert store.duplicate_counts("o/none")["live"]["suggested"] == 0
    assert [r["number"] for r in store.duplicate_suggestions()] == [10, 11, 12, 13, 14]


def test_a_gate_rejudged_on_peoples_verdicts_and_the_dashboards_overview(
    database_url: str,
) -> None:
    store = open_store(database_url)
    assert not store.rejudge_duplicate_gate("o/r", gate={"live": False})  # never calibrated
    assert store.duplicate_overview("o/r")["gate"] is None
    measured = {
        "label": "possible duplicate",
        "threshold": 0.6,
        "applied": 40,
        "correct": 40,
        "live": True,
        "bound": 0.944,
        "target": 0.9,
        "confidence": 0.9,
        "needed": 0,
        "reason": "measured",
    }
    store.save_duplicate_gate("o/r", gate=measured, calibration={"issues": 200, "pairs": 40})
    first = store.duplicate_gate("o/r")
    assert first is not None
    kept = {**measured, "judged": 2, "judged_correct": 1, "bound": 0.911}
    assert store.rejudge_duplicate_gate("o/r", gate=kept)
    same = store.duplicate_gate("o/r")
    assert same is not None and same["gate"]["judged"] == 2
    assert (same["changed_at"], same["calibrated_at"]) == (
        first["changed_at"],
        first["calibrated_at"],
    )
    demoted = {**kept, "live": False, "judged": 3, "bound": 0.881, "needed": 7, "reason": "demoted"}
    store.rejudge_duplicate_gate("o/r", gate=demoted)
    shadow = store.duplicate_gate("o/r")
    assert shadow is not None and not shadow["live"] and shadow["changed_at"] > first["changed_at"]
    assert shadow["calibration"] == {"issues": 200, "pairs": 40}
    store.record_duplicate_suggestion("o/r", 5, suggested=[1], score=0.9, state="live", how="label")
    store.mark_duplicate_wrong("o/r", 5, actor="alice", source="command")

    seen = store.duplicate_overview("o/r")

    assert seen["counts"]["live"] == {"suggested": 1, "confirmed": 0, "wrong": 1, "other": 0}
    gate = seen["gate"]
    assert (gate["state"], gate["bound"], gate["target"], gate["needed"]) == (
        "shadow",
        0.881,
        0.9,
        7,
    )
    assert (gate["history"], gate["people"]) == ((40, 40), (3, 1))
    assert (gate["issues"], gate["pairs"], gate["reason"]) == (200, 40, "demoted")
    assert gate["since"] == shadow["changed_at"]


def test_the_matching_choice_row(database_url: str) -> None:
    store = open_store(database_url)
    assert store.matching_choice("o/r") is None
    store.note_config_load("o/r", {"per_request": 0.0})
    seen = store.matching_choice("o/r")
    assert (
        seen is not None and seen["choice"] is None and seen["config_load"] == {"per_request": 0.0}
    )
    store.save_matching_choice("o/r", choice='{"version": 1}', n_changes=150, version=1)
    chosen = store.matching_choice("o/r")
    assert chosen is not None and chosen["choice"] == '{"version": 1}'
    assert (chosen["n_changes"], chosen["version"]) == (150, 1)
    assert chosen["config_load"] == {"per_request": 0.0} and chosen["chosen_at"] is not None
    store.note_config_load("o/r", None)
    cleared = store.matching_choice("o/r")
    assert cleared is not None and cleared["config_load"] is None and cleared["choice"]
