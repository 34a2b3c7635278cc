"""Retention's pure rules as tables: which versions of a repository go, which encoders
of the store go (see tests/integration/test_retention.py for the same on disk).
"""

from __future__ import annotations

import pytest

from models.triage.plan import RetrainPolicy
from workers.modelstore import ModelRef, encoders_to_prune, referenced_digests, versions_to_prune

HOUR = 3600.0


@pytest.mark.parametrize(
    ("numbers", "live", "keep", "pinned", "doomed"),
    [
        pytest.param([1, 2, 3], 3, 5, (), [], id="fewer than keep: nothing"),
        pytest.param([1, 2, 3, 4, 5], 5, 5, (), [], id="exactly keep: nothing"),
        pytest.param(range(1, 9), 8, 5, (), [1, 2, 3], id="live is the newest"),
        pytest.param(range(1, 9), 2, 3, (), [1, 3, 4, 5], id="live older than the newest kept"),
        pytest.param(range(1, 9), None, 3, (), [1, 2, 3, 4, 5], id="no live link"),
        pytest.param([1, 2, 3, 4], 4, 1, (2,), [1, 3], id="the database's promoted one stays"),
        pytest.param([3, 1, 7, 7, 5], 1, 2, (), [3], id="unsorted, repeated numbers"),
        pytest.param([], None, 5, (), [], id="no versions"),
        pytest.param([2, 10, 11], 2, 1, (), [10], id="numbers sort as numbers"),
    ],
)
def test_versions_to_prune(
    numbers: list[int], live: int | None, keep: int, pinned: tuple[int, ...], doomed: list[int]
) -> None:
    assert versions_to_prune(numbers, live=live, keep=keep, pinned=pinned) == doomed


@pytest.mark.parametrize("keep", [0, -1])
def test_the_newest_version_always_stays(keep: int) -> None:
    """A version number is never given to a second model: the next is newest + 1."""
    with pytest.raises(ValueError, match="1 or more"):
        versions_to_prune([1, 2], live=1, keep=keep)


def test_policy_keeps_five_versions() -> None:
    assert RetrainPolicy().keep_versions == 5


@pytest.mark.parametrize(
    ("refs", "digests"),
    [
        pytest.param([ModelRef("a"), ModelRef("b"), ModelRef("a")], {"a", "b"}, id="shared"),
        pytest.param([ModelRef("a", standalone=True)], set(), id="standalone holds its own"),
        pytest.param([ModelRef("a", standalone=True), ModelRef("a")], {"a"}, id="both kinds"),
        pytest.param([ModelRef("")], set(), id="names none"),
        pytest.param([], set(), id="no models"),
    ],
)
def test_referenced_digests(refs: list[ModelRef], digests: set[str]) -> None:
    assert referenced_digests(refs) == digests


@pytest.mark.parametrize(
    ("ages", "referenced", "doomed"),
    [
        pytest.param({"a": 9 * HOUR, "b": 9 * HOUR}, {"a", "b"}, [], id="referenced stay"),
        pytest.param({"a": 9 * HOUR, "b": 9 * HOUR}, {"a"}, ["b"], id="old unreferenced goes"),
        pytest.param({"new": 60.0}, set(), [], id="young unreferenced stays (a retrain's)"),
        pytest.param({"edge": HOUR}, set(), ["edge"], id="exactly the guard's age goes"),
        pytest.param({".tmp-x": 2 * HOUR, ".tmp-y": 1.0}, set(), [".tmp-x"], id="killed writes"),
        pytest.param({"old": 99 * HOUR}, {"old"}, [], id="referenced stays however old"),
        pytest.param({}, {"a"}, [], id="empty store"),
    ],
)
def test_encoders_to_prune(ages: dict[str, float], referenced: set[str], doomed: list[str]) -> None:
    assert encoders_to_prune(ages, referenced=referenced, min_age=HOUR) == doomed
