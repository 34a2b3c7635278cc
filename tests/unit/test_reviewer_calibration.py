"""The rules of the per-repository matching choice (issue 28), as tables.

Which load policy, which ranker variant, when to choose again, and which discount the bot
runs with when an organisation sets ``reviewers.load``. No replay here: the numbers are
given, the rules are checked (``tests/models/test_reviewer_matching_choice.py`` replays).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from models.reviewers.calibrate import (
    CHOICE_VERSION,
    LOAD_GRID,
    MIN_CHANGES,
    MatchingChoice,
    TaskChoice,
    VariantScore,
    choose_load,
    choose_variant,
    effective_load,
    needs_rechoice,
    paired_gain,
)
from models.reviewers.constraints import LOAD_POLICY
from models.reviewers.loadsim import LoadOutcome
from models.reviewers.variants import Windows, window_sizes


def outcome(
    share: float,
    mrr: float,
    history: float = 0.30,
    rr: tuple[float, ...] = (),
    *,
    strength: float = 1.0,
    error: float = 0.0,
) -> LoadOutcome:
    """A discount of ``strength`` on a window: its MRR, busiest share and that share's error."""
    return LoadOutcome(strength, 1.0, {"mrr": mrr, "n": 10}, share, history, rr, error)


# Each row: (strength, share, share's standard error) per policy on the tuning window, where
# the history's busiest share is 0.30; the fixed policy's index; the policy chosen when the
# check window agrees.
LOAD_CASES = [
    # The mildest discount whose share stays below the history's by its error.
    ([(0.0, 0.40, 0.02), (0.5, 0.27, 0.02), (1.0, 0.25, 0.02), (2.0, 0.20, 0.02)], 3, 1),
    # Within the error of the history's share is not enough when a stronger one is clear.
    ([(0.0, 0.40, 0.02), (0.5, 0.29, 0.02), (1.0, 0.25, 0.02)], 2, 2),
    # The order of the rows does not matter: the mildest wins, not the first.
    ([(2.0, 0.20, 0.02), (0.5, 0.27, 0.02), (0.0, 0.40, 0.02)], 0, 1),
    # Nothing needs spreading: no discount already keeps the share.
    ([(0.0, 0.25, 0.02), (0.5, 0.20, 0.02), (1.0, 0.15, 0.02)], 2, 0),
    # None keeps it by its error: the mildest that keeps it at all.
    ([(0.0, 0.40, 0.05), (0.5, 0.29, 0.05), (1.0, 0.28, 0.05)], 0, 1),
    # None keeps it at all (one person knows the code): the fixed policy.
    ([(0.0, 0.50, 0.02), (1.2, 0.45, 0.02), (8.0, 0.40, 0.02)], 1, 1),
]


@pytest.mark.parametrize(("rows", "fixed", "expected"), LOAD_CASES)
def test_choose_load_on_the_tuning_window(
    rows: list[tuple[float, float, float]], fixed: int, expected: int
) -> None:
    tune = [outcome(share, 0.7, strength=s, error=e) for s, share, e in rows]
    check = [outcome(0.10, 0.5, rr=(0.5,) * 40) for _ in rows]  # the check agrees
    assert choose_load(tune, check, fixed)[0] == expected


def test_check_window_breaking_the_share_limit_keeps_the_fixed_policy() -> None:
    tune = [outcome(0.40, 0.8, strength=0.0), outcome(0.28, 0.78, strength=0.5)]
    tune.append(outcome(0.20, 0.7, strength=1.2))
    check = [outcome(0.40, 0.8), outcome(0.33, 0.8), outcome(0.25, 0.7)]  # history 0.30
    pick, reason = choose_load(tune, check, 2)
    assert pick == 2 and "check" in reason


def test_check_window_losing_clearly_to_the_fixed_policy_keeps_it() -> None:
    tune = [outcome(0.28, 0.80, strength=0.5), outcome(0.20, 0.70, strength=1.2)]
    check = [outcome(0.25, 0.5, rr=(0.2, 0.3) * 30), outcome(0.2, 0.8, rr=(1.0, 0.9) * 30)]
    assert choose_load(tune, check, 1)[0] == 1


