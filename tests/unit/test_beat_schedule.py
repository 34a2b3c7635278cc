"""Celery beat's schedule and the task routes (``core/queue.py``), and the worker's
``--beat``: read from settings, nothing started.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.settings import load_settings


@pytest.mark.parametrize(("hours", "scheduled"), [("", 24), ("6", 6), ("0", None)])
def test_beat_schedule_and_routes(hours: str, scheduled: int | None) -> None:
    from core.queue import INFERENCE_QUEUE, create_celery

    settings = load_settings(
        {"STEWARD_RETRAIN_HOURS": hours, "REDIS_URL": "redis://127.0.0.1:1/0"},
        env_file=Path("/nonexistent.env"),
    )
    from celery import _state

    previous = _state.default_app
    try:
        app = create_celery(settings)
    finally:
        _state.set_default_app(previous)
    entry = app.conf.beat_schedule.get("retrain-all")
    if scheduled is None:
        assert entry is None
    else:
        assert entry["task"] == "steward.retrain_all"
        assert entry["schedule"] == timedelta(hours=scheduled)
    assert app.conf.task_routes["steward.retrain"] == {"queue": INFERENCE_QUEUE}


def test_worker_accepts_beat() -> None:
    from app.cli import build_parser

    assert build_parser().parse_args(["worker", "--beat"]).beat is True
    assert build_parser().parse_args(["worker"]).beat is False


def test_duplicates_are_refreshed_daily_and_routed() -> None:
    from core.queue import DEFAULT_QUEUE, INFERENCE_QUEUE, beat_schedule
    from core.tasks import task_routes

    settings = load_settings({}, env_file=Path("/nonexistent.env"))
    entry = beat_schedule(settings)["refresh-duplicates"]
    assert entry["task"] == "steward.refresh_duplicates_all"
    assert entry["schedule"] == timedelta(days=1)
    routes = task_routes()
    assert routes["steward.duplicates"] == {"queue": INFERENCE_QUEUE}
    assert routes["steward.calibrate_duplicates"] == {"queue": INFERENCE_QUEUE}
    assert routes["steward.choose_matching"] == {"queue": INFERENCE_QUEUE}
    assert routes["steward.refresh_duplicates"] == {"queue": DEFAULT_QUEUE}


def test_forgetting_runs_daily_and_periodic_work_fans_out_per_repository() -> None:
    from core.queue import DEFAULT_QUEUE, beat_schedule, time_limits
    from core.tasks import BACKGROUND, TASKS, priority_of, task_routes
    from workers import tasks

    settings = load_settings({}, env_file=Path("/nonexistent.env"))
    entry = beat_schedule(settings)["forget"]
    assert entry["task"] == "steward.forget" == tasks.forget.name
    assert entry["schedule"] == timedelta(days=1)
    routes = task_routes()
    for name in ("steward.forget", "steward.followup_repo", "steward.digest_repo"):
        assert name in TASKS and routes[name] == {"queue": DEFAULT_QUEUE}
        assert priority_of(name) == BACKGROUND  # after interactive work in each lane
    assert tasks.followup_repo.name == "steward.followup_repo"
    assert tasks.digest_repo.name == "steward.digest_repo"
    # One repository's follow-up may make several calls per due item.
    assert time_limits("steward.followup_repo") == (1800, 1860)
