"""Pure triage decisions: which labels to apply."""

from __future__ import annotations

import pytest

from core.config_schema import TriageConfig
from workers.triage.decide import Prediction, choose_labels, explanation, item_text, resolve_label

REPO = ["bug", "Enhancement", "question", "docs"]
PROBS = {"bug": 0.9, "enhancement": 0.7, "question": 0.2}
THRESH = {"bug": 0.8, "enhancement": 0.6, "question": 0.5}


def pick(config: TriageConfig, *, single: bool = False, removed: tuple[str, ...] = ()) -> list[str]:
    prediction = Prediction(PROBS, THRESH, single_label=single, source="model")
    chosen = choose_labels(prediction, repo_labels=REPO, config=config, removed_by_humans=removed)
    return [name for name, _ in chosen]


@pytest.mark.parametrize(
    ("config", "single", "removed", "expected"),
    [
        (TriageConfig(), False, (), ["bug", "Enhancement"]),
        (TriageConfig(), True, (), ["bug"]),
        (TriageConfig(max_labels=1), False, (), ["bug"]),
        (TriageConfig(allow=["enhancement"]), False, (), ["Enhancement"]),
        (TriageConfig(deny=["BUG"]), False, (), ["Enhancement"]),
        (TriageConfig(min_confidence={"bug": 0.95}), False, (), ["Enhancement"]),
        (
            TriageConfig(min_confidence={"question": 0.1}),
            False,
            (),
            ["bug", "Enhancement", "question"],
        ),
        (TriageConfig(aliases={"bug": "docs"}), False, (), ["docs", "Enhancement"]),
        (TriageConfig(aliases={"bug": "missing"}), False, (), ["Enhancement"]),
        (TriageConfig(), False, ("bug",), ["Enhancement"]),
    ],
)
def test_choose_labels(
    config: TriageConfig, single: bool, removed: tuple[str, ...], expected: list[str]
) -> None:
    assert pick(config, single=single, removed=removed) == expected


def test_labels_without_threshold_are_never_applied() -> None:
    prediction = Prediction({"bug": 0.99}, {}, single_label=False, source="model")
    assert choose_labels(prediction, repo_labels=["bug"], config=TriageConfig()) == []


def test_resolve_label_is_case_insensitive() -> None:
    assert resolve_label("enhancement", REPO, {}) == "Enhancement"
    assert resolve_label("nope", REPO, {}) is None


@pytest.mark.parametrize(
    ("paths", "category", "expected"),
    [
        (["a.py", "b.py"], "", ("t", "b\n\nChanged files: a.py b.py")),
        ([], "", ("t", "b")),
        ([], "Q&A", ("Q&A: t", "b")),
        ([], "Ideas", ("Ideas: t", "b")),
    ],
)
def test_item_text(paths: list[str], category: str, expected: tuple[str, str]) -> None:
    """A PR's changed paths go in its body, a discussion's category ahead of its title."""
    assert item_text("t", "b", paths, category=category) == expected


def test_explanation_names_labels_and_marker() -> None:
    text = explanation([("bug", 0.91)], "model")
    assert "`bug` (91%)" in text and "<!-- steward:triage -->" in text
