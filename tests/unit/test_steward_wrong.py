"""``/steward wrong``, pure: what it undoes on an item (triage's labels, the possible
duplicates' suggestion and its label), and how people's verdicts on live duplicates
suggestions re-judge the duplicates' gate (tables of cases)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.triage.gate import GatePolicy, LabelGate
from workers.commands.decide import NOTHING_TO_UNDO, Undo, plan_undo
from workers.gates import duplicate_live_counts, duplicates_label, duplicates_policy

CALIBRATED = datetime(2026, 12, 1, tzinfo=UTC)


def action(feature: str, act: str, *, mode: str = "live", **detail: Any) -> dict[str, Any]:
    """One audit-log row of an item."""
    return {"feature": feature, "action": act, "mode": mode, "detail": detail}


def suggestion(
    state: str = "live", *, how: str = "comment", verdict: str | None = None, days: int = 1
) -> dict[str, Any]:
    """A duplicates suggestion row as the store gives it."""
    return {
        "state": state,
        "how": how,
        "verdict": verdict,
        "created_at": CALIBRATED + timedelta(days=days),
        "suggested": [3, 7],
    }


TRIAGE_BUG = action("triage", "label", label="bug")
DUP_LABEL = action("duplicates", "label", label="possible duplicate", suggested=[3])
DUP_COMMENT = action("duplicates", "comment", commented=True, suggested=[3])


@dataclass(frozen=True)
class Case:
    """What ``/steward wrong`` finds on an item, and what it should do."""

    name: str
    actions: list[dict[str, Any]]
    on_item: list[str]
    suggestion: dict[str, Any] | None
    expected: Undo | str = field(default=NOTHING_TO_UNDO)


CASES = [
    Case(
        "triage's label only, as before",
        [TRIAGE_BUG],
        ["bug", "docs"],
        None,
        Undo(("bug",), False, ("bug",)),
    ),
    Case(
        "a duplicates comment: marked wrong, no label to remove",
        [DUP_COMMENT],
        ["docs"],
        suggestion(how="comment"),
        Undo((), True, ()),
    ),
    Case(
        "a duplicates label: marked wrong and removed",
        [DUP_LABEL],
        ["Possible Duplicate"],
        suggestion(how="label"),
        Undo((), True, ("Possible Duplicate",)),
    ),
    Case(
        "the duplicates label a person removed already: marked wrong only",
        [DUP_LABEL],
        [],
        suggestion(how="label"),
        Undo((), True, ()),
    ),
    Case(
        "both triage's label and the duplicates label",
        [TRIAGE_BUG, DUP_LABEL],
        ["bug", "possible duplicate"],
        suggestion(how="label"),
        Undo(("bug",), True, ("bug", "possible duplicate")),
    ),
    Case(
        "a triage label of the same name as the duplicates label is removed once",
        [action("triage", "label", label="possible duplicate"), DUP_LABEL],
        ["possible duplicate"],
        suggestion(how="label"),
        Undo(("possible duplicate",), True, ("possible duplicate",)),
    ),
    Case(
        "a shadow suggestion is nobody's to correct",
        [action("duplicates", "suggest", mode="shadow", suggested=[3])],
        [],
        suggestion("shadow", how="record"),
    ),
    Case(
        "a suggestion called wrong already: nothing more to undo",
        [DUP_COMMENT],
        [],
        suggestion(verdict="wrong"),
    ),
    Case(
        "a confirmed suggestion can still be called wrong",
        [DUP_COMMENT],
        [],
        suggestion(verdict="confirmed"),
        Undo((), True, ()),
    ),
    Case(
        "a shadow triage label and no suggestion: nothing to undo",
        [action("triage", "label", mode="shadow", label="bug")],
        ["bug"],
        None,
    ),
    Case(
        "the duplicates label in a repository in shadow mode was never applied",
        [action("duplicates", "label", mode="shadow", suggested=[3])],
        [],
        None,
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_plan_undo(case: Case) -> None:
    assert plan_undo(case.actions, on_item=case.on_item, suggestion=case.suggestion) == (
        case.expected
    )


def test_the_duplicates_label_is_the_live_one_the_audit_log_names() -> None:
    assert duplicates_label([TRIAGE_BUG, DUP_LABEL]) == "possible duplicate"
    assert duplicates_label([DUP_COMMENT]) is None
    assert duplicates_label([action("duplicates", "label", mode="shadow", label="x")]) is None


@pytest.mark.parametrize(
    ("rows", "applied", "correct"),
    [
        pytest.param([], 0, 0, id="none"),
        pytest.param([suggestion()], 1, 1, id="a live one nobody judged is right"),
        pytest.param([suggestion(verdict="confirmed")], 1, 1, id="confirmed"),
        pytest.param([suggestion(verdict="wrong")], 1, 0, id="called wrong"),
        pytest.param(
            [suggestion(verdict="other")], 1, 0, id="closed as a duplicate of another issue"
        ),
        pytest.param(
            [suggestion("shadow", how="record", verdict="confirmed")],
            0,
            0,
            id="shadow: the replay's",
        ),
        pytest.param(
            [suggestion(verdict="wrong", days=-1), suggestion()],
            1,
            1,
            id="before the calibration: its replay counted it",
        ),
    ],
)
def test_live_evidence_of_duplicates(
    rows: list[dict[str, Any]], applied: int, correct: int
) -> None:
    counts = duplicate_live_counts(rows, since=CALIBRATED)
    assert (counts.live_applied, counts.live_correct) == (applied, correct)


def test_the_duplicates_clear_the_labels_bar() -> None:
    from core.config_schema import TriageConfig

    triage = TriageConfig(precision=0.9, confidence=0.8, min_support=12)
    assert duplicates_policy(triage) == GatePolicy(target=0.9, confidence=0.8, min_support=12)


def test_people_calling_live_suggestions_wrong_demote_the_gate() -> None:
    from models.triage.gate import live_verdict

    policy = GatePolicy(target=0.9, confidence=0.9, min_support=10)
    gate = LabelGate("possible duplicate", 0.6, 30, 30, 30, 200, True, "measured", 0.9, 0.9, 10)
    assert gate.bound >= 0.9  # 30 of 30 clears the bar
    kept = duplicate_live_counts([suggestion()] * 3, since=CALIBRATED)
    assert live_verdict(gate, kept, policy).live
    wrong = [suggestion(verdict="wrong")] * 2 + [suggestion()]
    demoted = live_verdict(gate, duplicate_live_counts(wrong, since=CALIBRATED), policy)
    assert not demoted.live and (demoted.judged, demoted.judged_correct) == (3, 1)
    assert demoted.reason.startswith("demoted")
