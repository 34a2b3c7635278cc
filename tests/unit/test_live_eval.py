"""Live precision from decisions and human feedback."""

from __future__ import annotations

from typing import Any

from workers.triage.live_eval import live_precision


def decision(number: int, applied: list[str], mode: str = "live") -> dict[str, Any]:
    return {"number": number, "mode": mode, "detail": {"applied": applied}}


def fb(number: int, kind: str, label: str) -> dict[str, Any]:
    return {"number": number, "kind": kind, "subject": label}


def test_live_mode_counts_removed_labels_as_wrong() -> None:
    result = live_precision(
        [decision(1, ["bug"]), decision(2, ["bug", "ui"]), decision(3, [])],
        [fb(2, "label_removed", "ui"), fb(3, "label_added", "question")],
    )
    assert result["live_precision"] == 2 / 3 and result["live_judged"] == 3
    assert result["coverage"] == 2 / 3 and result["decisions"] == 3


def test_shadow_mode_waits_for_humans_and_compares_with_what_they_added() -> None:
    result = live_precision(
        [
            decision(1, ["bug"], "shadow"),
            decision(2, ["feature"], "shadow"),
            decision(3, ["bug"], "shadow"),
        ],
        [fb(1, "label_added", "bug"), fb(2, "label_added", "question")],
    )
    assert result["shadow_precision"] == 0.5 and result["shadow_judged"] == 2
    assert result["live_precision"] is None


def test_nothing_recorded() -> None:
    assert live_precision([], [])["coverage"] == 0.0