def test_check_window_within_noise_keeps_the_choice() -> None:
    tune = [outcome(0.28, 0.80, strength=0.5), outcome(0.20, 0.70, strength=1.2)]
    noisy = (1.0, 0.0) * 30
    check = [outcome(0.25, 0.5, rr=noisy), outcome(0.2, 0.5, rr=noisy[1:] + noisy[:1])]
    assert choose_load(tune, check, 1)[0] == 0


SAME = [0.5, 1.0, 0.0, 1.0, 0.5, 0.25] * 10


@pytest.mark.parametrize(
    ("tune", "check", "expected"),
    [
        # A variant that is no better stays out.
        ([SAME, SAME], [SAME, SAME], 0),
        # Clearly better on the tuning window, and not worse on the check: chosen.
        ([SAME, [min(1.0, x + 0.2) for x in SAME]], [SAME, SAME], 1),
        # Better by less than its standard error: noise, the default stays.
        ([SAME, [x + (0.3 if i % 2 else -0.28) for i, x in enumerate(SAME)]], [SAME, SAME], 0),
        # Better on the tuning window, clearly worse on the check: the default stays.
        ([SAME, [min(1.0, x + 0.2) for x in SAME]], [SAME, [x / 2 for x in SAME]], 0),
        # Of two clear gains the larger.
        ([SAME, [x + 0.1 for x in SAME], [x + 0.2 for x in SAME]], [SAME] * 3, 2),
    ],
)
def test_choose_variant(tune: list[list[float]], check: list[list[float]], expected: int) -> None:
    assert choose_variant(tune, check)[0] == expected


def test_paired_gain_is_the_mean_difference_with_its_standard_error() -> None:
    gain, error = paired_gain([1.0, 0.5, 1.0, 0.5], [0.5, 0.5, 0.5, 0.5])
    assert gain == pytest.approx(0.25)
    # The differences 0.5, 0, 0.5, 0: sample standard deviation sqrt(1/12), over sqrt(4).
    assert error == pytest.approx((1 / 12) ** 0.5 / 2)
    assert paired_gain([1.0], [0.0])[1] == float("inf")


def choice(n_changes: int, *, version: int = CHOICE_VERSION, check: int = 400) -> MatchingChoice:
    """A stored choice made on ``n_changes`` changes with a check window of ``check``."""
    windows = Windows(0, 0, n_changes - check, n_changes)
    return MatchingChoice(
        version, n_changes, "created", windows, TaskChoice("reviewers"), TaskChoice("people")
    )


@pytest.mark.parametrize(
    ("stored", "now", "expected"),
    [
        (None, MIN_CHANGES - 1, False),  # never chosen, too little history yet
        (None, MIN_CHANGES, True),  # never chosen, enough now
        (choice(2000), 2000, False),  # nothing new
        (choice(2000), 2199, False),  # 199 new: less than half the check window (200)
        (choice(2000), 2200, True),  # half the check window
        (choice(400, check=100), 499, False),  # below the minimum of new changes
        (choice(400, check=100), 500, True),
        (choice(2000, version=CHOICE_VERSION - 1), 2000, True),  # another format
        (choice(2000), 1500, True),  # the history shrank: it was rebuilt
        (choice(100, check=25), MIN_CHANGES, True),  # chosen on too little, enough now
    ],
)
def test_needs_rechoice(stored: MatchingChoice | None, now: int, expected: bool) -> None:
    assert needs_rechoice(stored, now) is expected


def calibrated(per_request: float, free_load: float) -> MatchingChoice:
    """A choice whose reviewers' discount is ``per_request``/``free_load``."""
    chosen = outcome(0.2, 0.7)
    load = LoadOutcome(per_request, free_load, chosen.metrics, 0.2, 0.3)
    base = choice(1000)
    return MatchingChoice(
        base.version,
        base.n_changes,
        base.as_of,
        base.windows,
        TaskChoice("reviewers", load=load),
        base.people,
    )


