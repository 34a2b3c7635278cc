"""Durable state on SQLite and PostgreSQL, migrated by Alembic."""

from __future__ import annotations

from app.store import ActionRecord, open_store


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
    assert store.claim_config_report("o/r", ".github/steward.yml", "abc", ["bad"])
    assert not store.claim_config_report("o/r", ".github/steward.yml", "abc", ["bad"])
    store.release_config_report("o/r", ".github/steward.yml", "abc")
    assert store.claim_config_report("o/r", ".github/steward.yml", "abc", ["bad"])
    assert store.claim_config_report("o/r", ".github/steward.yml", "def", ["bad"])


def test_feedback(database_url: str) -> None:
    store = open_store(database_url)
    store.record_feedback(repo="o/r", number=3, kind="label_removed", subject="bug", actor="m")
    assert [(f["kind"], f["subject"]) for f in store.feedback_for("o/r")] == [
        ("label_removed", "bug")
    ]
