"""Routes for contributor matching: reviewers, review history, people for issues."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from app.events.dispatch import Dispatch
from app.payloads import Item

router = Router()


def _ids(dispatch: Dispatch, item: Item) -> dict[str, object]:
    return {
        "installation_id": dispatch.envelope.installation_id,
        "owner": item.repo.owner,
        "repo": item.repo.name,
        "number": item.number,
    }


@router.register("pull_request", action="opened")
@router.register("pull_request", action="ready_for_review")
async def pull_request_ready(event: sansio.Event, dispatch: Dispatch) -> None:
    """Suggest reviewers once a pull request is ready (drafts wait for ready_for_review)."""
    item = Item.pull_request(event.data)
    if not item.draft:
        dispatch.enqueue("steward.reviewers", **_ids(dispatch, item))


@router.register("pull_request", action="closed")
@router.register("pull_request_review", action="submitted")
async def pull_request_history(event: sansio.Event, dispatch: Dispatch) -> None:
    """A merged pull request (or a review of one) joins the review history."""
    pull = event.data.get("pull_request") or {}
    if pull.get("merged") or pull.get("merged_at"):
        dispatch.enqueue("steward.record_pull", **_ids(dispatch, Item.pull_request(event.data)))


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """Find people who know what a new issue is about."""
    dispatch.enqueue("steward.issue_people", **_ids(dispatch, Item.issue(event.data)))