@pytest.mark.parametrize(
    ("config", "stored", "per_request", "free_load", "source"),
    [
        (None, None, LOAD_POLICY.per_request, LOAD_POLICY.free_load, "default"),
        (None, choice(1000), LOAD_POLICY.per_request, LOAD_POLICY.free_load, "default"),
        (None, calibrated(0.5, 2.0), 0.5, 2.0, "calibrated"),
        ({}, calibrated(0.5, 2.0), 0.5, 2.0, "calibrated"),  # an empty setting is no setting
        # A maintainer's setting wins over the calibrated discount...
        ({"per_request": 2.0, "free_load": 0.0}, calibrated(0.5, 2.0), 2.0, 0.0, "config"),
        # ... missing keys take the fixed policy's values, not the calibrated ones ...
        ({"per_request": 3.0}, calibrated(0.5, 2.0), 3.0, LOAD_POLICY.free_load, "config"),
        # ... and 0 turns the discount off.
        ({"per_request": 0}, calibrated(0.5, 2.0), 0.0, LOAD_POLICY.free_load, "config"),
    ],
)
def test_effective_load(
    config: dict[str, float] | None,
    stored: MatchingChoice | None,
    per_request: float,
    free_load: float,
    source: str,
) -> None:
    chosen = effective_load(config, stored)
    assert (chosen.policy.per_request, chosen.policy.free_load, chosen.source) == (
        per_request,
        free_load,
        source,
    )
    assert chosen.policy.busy_factor == LOAD_POLICY.busy_factor  # busy people stay discounted


@pytest.mark.parametrize("config", [{"per_request": -1.0}, {"spread": 1.0}])
def test_effective_load_refuses_a_setting_it_cannot_run(config: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"reviewers\.load"):
        effective_load(config, None)


def test_no_discount_policy_changes_nothing() -> None:
    off = effective_load({"per_request": 0}, None).policy
    assert off.with_requests({"ana": 50.0}).factor("ana") == 1.0


def test_choice_round_trips_through_json() -> None:
    tried = tuple(
        LoadOutcome(p.per_request, p.free_load, {"mrr": 0.5, "n": 3}, 0.2, 0.3, (0.5,))
        for p in LOAD_GRID
    )
    reviewers = TaskChoice(
        "reviewers",
        encoder=True,
        regularization=0.1,
        reason="variant 3",
        variants=(VariantScore(True, 0.1, 0.8, 0.7),),
        load=tried[1],
        load_check=tried[1],
        fixed=tried[-1],
        fixed_check=tried[-1],
        load_tried=tried,
        load_reason="best",
        weights={"log_path_rev_all": 0.25},
    )
    base = choice(3000)
    original = MatchingChoice(
        base.version, 3000, "created", base.windows, reviewers, TaskChoice("people"), 1.5
    )
    text = original.to_json()
    assert json.loads(text)["reviewers"]["load"]["per_request"] == tried[1].per_request
    restored = MatchingChoice.from_json(text)
    assert restored == original
    assert restored.reviewers.policy() == original.reviewers.policy()


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        # A short history: a quarter checks, 35 % before it tunes, learning from the start.
        (400, Windows(learn_from=0, tune=160, check=300, end=400)),
        # A long one: capped windows at the newest end, learning 1,500 changes before.
        (10_000, Windows(learn_from=6_900, tune=8_400, check=9_400, end=10_000)),
    ],
)
def test_window_sizes(n: int, expected: Windows) -> None:
    assert window_sizes(n, tune_max=1000, check_max=600, learn_window=1500) == expected


def test_load_grid_is_the_bot_rule_at_strengths_from_none_up() -> None:
    strengths = [p.per_request for p in LOAD_GRID]
    assert strengths[0] == 0.0 and strengths == sorted(set(strengths))
    assert LOAD_POLICY in LOAD_GRID
    # Only the strength varies: the rest is the bot's rule.
    assert all(replace(p, per_request=1.2) == LOAD_POLICY for p in LOAD_GRID)
