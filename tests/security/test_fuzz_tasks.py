# ruff: noqa: F811 (the flows' fixtures are imported by name, and named again as parameters)
"""Fuzzed people's text through the whole worker, in-process: no task raises.

Each example puts an item with hostile text into the fake GitHub (a comment, created or
then edited; an issue opened or edited; a discussion or a discussion comment), builds
the signed delivery GitHub would send (:func:`tests.fuzzing.text_delivery`, now and
then with an odd value), routes it as the worker does (``core.routing``) and runs every
task it queues through the real flow, once or several times (GitHub's retries and
redeliveries). A task may end by saying why it cannot act
(:func:`workers.tasks.cannot_act`); it never raises. The model tasks (triage, embed,
recommend, which load an encoder) are left to ``tests/flows`` and the benchmark.

Before, a repeated delivery of one item made ``steward.first_response`` run an UPDATE
with nothing to set (``UPDATE first_responses SET WHERE …``): ``OperationalError``.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from gidgethub import sansio
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from core import tasks as contracts
from core.payloads import Envelope, PayloadError
from core.routing import Dispatch, Job, build_router
from core.tasks import FirstResponseArgs, TaskArgsError
from fakegithub.webhooks import load_webhook_example
from tests.flows.conftest import (  # noqa: F401 (the flows' fixtures, used by name)
    Flows,
    base_settings,
    fake,
    flows,
    migrated_db,
    runtime,
    settings,
    store,
)
from tests.flows.test_commands_flow import LABELS, PEOPLE
from tests.fuzzing import REPEATS, TEXT_EVENTS, hostile_text, text_delivery
from tests.support import INSTALLATION_ID, ORG, retarget
from workers.commands.flow import run_commands
from workers.feedback.flow import run_feedback
from workers.followup.flow import run_first_response
from workers.reviewers.flow import run_issue_people, run_reviewers
from workers.reviewers.history import run_record_pull
from workers.tasks import cannot_act
from workers.welcome.flow import run_welcome

Flow = Callable[[Any, Any], Awaitable[dict[str, Any]]]
#: The tasks run in-process, by name (every task these events queue but the model's).
FLOWS: dict[str, Flow] = {
    contracts.COMMAND.name: run_commands,
    contracts.WELCOME.name: run_welcome,
    contracts.FIRST_RESPONSE.name: run_first_response,
    contracts.FEEDBACK.name: run_feedback,
    contracts.REVIEWERS.name: run_reviewers,
    contracts.ISSUE_PEOPLE.name: run_issue_people,
    contracts.RECORD_PULL.name: run_record_pull,
}
AUTHORS = ("dave", "erin", "maint", "reader")


def item_payload(flows: Flows, repo: str, name: str, rnd: random.Random) -> dict[str, Any]:
    """Make the item ``name`` describes, with hostile text, and its real payload."""
    fake, author = flows.fake, rnd.choice(AUTHORS)
    if name.startswith("issue_comment"):
        issue = fake.add_issue(ORG, repo, title="crash", user="erin")
        made = fake.add_comment(ORG, repo, issue.number, body=hostile_text(rnd), user=author)
        return fake.comment_payload(ORG, repo, made.id, action=name.partition(".")[2])
    if name.startswith("discussion_comment"):
        found = fake.add_discussion(ORG, repo, title="Ideas", author="erin")
        made_d = fake.add_discussion_comment(
            ORG, repo, found.number, body=hostile_text(rnd), author=author
        )
        return fake.comment_payload(ORG, repo, made_d.id)
    title, body = hostile_text(rnd)[:256] or "x", hostile_text(rnd)
    if name.startswith("issues"):
        issue = fake.add_issue(ORG, repo, title=title, body=body, user=author)
        return _shaped(repo, "issues.opened", "issue", vars(issue) | {"login": author})
    found = fake.add_discussion(ORG, repo, title=title, body=body, author=author)
    return _shaped(repo, "discussion.created", "discussion", vars(found) | {"login": author})


def _shaped(repo: str, example: str, key: str, item: dict[str, Any]) -> dict[str, Any]:
    """A real example payload describing the fake's item ``item``."""
    payload = retarget(
        load_webhook_example(example), owner=ORG, repo=repo, installation_id=INSTALLATION_ID
    )
    fields = ("number", "id", "node_id", "title", "body")
    payload[key].update({name: item[name] for name in fields})
    payload[key]["user"].update(login=item["login"], type="User")
    payload[key]["author_association"] = "NONE"
    payload["sender"] = {**payload["sender"], "login": item["login"], "type": "User"}
    return payload


async def routed(event: str, body: bytes) -> list[Job]:
    """The jobs the worker's routing queues for one delivery (none for a refused one)."""
    try:
        data = json.loads(body)
        envelope = Envelope.parse(event, str(uuid.uuid4()), data)
    except (ValueError, PayloadError):
        return []
    dispatch = Dispatch(envelope)
    try:
        await build_router().dispatch(
            sansio.Event(data, event=event, delivery_id=envelope.delivery_id), dispatch
        )
    except PayloadError:
        return []
    return list(dispatch.jobs)


async def run_job(flows: Flows, job: Job) -> dict[str, Any] | None:
    """Run one queued task as a worker would; None for a task left to other tests."""
    flow = FLOWS.get(job.task)
    if flow is None:
        return None
    args = contracts.TASKS[job.task].parse(job.kwargs)
    try:
        return await flows.run(flow, args)
    except (TaskArgsError, Exception) as exc:
        settled = cannot_act(exc)
        if settled is None:
            raise AssertionError(f"{job.task} raised {exc!r} for {job.kwargs}") from exc
        return settled


@pytest.fixture
def repo(flows: Flows) -> str:
    """One repository for all of a test's examples (labels, people, an open pull)."""
    return flows.new_repo("fuzz-text", labels=LABELS, collaborators=PEOPLE)


@examples(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rnd=st.randoms(use_true_random=False), name=st.sampled_from(TEXT_EVENTS))
def test_fuzzed_text_deliveries_never_raise_in_a_task(
    flows: Flows, repo: str, rnd: random.Random, name: str
) -> None:
    async def scenario() -> None:
        payload = item_payload(flows, repo, name, rnd)
        for _ in range(rnd.choice(REPEATS)):
            delivery = text_delivery(rnd, payload, name)
            for job in await routed(delivery.event, delivery.body):
                await run_job(flows, job)

    asyncio.run(scenario())


@pytest.mark.parametrize("installation", [INSTALLATION_ID, None])
async def test_a_repeated_opening_records_nothing_twice(
    flows: Flows, installation: int | None
) -> None:
    """The first-response row of an item opened twice (a redelivery): nothing to set,
    nothing written, no error (before: ``UPDATE first_responses SET WHERE``)."""
    args = FirstResponseArgs(
        installation_id=installation,
        owner=ORG,
        repo="again",
        number=7,
        kind="issue",
        author="erin",
        opened_at="2026-01-05T10:00:00Z",
    )
    assert await flows.run(run_first_response, args) == {"recorded": "opened"}
    assert await flows.run(run_first_response, args) == {"skipped": "nothing new about this item"}
    (row,) = [r for r in flows.store.first_responses() if r["repo"] == f"{ORG}/again"]
    assert row["author"] == "erin" and row["number"] == 7
