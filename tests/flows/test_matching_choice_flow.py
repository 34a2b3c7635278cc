"""Matching per repository in the bot (issue 28), in-process: when the choice is queued,
the task that makes it, the store that keeps it, and ranking with it.

Two repositories' review histories are stored as the backfill stores them (400 merged
changes each, one a day in four areas): in one a lead reviews 60 % of everything, in the
other two people share each area evenly. A merged pull request recorded after them
queues ``steward.choose_matching`` (once); the task replays each history and stores the
choice; the reviewers' load discount then read by the bot is milder for the dominated
repository than for the spread one, an org's ``reviewers.load`` wins over it, and the
cached rankers are rebuilt with the chosen settings when the choice changes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from core.tasks import CHOOSE_MATCHING, ChooseMatchingArgs, PullArgs
from models.reviewers import rank_people_for_issue
from models.reviewers.calibrate import MatchingChoice
from models.reviewers.constraints import LOAD_POLICY, Load
from models.reviewers.data import Change
from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG
from workers.flow import open_repo
from workers.people import load_policy, people_index, reviewer_index
from workers.reviewers.history import run_record_pull
from workers.reviewers.matching import run_choose_matching
from workers.triage.status import matching_report, render_matching

pytestmark = pytest.mark.timeout(300)

DAY = 86_400.0
AREAS = ("net/http2", "html/atom", "webdav/lock", "dns/msg")


def history(kind: str, n: int = 400, seed: int = 1) -> list[Change]:
    """As ``tests/models/test_reviewer_matching_choice.py``: ``dominated`` (a lead reviews
    60 %, each area's owner the rest) or ``spread`` (two people per area, evenly)."""
    rng = random.Random(seed)
    changes = []
    for number in range(1, n + 1):
        area = rng.randrange(len(AREAS))
        if kind == "dominated":
            reviewer = "lead" if rng.random() < 0.6 else f"owner{area}"
        else:
            reviewer = f"{AREAS[area].split('/')[0]}-{rng.randrange(2)}"
        files = (f"{AREAS[area]}/file{rng.randrange(5)}.go",)
        start = 1_600_000_000 + number * DAY
        author = f"dev{rng.randrange(6)}"
        changes.append(
            Change(
                str(1000 + number),  # pull request numbers the fake never reaches
                start,
                start + DAY / 2,
                author,
                (reviewer,),
                files=files,
            )
        )
    return changes


def mildness(policy: Load) -> float:
    """The factor a person carrying three times the average workload gets (1.0: none)."""
    return policy.with_requests({"busy": 3.0}).factor("busy")


async def chosen(flows: Flows, kind: str, config: str = "") -> tuple[str, MatchingChoice]:
    """A repository with ``kind``'s history: all but its last two changes stored as the
    backfill stores them, the last two merged in the fake and recorded as merges are (the
    first queues the choice, the second finds it waiting); then the task runs. The
    repository's name and the stored choice."""
    repo = flows.new_repo(f"choice-{kind}", config=config)
    full = f"{ORG}/{repo}"
    changes = history(kind)
    for change in changes[:-2]:
        flows.store.upsert_change(full, change.to_dict())
    for change in changes[-2:]:
        pull = flows.fake.add_pull(
            ORG,
            repo,
            title=change.title,
            user=change.author,
            files=change.files,
            merged=True,
            created_at=datetime.fromtimestamp(change.created_at, UTC),
            merged_at=datetime.fromtimestamp(change.merged_at, UTC),
        )
        flows.fake.add_review(ORG, repo, pull.number, user=change.reviewers[0])
        args = PullArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=pull.number)
        assert await flows.run(run_record_pull, args) == {"recorded": True}
    (message,) = [m for m in flows.queued(CHOOSE_MATCHING.name) if m["repo"] == repo]
    task_args = CHOOSE_MATCHING.parse(message)
    assert task_args == ChooseMatchingArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)
    result = await flows.run(run_choose_matching, task_args)
    assert result["changes"] == len(changes) and result["vectors"] is False  # nothing embedded
    row = flows.store.matching_choice(full)
    assert row is not None and row["n_changes"] == len(changes) and row["version"] == 1
    choice = MatchingChoice.from_json(row["choice"])
    assert choice.as_of == "created"  # replayed as the bot ranks: when a pull request opens
    return repo, choice


async def policy_in_use(flows: Flows, repo: str) -> Load:
    """The load discount the bot ranks with in ``repo`` now (``workers/people.py``)."""
    args = PullArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, number=1)
    async with flows.runtime.task_context() as ctx:
        return load_policy(await open_repo(ctx, args))


async def test_a_dominated_history_gets_a_milder_discount_than_a_spread_one(flows: Flows) -> None:
    dominated, dominated_choice = await chosen(flows, "dominated")
    spread, spread_choice = await chosen(flows, "spread")

    mild, strong = await policy_in_use(flows, dominated), await policy_in_use(flows, spread)

    assert (
        mild == dominated_choice.reviewers.policy() and strong == spread_choice.reviewers.policy()
    )
    assert mildness(mild) > mildness(LOAD_POLICY) > mildness(strong)
    for repo in (dominated, spread):
        row = flows.store.matching_choice(f"{ORG}/{repo}")
        report = matching_report(row, changes_now=400)
        assert report["load"]["source"] == "calibrated" and report["rechoice_due"] is False
        chosen_load = report["tasks"]["reviewers"]["chosen"]
        assert chosen_load["share"] <= chosen_load["history_share"]
        text = "\n".join(render_matching(report))
        assert "(calibrated)" in text and "fixed policy" in text


