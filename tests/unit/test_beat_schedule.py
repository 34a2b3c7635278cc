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
