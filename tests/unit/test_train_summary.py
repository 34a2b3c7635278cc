"""`steward train` ends with what it trained: scores per repository and where it went."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from models.triage.cli import train_summary


def model(metrics: dict[str, object]) -> SimpleNamespace:
    return SimpleNamespace(meta=SimpleNamespace(metrics=metrics))


def test_the_summary_names_scores_and_folders() -> None:
    scores = {"macro_f1": 0.8123, "applied_precision": 0.9612, "coverage": 0.4}
    quiet = {"macro_f1": 0.5, "applied_precision": None, "coverage": 0.0}
    models = {
        "o/a": model({"cross_fitted": scores}),
        "o/b": model({"cross_fitted": quiet}),
    }
    text = train_summary(models, {"o/a": Path("m/o__a"), "o/b": Path("m/o__b")})
    a, b = text.splitlines()[1:]
    assert a.split()[:4] == ["o/a", "0.812", "0.961", "0.400"] and a.endswith("m/o__a")
    assert "n/a (nothing applied)" in b and b.endswith("m/o__b")


def test_without_calibration_it_says_nothing_is_applied() -> None:
    text = train_summary({"o/a": model({})}, {"o/a": Path("m")})
    assert "no label is applied" in text
