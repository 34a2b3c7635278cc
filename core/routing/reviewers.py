"""Routes for contributor matching: reviewers, review history, people for issues."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Item
from core.routing.dispatch import Dispatch
from core.tasks import ISSUE_PEOPLE, RECORD_PULL, REVIEWERS, IssueArgs, PullArgs

router = Router()


def _pull(dispatch: Dispatch, item: Item) -> PullArgs:
    return PullArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
    )


@router.register("pull_request", action="opened")
@router.register("pull_request", action="ready_for_review")
async def pull_request_ready(event: sansio.Event, dispatch: Dispatch) -> None:
    """Suggest reviewers once a pull request is ready (drafts wait for ready_for_review)."""
    item = dispatch.parse(Item.pull_request, event.data)
    if not item.draft:
        dispatch.enqueue(REVIEWERS, _pull(dispatch, item))


@router.register("pull_request", action="closed")
@router.register("pull_request_review", action="submitted")
async def pull_request_history(event: sansio.Event, dispatch: Dispatch) -> None:
    """A merged pull request (or a review of one) joins the review history."""
    item = dispatch.parse(Item.pull_request, event.data)
    if item.merged:
        dispatch.enqueue(RECORD_PULL, _pull(dispatch, item))


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """Find people who know what a new issue is about."""
    item = dispatch.parse(Item.issue, event.data)
    args = IssueArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
    )
    dispatch.enqueue(ISSUE_PEOPLE, args)
