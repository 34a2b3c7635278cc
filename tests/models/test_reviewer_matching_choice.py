"""Per-repository matching settings chosen by replay (issue 28), at the library level.

Synthetic histories built here: a repository dominated by one reviewer gets a milder load
discount than one whose reviews spread, because its own replay says so; the shared replay
and the after-the-fact load simulation give exactly ``evaluate.replay``'s numbers; the
encoder is chosen for people only where its vectors carry what TF-IDF cannot see.
"""

from __future__ import annotations

import argparse
import json
import random

import numpy as np
import pytest

from models.reviewers import cli
from models.reviewers.calibrate import (
    LOAD_GRID,
    MatchingChoice,
    choose_settings,
    effective_load,
    needs_rechoice,
)
from models.reviewers.constraints import LOAD_POLICY, Load
from models.reviewers.data import Change
from models.reviewers.evaluate import LoadTracker, replay
from models.reviewers.history import encoder_text
from models.reviewers.index import issue_view
from models.reviewers.loadsim import Requests, load_groups, simulate
from models.reviewers.variants import Variant, Windows, replay_variants, variant_metrics
from tests.conftest import shared_data

DAY = 86_400.0
AREAS = ("net/http2", "html/atom", "webdav/lock", "dns/msg")
GOLANG = "reviews/golang-net.jsonl"


def history(kind: str, n: int = 400, seed: int = 1) -> list[Change]:
    """One change a day in four areas, one reviewer each.

    ``dominated``: a lead reviews 60 % of all changes, each area's owner the rest.
    ``spread``: two people per area share its reviews evenly (nobody above 15 %).
    """
    rng = random.Random(seed)
    changes = []
    for number in range(n):
        area = rng.randrange(len(AREAS))
        if kind == "dominated":
            reviewer = "lead" if rng.random() < 0.6 else f"owner{area}"
        else:
            reviewer = f"{AREAS[area].split('/')[0]}-{rng.randrange(2)}"
        files = (f"{AREAS[area]}/file{rng.randrange(5)}.go",)
        author = f"dev{rng.randrange(6)}"
        start = number * DAY
        changes.append(
            Change(str(number), start, start + DAY / 2, author, (reviewer,), files=files)
        )
    return changes


def mildness(policy: Load) -> float:
    """The factor a person carrying three times the average workload gets (1.0: untouched)."""
    return policy.with_requests({"busy": 3.0}).factor("busy")


def test_a_dominated_history_gets_a_milder_discount_than_a_spread_one() -> None:
    dominated = choose_settings(history("dominated"), tasks=("reviewers",))
    spread = choose_settings(history("spread"), tasks=("reviewers",))
    shares = []
    for choice in (dominated, spread):
        chosen = choice.reviewers.load
        assert chosen is not None and choice.reviewers.load_tried
        # Chosen on the tuning window, where the history's own share is the limit.
        assert chosen.share <= chosen.history_share
        shares.append(chosen.history_share)
    assert shares[0] > 2 * shares[1]  # the dominated history really is dominated
    assert mildness(dominated.reviewers.policy()) > mildness(spread.reviewers.policy())
    # The dominated repository is spread less than the fixed policy would; the spread one more.
    assert mildness(dominated.reviewers.policy()) > mildness(LOAD_POLICY)
    assert mildness(spread.reviewers.policy()) < mildness(LOAD_POLICY)
    # What a worker stores and reads back runs the same discount.
    stored = MatchingChoice.from_json(dominated.to_json())
    assert effective_load(None, stored).policy == dominated.reviewers.policy()
    assert effective_load({"per_request": 2.0}, stored).policy.per_request == 2.0


def test_the_choice_is_a_pure_function_of_the_history() -> None:
    changes = history("spread", n=300)
    shuffled = random.Random(9).sample(changes, len(changes))

    def without_time(choice: MatchingChoice) -> dict[str, object]:
        raw: dict[str, object] = json.loads(choice.to_json())
        raw.pop("seconds")
        return raw

    first = choose_settings(changes, tasks=("reviewers",))
    # Stored rows come in any order: the replay sorts them by merge time itself.
    assert without_time(choose_settings(shuffled, tasks=("reviewers",))) == without_time(first)


def test_too_little_history_keeps_the_defaults_until_there_is_enough() -> None:
    choice = choose_settings(history("spread", n=100))
    assert choice.reviewers.load is None and "fewer than" in choice.reviewers.reason
    assert effective_load(None, choice).source == "default"
    assert not needs_rechoice(choice, 120)
    assert needs_rechoice(choice, 150)


