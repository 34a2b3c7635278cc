"""Routes that queue triage (labelling) of new issues, pull requests and discussions."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from app.routes.dispatch import Dispatch
from core.payloads import Item
from core.tasks import TRIAGE, TriageArgs

router = Router()


def _queue(dispatch: Dispatch, item: Item) -> None:
    args = TriageArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
        kind=item.kind,
        node_id=item.node_id,
    )
    dispatch.enqueue(TRIAGE, args)


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """Label a new issue."""
    _queue(dispatch, dispatch.parse(Item.issue, event.data))


@router.register("pull_request", action="opened")
async def pull_request_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """Label a new pull request (its changed paths are read by the worker)."""
    _queue(dispatch, dispatch.parse(Item.pull_request, event.data))


@router.register("discussion", action="created")
async def discussion_created(event: sansio.Event, dispatch: Dispatch) -> None:
    """Label a new discussion."""
    _queue(dispatch, dispatch.parse(Item.discussion, event.data))
