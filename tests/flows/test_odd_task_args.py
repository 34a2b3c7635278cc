"""Odd but valid task arguments end cleanly: a task that cannot act says why and stops.

The receiver lets through only values of the right type and shape (see
``tests/integration/test_fuzz_deliveries.py``), but a valid value can still name nothing:
an issue number GitHub never issued, a repository that was deleted or renamed, an
installation that was removed. Each row runs the real flow against the fake GitHub and
the worker's rule (:func:`workers.tasks.cannot_act`): no exception leaves the task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.tasks import (
    CommandArgs,
    FeedbackArgs,
    IssueArgs,
    PullArgs,
    TaskArgs,
    TriageArgs,
    WelcomeArgs,
)
from tests.flows.conftest import Flows
from tests.support import INSTALLATION_ID, ORG
from workers.commands.flow import run_commands
from workers.feedback.flow import run_feedback
from workers.reviewers.flow import run_issue_people, run_reviewers
from workers.reviewers.history import run_record_pull
from workers.tasks import cannot_act
from workers.triage.flow import run_triage
from workers.welcome.flow import run_welcome

HUGE = 2**62
Flow = Callable[[Any, Any], Awaitable[dict[str, Any]]]


def where(repo: str, **overrides: Any) -> dict[str, Any]:
    """Common arguments: the test's repository of the test installation."""
    return {"installation_id": INSTALLATION_ID, "owner": ORG, "repo": repo, **overrides}


CASES: list[tuple[str, Flow, Callable[[str], TaskArgs]]] = [
    (
        "triage of an issue GitHub never issued",
        run_triage,
        lambda r: TriageArgs(**where(r, number=HUGE, kind="issue")),
    ),
    (
        "triage in a repository that is gone",
        run_triage,
        lambda r: TriageArgs(**where("gone-" + r, number=1, kind="issue")),
    ),
    (
        "triage of a discussion with an unknown node id",
        run_triage,
        lambda r: TriageArgs(**where(r, number=5, kind="discussion", node_id="D_nothing")),
    ),
    (
        "welcome on a missing issue",
        run_welcome,
        lambda r: WelcomeArgs(**where(r, number=HUGE, kind="issue", author="newbie")),
    ),
    (
        "reviewers for a pull request that is not there",
        run_reviewers,
        lambda r: PullArgs(**where(r, number=HUGE)),
    ),
    (
        "review history of a missing pull",
        run_record_pull,
        lambda r: PullArgs(**where(r, number=HUGE)),
    ),
    ("people for a missing issue", run_issue_people, lambda r: IssueArgs(**where(r, number=HUGE))),
    (
        "feedback on an unknown item with an emoji label",
        run_feedback,
        lambda r: FeedbackArgs(
            **where(r, number=HUGE, label="🐛 bug", added=False, actor="maintainer")
        ),
    ),
    (
        "commands in a comment that was deleted",
        run_commands,
        lambda r: CommandArgs(
            **where(r, number=1, kind="issue", comment_id=HUGE, digest="d", author="maint")
        ),
    ),
    (
        "commands in a discussion comment with an unknown node id",
        run_commands,
        lambda r: CommandArgs(
            **where(r, number=5, kind="discussion", node_id="D_nothing", comment_id=HUGE),
            comment_node_id="DC_nothing",
            digest="d",
            author="maint",
        ),
    ),
    (
        "a delivery that named no installation",
        run_triage,
        lambda r: TriageArgs(**where(r, installation_id=None, number=1, kind="issue")),
    ),
    (
        "an installation that was removed",
        run_welcome,
        lambda r: WelcomeArgs(
            **where(r, installation_id=HUGE, number=1, kind="issue", author="newbie")
        ),
    ),
]


@pytest.mark.parametrize(("name", "flow", "make"), CASES, ids=[c[0] for c in CASES])
async def test_odd_but_valid_task_arguments_end_cleanly(
    flows: Flows, name: str, flow: Flow, make: Callable[[str], TaskArgs]
) -> None:
    repo = flows.new_repo("odd", labels=("bug",))
    flows.fake.add_issue(ORG, repo, title="A real issue")
    try:
        result = await flows.run(flow, make(repo))
    except Exception as exc:
        settled = cannot_act(exc)
        assert settled is not None, f"{name}: {type(exc).__name__}: {exc}"
        result = settled
    assert isinstance(result, dict)
    assert flows.mutations() == [], "a task that cannot act changes nothing on GitHub"
