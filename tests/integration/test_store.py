"""Durable state on SQLite and PostgreSQL, migrated by Alembic."""

from __future__ import annotations

from core.store import ActionRecord, open_store


def test_store_round_trip(database_url: str) -> None:
    store = open_store(database_url)
    open_store(database_url)  # migrating twice is a no-op
    store.upsert_installation(1, "octo-org", "Organization")
    store.add_repositories(1, [(10, "octo-org/a"), (11, "octo-org/b")])
    store.remove_repositories([11])
    assert store.active_repositories(1) == ["octo-org/a"]
    store.delete_installation(1)
    assert store.installation(1)["deleted_at"] is not None  # type: ignore[index]
    store.upsert_installation(1, "octo-org", "Organization")
    assert store.installation(1)["deleted_at"] is None  # type: ignore[index]


def test_actions_are_recorded_once(database_url: str) -> None:
    store = open_store(database_url)
    record = ActionRecord(
        "welcome:o/r#1:issue", "o/r", "welcome", "comment", number=1, detail={"posted": True}
    )
    assert not store.has_action(record.effect_key)
    assert store.record_action(record) is True
    assert store.record_action(record) is False
    assert store.has_action(record.effect_key)
    assert [a["detail"] for a in store.actions_for("o/r", 1)] == [{"posted": True}]


def test_config_reports_once_per_version(database_url: str) -> None:
    store = open_store(database_url)
    assert store.claim_config_report("o/r", ".github/steward.yml", "abc", errors=["bad"])
    assert not store.claim_config_report("o/r", ".github/steward.yml", "abc", errors=["bad"])
    store.release_config_report("o/r", ".github/steward.yml", "abc")
    assert store.claim_config_report("o/r", ".github/steward.yml", "abc", errors=["bad"])
    assert store.claim_config_report("o/r", ".github/steward.yml", "def", errors=["bad"])


def test_feedback(database_url: str) -> None:
    store = open_store(database_url)
    store.record_feedback(repo="o/r", number=3, kind="label_removed", subject="bug", actor="m")
    assert [(f["kind"], f["subject"]) for f in store.feedback_for("o/r")] == [
        ("label_removed", "bug")
    ]


def test_review_history_and_backfill_progress(database_url: str) -> None:
    store = open_store(database_url)
    change = {
        "id": "7",
        "created_at": "2026-01-02T00:00:00Z",
        "merged_at": "2026-01-03T00:00:00Z",
        "author": "a",
        "reviewers": ["r"],
        "title": "t",
        "body": "",
        "files": ["x.go"],
    }
    store.upsert_change("o/r", change)
    store.upsert_change("o/r", {**change, "reviewers": ["r", "s"]})
    store.upsert_change("o/r", {**change, "id": "3", "merged_at": "2026-01-01T00:00:00Z"})
    assert [(c["id"], c["reviewers"]) for c in store.changes_for("o/r")] == [
        ("3", ["r"]),
        ("7", ["r", "s"]),
    ]
    assert store.backfill_state("o/r", "pulls") is None
    store.save_backfill_state("o/r", "pulls", cursor="2", done=False, count=100)
    store.save_backfill_state("o/r", "pulls", cursor=None, done=True, count=130)
    state = store.backfill_state("o/r", "pulls")
    assert state and state["done"] and state["count"] == 130


def test_model_versions_promotion_and_rollback(database_url: str) -> None:
    store = open_store(database_url)
    first = store.add_model_version(
        "o/r", "/m/1", metrics={"macro_f1": 0.8}, fingerprint="f1", promoted=True
    )
    second = store.add_model_version(
        "o/r", "/m/2", metrics={"macro_f1": 0.85}, fingerprint="f2", promoted=True
    )
    assert [v["promoted"] for v in store.model_versions_for("o/r")] == [False, True]
    store.promote_model_version("o/r", first)
    assert [v["id"] for v in store.model_versions_for("o/r") if v["promoted"]] == [first]
    assert second > first


def test_opt_out(database_url: str) -> None:
    store = open_store(database_url)
    store.set_opt_out("@Alice", True)
    store.set_opt_out("bob", True)
    store.set_opt_out("bob", False)
    assert store.opted_out() == {"alice"}


def test_the_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.store import metadata

    store = open_store(database_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # Only differences in what the model declares matter; ignore alembic's own table.
    assert [d for d in diff if "alembic_version" not in str(d)] == []


def test_dashboard_sessions_expire_end_and_are_pruned(database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from core.store import DashboardSession

    store = open_store(database_url)
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    rows = [
        DashboardSession(
            id_hash=f"{n:064x}",
            login="alice",
            access=[[7, "acme", ["acme/widgets"]]],
            token="sealed",
            checked_at=now,
            expires_at=now + timedelta(hours=hours),
        )
        for n, hours in ((1, 8), (2, 1), (3, 8))
    ]
    for row in rows:
        store.save_dashboard_session(row)
    assert store.dashboard_session(rows[0].id_hash, now=now) == rows[0]
    later = now + timedelta(hours=2)
    assert store.dashboard_session(rows[1].id_hash, now=later) is None  # expired
    changed = DashboardSession(**{**rows[0].__dict__, "access": [], "checked_at": later})
    store.save_dashboard_session(changed)
    assert store.dashboard_session(rows[0].id_hash, now=later) == changed
    store.end_dashboard_session(rows[0].id_hash)
    assert store.dashboard_session(rows[0].id_hash, now=later) is None
    assert store.prune_dashboard_sessions(now=now + timedelta(hours=9)) == 1  # rows[2]
    assert store.dashboard_session(rows[2].id_hash, now=now) is None


def test_gates_stored_on_a_point_estimate_are_rejudged_on_the_bound(database_url: str) -> None:
    """Revision 0008: a label that went live on 25/25 (a smoothed 0.96) goes back to
    shadow, one that clears the bound stays live, and discussions get shadow copies."""
    from datetime import UTC, datetime
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import insert

    import core.store
    from core.store import Store, label_gates, make_engine

    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(Path(core.store.__file__).parent / "migrations"))
    old = {"threshold": 0.7, "positives": 40, "measured_on": 100, "reason": "smoothed"}
    now = datetime.now(UTC)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
        for label, applied in (("bug", 25), ("question", 80)):
            gate = {**old, "label": label, "applied": applied, "correct": applied, "live": True}
            conn.execute(
                insert(label_gates).values(
                    repo="o/r",
                    kind="issue",
                    label=label,
                    source="nearest-neighbour",
                    live=True,
                    gate=gate,
                    changed_at=now,
                    updated_at=now,
                )
            )
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    rows = {(r["kind"], r["label"]): r for r in Store(engine).gates_for("o/r")}
    assert (
        not rows[("issue", "bug")]["live"]
        and "lower bound" in rows[("issue", "bug")]["gate"]["reason"]
    )
    assert rows[("issue", "question")]["live"]  # 80/80: at least 0.963 with 95 % confidence
    assert {k: r["live"] for k, r in rows.items() if k[0] == "discussion"} == {
        ("discussion", "bug"): False,
        ("discussion", "question"): False,
    }
    assert rows[("discussion", "question")]["gate"]["threshold"] == 0.7
