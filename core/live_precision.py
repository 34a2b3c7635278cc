"""Live precision of triage: the rule that judges the bot's label decisions against what
people did afterwards (the recorded feedback).

Pure functions over audit-log rows and feedback rows. ``steward evaluate-live``
(:mod:`workers.triage.live_eval`) prints it for one repository; ``/metrics`` exports it
for every repository (:mod:`app.metrics`). Both use this one rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any


def human_labels(feedback: Iterable[Mapping[str, Any]]) -> dict[int, tuple[set[str], set[str]]]:
    """Per item: (labels people added, labels people removed) after the bot decided."""
    changes: dict[int, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for row in feedback:
        added, removed = changes[int(row["number"])]
        if row["kind"] == "label_added":
            added.add(row["subject"])
        elif row["kind"] == "label_removed":
            removed.add(row["subject"])
    return dict(changes)


def live_precision(
    decisions: Iterable[Mapping[str, Any]], feedback: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Precision and coverage of the labels the bot applied or would have applied.

    Live mode: an applied label is correct unless a person removed it. Shadow mode: a
    would-be label is correct if a person later added it; items nobody labelled are not
    judged yet. Coverage is the share of decided items that got at least one label.
    """
    people = human_labels(feedback)
    counts = {"live": [0, 0], "shadow": [0, 0]}  # [correct, judged]
    decided = labelled = 0
    for decision in decisions:
        live, shadow = split_decision(decision)
        decided += 1
        labelled += bool(decision["detail"].get("applied"))
        added, removed = people.get(int(decision["number"]), (set(), set()))
        for label in live:
            counts["live"][0] += label not in removed
            counts["live"][1] += 1
        for label in shadow if added else ():
            counts["shadow"][0] += label in added
            counts["shadow"][1] += 1
    return {
        "decisions": decided,
        "coverage": labelled / decided if decided else 0.0,
        **{f"{mode}_precision": (c / n if n else None) for mode, (c, n) in counts.items()},
        **{f"{mode}_judged": n for mode, (_, n) in counts.items()},
    }


def split_decision(decision: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(labels the bot applied, labels it only recorded) of one triage decision.

    In ``mode: shadow`` nothing was applied; labels the gate held back (``shadow`` in
    the detail) were never applied in either mode.
    """
    detail = decision["detail"]
    applied = list(detail.get("applied") or [])
    held = list(detail.get("shadow") or [])
    if decision["mode"] == "shadow":
        return [], applied + held
    return applied, held


def precision_by_repository(
    decisions: Iterable[Mapping[str, Any]], feedback: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """:func:`live_precision` of each repository that has triage decisions.

    Rows of every repository may come mixed; each needs a ``repo`` field.
    """
    by_repo: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for decision in decisions:
        by_repo[str(decision["repo"])].append(decision)
    people: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in feedback:
        if str(row["repo"]) in by_repo:
            people[str(row["repo"])].append(row)
    return {repo: live_precision(rows, people[repo]) for repo, rows in by_repo.items()}
