"""Possible duplicates in the bot (issue 27), the pure parts: how people's marks are read
(``Duplicate of #N``, ``marked_as_duplicate``, the close reason, the label with a link),
the decision per ``triage.duplicates`` and gate, the comment, and the gate measured on a
replay of a history (``workers/duplicates/calibrate.py``) with hand-made vectors.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from models.duplicates.index import DuplicateIndex
from models.triage.gate import GatePolicy
from workers.duplicates import calibrate
from workers.duplicates.decide import (
    MARKER,
    UNKNOWN,
    Found,
    comment_body,
    decide,
    duplicate_of,
    gate_score,
    hinted,
    state_word,
)

FULL = "octo/widgets"
PERSON = {"login": "alice", "type": "User"}
BOT = {"login": "steward[bot]", "type": "Bot"}


def comment(body: str, user: Mapping[str, str] = PERSON) -> dict[str, Any]:
    return {"body": body, "user": dict(user)}


@dataclass(frozen=True)
class Mark:
    """One closed issue and what people left on it."""

    name: str
    expected: tuple[int, str] | None
    comments: tuple[dict[str, Any], ...] = ()
    events: tuple[str, ...] = ()
    state_reason: str = "completed"
    labels: tuple[str, ...] = ()
    issue: dict[str, Any] = field(default_factory=dict)


MARKS = [
    Mark("a Duplicate of comment", (3, "comment"), (comment("Duplicate of #3"),)),
    Mark(
        "lower case, after other lines, with a URL",
        (4, "comment"),
        (comment(f"Thanks!\nduplicate of https://github.com/{FULL}/issues/4 (same crash)"),),
    ),
    Mark(
        "the newest mark wins",
        (5, "comment"),
        (comment("Duplicate of #3"), comment("Duplicate of #5")),
    ),
    Mark("another repository's issue is no mark", None, (comment("Duplicate of other/repo#3"),)),
    Mark("in the middle of a sentence is no mark", None, (comment("not a duplicate of #3"),)),
    Mark(
        "the event, with a link in a comment",
        (4, "event"),
        (comment("See #4, same stack trace"),),
        events=("marked_as_duplicate",),
    ),
    Mark(
        "unmarked after the mark",
        None,
        (comment("Duplicate of #3"),),
        events=("marked_as_duplicate", "unmarked_as_duplicate"),
    ),
    Mark("the close reason, no link", (UNKNOWN, "state_reason"), state_reason="duplicate"),
    Mark(
        "the label with a link; the bot's links and later issues are not read",
        (2, "label"),
        (comment("#2 has the fix"), comment("See #9", PERSON), comment("#1", BOT)),
        labels=("Duplicate",),
    ),
    Mark("not planned alone is no mark", None, (comment("see #2"),), state_reason="not_planned"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in MARKS])
def test_what_people_marked_as_a_duplicate(case: Mark) -> None:
    issue = {
        "number": 7,
        "state": "closed",
        "state_reason": case.state_reason,
        "labels": [{"name": name} for name in case.labels],
    }
    events = [{"event": name} for name in case.events]
    found = duplicate_of(issue, list(case.comments), events, full=FULL, labels=["duplicate"])
    assert found == case.expected


@pytest.mark.parametrize(
    ("issue", "expected"),
    [
        ({"state": "closed", "state_reason": "duplicate"}, True),
        ({"state": "closed", "state_reason": "not_planned"}, True),
        ({"state": "closed", "state_reason": "completed", "labels": [{"name": "duplicate"}]}, True),
        ({"state": "closed", "state_reason": "completed"}, False),
        ({"state": "open", "state_reason": "duplicate"}, False),
        ({"state": "closed", "state_reason": "duplicate", "pull_request": {}}, False),
    ],
)
def test_which_closed_issues_are_read(issue: dict[str, Any], expected: bool) -> None:
    assert hinted(issue, ["duplicate"]) is expected


def test_the_gate_score_is_absolute_similarity_inside_the_gates_range() -> None:
    assert gate_score(1.0, 1.0) == 1.0 and gate_score(-0.3, 0.0) == 0.0
    assert gate_score(0.8, 0.5) == pytest.approx(0.65)
    assert gate_score(0.9, 0.2) < gate_score(0.9, 0.6) < gate_score(0.95, 0.6) <= 1.0


def test_the_share_of_the_best_possible_bm25_is_the_same_replayed_or_new() -> None:
    titles = ["flux capacitor overheats", "warp core leaks", "flux drive stalls"]
    asked = "warp drive zorp"  # "zorp": a word no earlier issue has

    def share(stored: list[str], mask: np.ndarray) -> float:
        n = len(stored)
        index = DuplicateIndex(
            [calibrate.issue_key(i) for i in range(1, n + 1)],
            stored,
            [""] * n,
            np.eye(4)[:n],
            [float(i) for i in range(1, n + 1)],
        )
        bm25 = index.lexical.bm25(index.lexical.query_terms(asked, ""), mask)
        return calibrate.words_share(index, asked, "", mask=mask, bm25=float(bm25[1]))

    # Replayed: the asked issue is stored (its words known), only the earlier ones count.
    replayed = share([*titles, asked], np.array([True, True, True, False]))
    # New: the same text, not stored; "zorp" is unknown to the index.
    new = share(titles, np.ones(3, dtype=bool))
    assert 0.0 < replayed < 0.5
    assert replayed == pytest.approx(new, rel=0.05)


GATE_LIVE = {"threshold": 0.8, "live": True}
GATE_SHADOW = {"threshold": 0.8, "live": False}
FOUND = [Found(12, 0.9), Found(30, 0.85), Found(4, 0.5), Found(8, 0.4)]


@pytest.mark.parametrize(
    ("name", "found", "setting", "gate", "how", "action", "suggested"),
    [
        ("nothing earlier", [], "live", GATE_LIVE, "comment", "none", ()),
        ("below the threshold", [Found(12, 0.7)], "live", GATE_LIVE, "comment", "none", ()),
        ("shadow setting records", FOUND, "shadow", GATE_LIVE, "comment", "suggest", (12, 30, 4)),
        ("a shadow gate holds back", FOUND, "live", GATE_SHADOW, "comment", "suggest", (12, 30, 4)),
        ("live comments", FOUND, "live", GATE_LIVE, "comment", "comment", (12, 30, 4)),
        ("live labels", FOUND, "live", GATE_LIVE, "label", "label", (12, 30, 4)),
    ],
)
def test_the_decision(
    name: str,
    found: list[Found],
    setting: str,
    gate: dict[str, Any],
    how: str,
    action: str,
    suggested: tuple[int, ...],
) -> None:
    decision = decide(found, setting=setting, gate=gate, how=how, count=3)
    assert (decision.action, decision.suggested) == (action, suggested), decision.reason
    assert decision.acts is (action in ("comment", "label"))


def test_the_count_limits_the_list() -> None:
    assert decide(FOUND, setting="live", gate=GATE_LIVE, how="comment", count=1).suggested == (12,)


def test_the_comment_shows_titles_inert_with_their_state() -> None:
    rows = [
        (12, "Crash when @alice opens `<img src=x>` #99", "open"),
        (30, "Menu **broken**", state_word({"state": "closed", "state_reason": "duplicate"})),
    ]
    body = comment_body(rows)
    assert body.endswith(MARKER) and "possibly a duplicate of" in body
    assert "- #12 (open): " in body and "- #30 (closed as a duplicate): " in body
    assert "@alice" not in body and "**broken**" not in body and "`<img" not in body
    assert not any(line.lower().startswith("duplicate of") for line in body.splitlines())


# ------------------------------------------------------------ the replay and the gate

DAY = 86_400.0


def history(
    *, singles: int, duplicates: int, seed: int = 3
) -> tuple[DuplicateIndex, list[int], list[tuple[int, int]]]:
    """Issues 1..n in time order: ``singles`` about nothing else, and ``duplicates`` that
    repeat an earlier single in words and meaning (its words, a vector close to its)."""
    rng = random.Random(seed)
    numpy_rng = np.random.default_rng(seed)
    titles, vectors, pairs = [], [], []
    for _ in range(singles):
        titles.append(" ".join(f"w{rng.randrange(10**6)}" for _ in range(6)))
        vectors.append(numpy_rng.normal(size=16))
    for number in range(singles + 1, singles + duplicates + 1):
        original = rng.randrange(1, singles + 1)
        titles.append(titles[original - 1] + f" again w{rng.randrange(10**6)}")
        vectors.append(vectors[original - 1] + numpy_rng.normal(scale=0.1, size=16))
        pairs.append((number, original))
    numbers = list(range(1, len(titles) + 1))
    created = [n * DAY for n in numbers]
    keys = [calibrate.issue_key(n) for n in numbers]
    index = DuplicateIndex(keys, titles, [""] * len(titles), np.stack(vectors), created)
    return index, numbers, pairs


def test_a_history_of_clean_duplicates_puts_the_gate_live_at_the_default_bar() -> None:
    index, numbers, pairs = history(singles=150, duplicates=110)
    replayed = calibrate.replay_history(index, numbers, pairs)
    # Every issue after the tenth is asked; only the duplicates have a right answer.
    assert len(replayed.numbers) == len(numbers) - calibrate.MIN_CANDIDATES
    assert replayed.positives == 110 and replayed.right.sum() == 110
    gate = calibrate.measure_gate(replayed, GatePolicy())
    assert gate.live, gate.reason
    assert gate.correct == gate.applied >= 59  # the bar's 59 right without a mistake
    summary = calibrate.summary(replayed, issues=len(numbers), pairs=len(pairs), corrections=0)
    assert summary["recall@1"] == 1.0 and summary["asked"] == len(replayed.numbers)


def test_corrections_count_against_the_gate() -> None:
    index, numbers, pairs = history(singles=150, duplicates=110)
    first = calibrate.replay_history(index, numbers, pairs)
    tops = dict(zip(first.numbers.tolist(), first.tops.tolist(), strict=True))
    # A maintainer called the bot's suggestion wrong on the last twelve duplicates.
    wrong = {number: [tops[number]] for number, _ in pairs[-12:]}
    replayed = calibrate.replay_history(index, numbers, pairs, wrong=wrong)
    assert replayed.right.sum() == 110 - 12
    gate = calibrate.measure_gate(replayed, GatePolicy())
    assert not gate.live and gate.correct < gate.applied, gate.reason


def test_too_few_duplicates_keep_the_gate_in_shadow() -> None:
    index, numbers, pairs = history(singles=150, duplicates=20)
    gate = calibrate.measure_gate(calibrate.replay_history(index, numbers, pairs), GatePolicy())
    assert not gate.live and gate.needed > 0


def test_duplicates_of_an_unknown_issue_are_not_asked_and_pairs_point_either_way() -> None:
    index, numbers, pairs = history(singles=40, duplicates=10)
    unknown = [(numbers[-1], UNKNOWN)]
    flipped = [(original, number) for number, original in pairs[:-1]]  # direction untrusted
    replayed = calibrate.replay_history(index, numbers, flipped + unknown)
    assert numbers[-1] not in replayed.numbers.tolist()
    assert replayed.positives == 9 and replayed.right.sum() == 9


# ------------------------------------------------------------ route and settings


def test_a_new_issue_is_routed_to_the_duplicates_task() -> None:
    from gidgethub import sansio

    from core.routing import duplicates
    from core.routing.intake import Skips, route
    from core.tasks import DUPLICATES, DuplicatesArgs
    from tests.support import INSTALLATION_ID, ORG, opened

    payload = opened("issues.opened", "widgets", 12, "zoe")
    event = sansio.Event(payload, event="issues", delivery_id="d-1")
    (job,) = route(event, duplicates.router, skips=Skips()).jobs
    assert job.task == DUPLICATES.name
    assert DUPLICATES.parse(job.kwargs) == DuplicatesArgs(
        installation_id=INSTALLATION_ID, owner=ORG, repo="widgets", number=12, delivery_id="d-1"
    )


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        ({"triage": {"duplicates": "live"}, "duplicates": {"how": "label", "count": 2}}, 0),
        ({"triage": {"duplicates": "sometimes"}}, 1),
        ({"duplicates": {"count": 4}}, 1),
        ({"reviewers": {"load": {"per_request": 0}}}, 0),
        ({"reviewers": {"load": {"per_request": 2.0, "free_load": 0.5}}}, 0),
        ({"reviewers": {"load": {"per_request": -1}}}, 1),
        ({"reviewers": {"load": {"spread": 1}}}, 1),
    ],
)
def test_the_settings(raw: dict[str, Any], errors: int) -> None:
    from core.config_schema import parse_config

    config, found = parse_config(raw)
    assert len(found) == errors, found
    assert config.triage.duplicates in ("off", "shadow", "live")
    if not errors:
        assert config.triage.duplicates == raw.get("triage", {}).get("duplicates", "shadow")


def test_the_org_setting_and_the_repositorys_merge() -> None:
    from core.config_schema import deep_merge, parse_config

    org = {"reviewers": {"load": {"per_request": 0}}}
    repo = {"reviewers": {"load": {"free_load": 2.0}, "count": 1}}
    config, errors = parse_config(deep_merge(org, repo))
    assert errors == [] and config.reviewers.load == {"per_request": 0, "free_load": 2.0}