async def test_an_org_setting_wins_over_the_calibrated_discount(flows: Flows) -> None:
    repo, _ = await chosen(flows, "dominated", config="reviewers:\n  load:\n    per_request: 0\n")

    policy = await policy_in_use(flows, repo)

    assert policy.per_request == 0 and policy.free_load == LOAD_POLICY.free_load
    report = matching_report(flows.store.matching_choice(f"{ORG}/{repo}"), changes_now=400)
    assert report["load"] == {
        "source": "config",
        "per_request": 0.0,
        "free_load": LOAD_POLICY.free_load,
        "config": {"per_request": 0.0},
    }


async def test_the_rankers_follow_the_stored_choice(flows: Flows) -> None:
    repo, choice = await chosen(flows, "spread")
    full = f"{ORG}/{repo}"
    first = reviewer_index(flows.store, full, settings=flows.settings)
    assert first.ranker.config.regularization == choice.reviewers.regularization
    assert reviewer_index(flows.store, full, settings=flows.settings) is first  # cached
    people = people_index(flows.store, full, settings=flows.settings)
    assert people.ranker.config.regularization == choice.people.regularization

    # A new choice (the stronger regularisation here) rebuilds both rankers.
    raw = choice.to_json().replace('"regularization": 1.0', '"regularization": 0.1')
    flows.store.save_matching_choice(full, choice=raw, n_changes=400, version=1)

    again = reviewer_index(flows.store, full, settings=flows.settings)
    assert again is not first and again.ranker.config.regularization == 0.1
    assert (
        people_index(flows.store, full, settings=flows.settings).ranker.config.regularization == 0.1
    )


async def encoder_chosen(flows: Flows, repo: str) -> str:
    """``ORG/repo`` with 150 changes stored and embedded, its matching chosen by the task
    and then set to the encoder feature for both rankers."""
    from workers.matching.decide import history_texts
    from workers.semantic import ensure_vectors, repo_encoder

    full = f"{ORG}/{repo}"
    for change in history("spread", n=150):  # the least a choice is made from
        flows.store.upsert_change(full, {**change.to_dict(), "title": f"fix {change.files[0]}"})
    # The semantic index holds every change (``steward.index`` after the backfill).
    texts = history_texts(flows.store.changes_for(full))
    ensure_vectors(flows.store, full, repo_encoder(flows.settings, full), texts=texts)
    args = ChooseMatchingArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo)

    result = await flows.run(run_choose_matching, args)

    assert result["vectors"] is True  # complete: the replay may try the encoder
    row = flows.store.matching_choice(full)
    assert row is not None
    # Whatever the replay chose, say it chose the encoder for both tasks.
    raw = row["choice"].replace('"encoder": false', '"encoder": true')
    flows.store.save_matching_choice(full, choice=raw, n_changes=150, version=1)
    return full


async def test_a_chosen_encoder_feature_ranks_with_the_stored_vectors(flows: Flows) -> None:
    full = await encoder_chosen(flows, flows.new_repo("choice-encoder"))
    for build in (reviewer_index, people_index):
        index = build(flows.store, full, settings=flows.settings)
        assert index.history.semantic is not None and len(index.history.semantic) == 150
        # A caller without settings (the follow-up's) gets the same cached ranker.
        assert build(flows.store, full) is index
    # A new issue's text is embedded by the repository's encoder when it is ranked.
    found = rank_people_for_issue("http2 fix for streams", [], index, k=2)
    assert found  # ranked: the encoder feature read the new text's vector


async def test_the_followup_ranks_people_with_the_repositorys_choice(flows: Flows) -> None:
    """The follow-up asks the people ranker the repository chose (its encoder feature
    included), as ``/steward people`` does, not the defaults: the ranker it builds and
    caches is the one with the stored vectors."""
    from core.store import ItemFact
    from core.tasks import FollowupRepoArgs
    from workers.followup.flow import run_followup_repo

    writers = {f"dev{i}": "write" for i in range(6)}
    repo = flows.new_repo(
        "choice-followup", config="followup:\n  enabled: true\n", collaborators=writers
    )
    full = await encoder_chosen(flows, repo)
    issue = flows.fake.add_issue(
        ORG, repo, title="http2 streams hang", body="net/http2/file1.go", user="newcomer"
    )
    opened = datetime(2026, 1, 5, tzinfo=UTC)
    fact = ItemFact(
        repo=full,
        number=issue.number,
        kind="issue",
        installation_id=INSTALLATION_ID,
        author="newcomer",
        opened_at=opened,
    )
    assert flows.store.note_item(fact)
    now = opened.replace(day=9).isoformat()  # four days later: past the 72 hours
    args = FollowupRepoArgs(installation_id=INSTALLATION_ID, owner=ORG, repo=repo, now=now)

    result = await flows.run(run_followup_repo, args)

    assert result["routed"][f"{full}#{issue.number}"] in writers
    index = people_index(flows.store, full)  # what the follow-up built and cached
    assert index.history.semantic is not None and len(index.history.semantic) == 150