@pytest.mark.parametrize("as_of", ["merged", "created"])
def test_shared_replay_and_load_simulation_equal_the_replay(as_of: str) -> None:
    changes = history("spread", n=240, seed=3)
    report = replay(changes, as_of=as_of).as_dict()
    n = len(changes)
    runs = replay_variants(
        changes, {"reviewers": [Variant()]}, Windows(0, n // 2, n, n), as_of=as_of
    )
    run = runs["reviewers"]
    assert variant_metrics(run, 0, 0) == report["steward"]
    loaded, _ = simulate(run, 0, LOAD_POLICY)
    assert loaded.metrics == report["load"]["steward_with_load"]
    assert loaded.share == report["load"]["steward_busiest_share"]
    assert loaded.history_share == report["load"]["real_busiest_share"]
    plain, _ = simulate(run, 0, LOAD_GRID[0])
    assert plain.share == report["load"]["steward_no_discount_busiest_share"]


def test_array_workload_equals_the_load_trackers() -> None:
    rng = np.random.default_rng(7)
    people = ["Ana", "ana", "bob", "cleo", "dan"]  # "Ana" and "ana" are one person to the rule
    tracker = LoadTracker(LOAD_POLICY)
    requests = Requests(load_groups(people))
    for step in range(300):
        created = step * DAY / 3
        merged = created + float(rng.exponential(5 * DAY))
        chosen = list(rng.choice(len(people), size=int(rng.integers(1, 3)), replace=False))
        moment = created + float(rng.uniform(0, DAY))
        relative = requests.relative(moment)
        expected = tracker.load_at(moment)
        for person, login in enumerate(people):
            got = relative[load_groups(people)[person]]
            assert got == pytest.approx(expected.open_requests.get(login.lower(), 0.0))
        tracker.assign(Change(str(step), created, merged, "", ()), [people[i] for i in chosen])
        requests.assign(created, merged, chosen)


TOPICS = ("ana", "bob", "cleo")


def topic_history(n: int = 360, seed: int = 5) -> list[Change]:
    """Three people each resolve one topic's issues; titles are made-up words, so nothing a
    word count can match tells the topics apart (an encoder's vectors will)."""
    rng = random.Random(seed)
    changes = []
    for number in range(n):
        author = rng.choice(TOPICS)
        title = " ".join(f"w{rng.randrange(100_000)}" for _ in range(3))
        start = number * DAY
        changes.append(Change(str(number), start, start + DAY / 2, author, ("rev",), title))
    return changes


def topic_vectors(changes: list[Change], *, informative: bool) -> dict[str, np.ndarray]:
    """An encoder's vectors: the topic plus noise (``informative``), or noise only."""
    rng = np.random.default_rng(0)
    out = {}
    for change in changes:
        vector = rng.normal(0.0, 0.3, size=8)
        if informative:
            vector[TOPICS.index(change.author)] += 1.0
        for view in (change, issue_view(change)):
            out[encoder_text(view)] = vector
    return out


@pytest.mark.parametrize(("informative", "expected"), [(True, True), (False, False)])
def test_people_use_the_encoder_only_where_the_replay_says_it_helps(
    informative: bool, expected: bool
) -> None:
    changes = topic_history()
    vectors = topic_vectors(changes, informative=informative)
    choice = choose_settings(changes, vectors=vectors, tasks=("people",))
    assert choice.people.encoder is expected, choice.people.reason
    assert choice.reviewers.reason == "not chosen"
    plain, encoded = (v for v in choice.people.variants if v.regularization == 1.0)
    assert (encoded.tune_mrr > plain.tune_mrr + 0.05) is informative


def test_eval_reviewers_reports_the_choice_beside_the_fixed_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="steward")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            *("eval-reviewers", "--history", str(shared_data(GOLANG)), "--limit", "400"),
            *("--no-encoder", "--no-progress", "--json"),
        ]
    )
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    choice = result["choice"]
    assert choice["made_from"] == 200 and choice["scored_on"] == result["n"]
    # The fixed policy's row is the bot's run of the main table, on the same changes.
    fixed = {k: v for k, v in choice["fixed"].items() if k in result["steward_with_load"]}
    assert fixed == result["steward_with_load"]
    assert choice["fixed"]["busiest_share"] == result["load"]["steward_busiest_share"]
    assert choice["per_repository"]["history_share"] == result["load"]["real_busiest_share"]
    assert MatchingChoice.from_json(json.dumps(choice["choice"])).n_changes == 200
