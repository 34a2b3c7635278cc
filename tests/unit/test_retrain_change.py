"""When scheduled retraining trains what (``workers/retrain/change.py``), as tables: how
much a repository's labelled data changed since its newest version, whether that is
enough for a new version, and whether the org's encoder moves or the changed
repositories get heads alone on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import SettingsError, load_settings
from models.triage.plan import RetrainPolicy
from tests.unit.test_training_plan import item
from workers.retrain.change import (
    ENCODER,
    HEADS,
    NOTHING,
    Change,
    RepoChange,
    change_since,
    enough,
    outcome_reason,
    plan_run,
    policy_of,
    snapshot,
)

POLICY = RetrainPolicy(min_new_items=20, min_new_share=0.05, encoder_share=0.25, min_unseen=30)


def snap(count: int, label: str = "bug", start: int = 1) -> dict[str, tuple[str, ...]]:
    """``count`` issues numbered from ``start``, each labelled ``label``."""
    return {str(n): (label,) for n in range(start, start + count)}


@pytest.mark.parametrize(
    ("now", "before", "expected"),
    [
        pytest.param(snap(10), None, Change(10, 10, None), id="no snapshot: all new"),
        pytest.param(snap(10), snap(10), Change(0, 10, 10), id="same data"),
        pytest.param(snap(12), snap(10), Change(2, 12, 10), id="two new issues"),
        pytest.param(
            {**snap(10), "3": ("feature",)}, snap(10), Change(1, 10, 10), id="one relabelled"
        ),
        pytest.param(
            {**snap(10), "3": ("bug", "ui")}, snap(10), Change(1, 10, 10), id="one label added"
        ),
        pytest.param(snap(8), snap(10), Change(0, 8, 10), id="issues gone: nothing new"),
        pytest.param(snap(5, start=11), snap(10), Change(5, 5, 10), id="all replaced"),
    ],
)
def test_change_since(
    now: dict[str, tuple[str, ...]], before: dict[str, tuple[str, ...]] | None, expected: Change
) -> None:
    assert change_since(now, before) == expected


def test_snapshot_counts_an_issue_repeated_in_training_once_with_labels_sorted() -> None:
    items = [item(1, "ui", "bug", number=7), item(1, "ui", "bug", number=7), item(2, "docs")]
    assert snapshot(items) == {"7": ("bug", "ui"), "2": ("docs",)}


@pytest.mark.parametrize(
    ("change", "retrain"),
    [
        pytest.param(Change(300, 300, None), True, id="no version yet"),
        pytest.param(Change(0, 300, 300), False, id="nothing new"),
        pytest.param(Change(19, 319, 300), False, id="under the count"),
        pytest.param(Change(20, 320, 300), True, id="at the count and 6.7 %"),
        pytest.param(Change(100, 5100, 5000), False, id="100 new of 5000: 2 %"),
        pytest.param(Change(250, 5250, 5000), True, id="250 new of 5000: 5 %"),
        pytest.param(Change(20, 20, 0), True, id="empty snapshot before"),
    ],
)
def test_a_repository_changed_enough(change: Change, retrain: bool) -> None:
    assert enough(change, POLICY) is retrain


def repo(
    name: str,
    changed: int,
    before: int | None,
    *,
    encoder: tuple[int, int | None] | None = None,
    unseen: int = 100,
) -> RepoChange:
    """A repository with ``changed`` of ``before`` issues new since its newest version
    (version 3; None: no version), ``encoder`` = (changed, before) against the org
    encoder's snapshot (default: the same) and ``unseen`` training issues the encoder
    never trained on."""
    total = (before or 0) + changed
    moved, base = encoder or (changed, before)
    return RepoChange(
        name,
        Change(changed, total, before),
        Change(moved, total, base),
        since=3 if before is not None else None,
        unseen=unseen,
    )


@pytest.mark.parametrize(
    ("states", "known", "force", "mode", "train", "why"),
    [
        pytest.param(
            [repo("o/a", 5, 300), repo("o/b", 0, 300)],
            True,
            False,
            NOTHING,
            (),
            "no repository",
            id="little change anywhere: nothing trained",
        ),
        pytest.param(
            [repo("o/a", 40, 300), repo("o/b", 0, 300)],
            True,
            False,
            HEADS,
            ("o/a",),
            "heads alone",
            id="one repository changed a little: its head alone",
        ),
        pytest.param(
            [repo("o/a", 200, 300), repo("o/b", 0, 300)],
            True,
            False,
            ENCODER,
            ("o/a", "o/b"),
            "200 of the 600",
            id="a third of the org's data new: the encoder moves, all carried",
        ),
        pytest.param(
            [repo("o/a", 0, 300), repo("o/b", 0, 300), repo("o/new", 140, None)],
            True,
            False,
            HEADS,
            ("o/new",),
            "140 of the 600",
            id="a small new repository fits the org's encoder",
        ),
        pytest.param(
            [repo("o/a", 0, 300), repo("o/new", 900, None)],
            True,
            False,
            ENCODER,
            ("o/a", "o/new"),
            "900 of the 300",
            id="a big new repository moves the encoder",
        ),
        pytest.param(
            [repo("o/a", 30, 300, encoder=(130, 300)), repo("o/b", 0, 300, encoder=(30, 300))],
            True,
            False,
            ENCODER,
            ("o/a", "o/b"),
            "160 of the 600",
            id="heads-only updates add up until the encoder moves",
        ),
        pytest.param(
            [repo("o/a", 40, 300), repo("o/b", 0, 300)],
            False,
            False,
            ENCODER,
            ("o/a", "o/b"),
            "no encoder",
            id="no recorded encoder: fine-tuned",
        ),
        pytest.param(
            [repo("o/a", 0, 300), repo("o/b", 0, 300)],
            True,
            True,
            ENCODER,
            ("o/a", "o/b"),
            "forced",
            id="forced",
        ),
        pytest.param([], True, False, NOTHING, (), "no repository", id="no repository ready"),
        pytest.param(
            [repo("o/a", 40, 300, unseen=29), repo("o/b", 0, 300)],
            True,
            False,
            ENCODER,
            ("o/a", "o/b"),
            "o/a has 29 training issues its encoder never saw, 30 needed",
            id="too few unseen issues to calibrate a head alone: the encoder moves",
        ),
        pytest.param(
            [repo("o/a", 40, 300, unseen=30), repo("o/b", 0, 300, unseen=0)],
            True,
            False,
            HEADS,
            ("o/a",),
            "heads alone",
            id="only the repositories trained need unseen issues",
        ),
    ],
)
def test_plan_run(
    states: list[RepoChange],
    known: bool,
    force: bool,
    mode: str,
    train: tuple[str, ...],
    why: str,
) -> None:
    plan = plan_run(states, policy=POLICY, encoder_known=known, force=force)
    assert (plan.mode, plan.train) == (mode, train)
    assert why in plan.why
    assert set(plan.reasons) == {s.repo for s in states}


@pytest.mark.parametrize(
    ("states", "name", "says"),
    [
        pytest.param(
            [repo("o/a", 5, 300)],
            "o/a",
            "not retrained: 5 labelled issue(s) new or relabelled since version 3 (1.7% of "
            "its 300); a new version needs at least 20 and 5%",
            id="too little",
        ),
        pytest.param(
            [repo("o/a", 40, 300)], "o/a", "heads alone: 40 labelled issue(s)", id="heads"
        ),
        pytest.param(
            [repo("o/a", 200, 300), repo("o/b", 1, 300)],
            "o/b",
            "carried along while the org's encoder moves",
            id="carried",
        ),
        pytest.param(
            [repo("o/a", 200, None)], "o/a", "fine-tuned: no trained version yet", id="first"
        ),
        pytest.param(
            [repo("o/a", 0, 300)],
            "o/a",
            "not retrained: no new labelled data since version 3",
            id="nothing new",
        ),
        pytest.param(
            [RepoChange("o/a", Change(300, 300, None), Change(300, 300, None), since=2)],
            "o/a",
            "fine-tuned: version 2 recorded no snapshot",
            id="a version from before snapshots",
        ),
    ],
)
def test_each_repository_gets_its_reason(states: list[RepoChange], name: str, says: str) -> None:
    plan = plan_run(states, policy=POLICY, encoder_known=True)
    assert outcome_reason(plan, name).startswith(says)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, (20, 0.05, 0.25), id="defaults"),
        pytest.param(
            {
                "STEWARD_RETRAIN_MIN_NEW": "50",
                "STEWARD_RETRAIN_MIN_SHARE": "0.1",
                "STEWARD_RETRAIN_ENCODER_SHARE": "0.5",
            },
            (50, 0.1, 0.5),
            id="set",
        ),
        pytest.param({"STEWARD_RETRAIN_MIN_NEW": "0"}, (0, 0.05, 0.25), id="retrain on any"),
    ],
)
def test_thresholds_come_from_the_settings(env: dict[str, str], expected: tuple[Any, ...]) -> None:
    policy = policy_of(load_settings(env, env_file=Path("/nonexistent")))
    assert (policy.min_new_items, policy.min_new_share, policy.encoder_share) == expected


@pytest.mark.parametrize("name", ["STEWARD_RETRAIN_MIN_SHARE", "STEWARD_RETRAIN_ENCODER_SHARE"])
@pytest.mark.parametrize("value", ["1.5", "-0.1", "half"])
def test_a_share_outside_0_to_1_is_refused_with_its_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value}, env_file=Path("/nonexistent"))
