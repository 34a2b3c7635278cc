"""Routes that queue triage (labelling) of new issues, pull requests and discussions."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Item
from core.routing.dispatch import Dispatch
from core.tasks import TRIAGE

router = Router()


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """Label a new issue."""
    dispatch.enqueue_item(TRIAGE, dispatch.parse(Item.issue, event.data))


@router.register("pull_request", action="opened")
async def pull_request_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """Label a new pull request (its changed paths are read by the worker)."""
    dispatch.enqueue_item(TRIAGE, dispatch.parse(Item.pull_request, event.data))


@router.register("discussion", action="created")
async def discussion_created(event: sansio.Event, dispatch: Dispatch) -> None:
    """Label a new discussion."""
    dispatch.enqueue_item(TRIAGE, dispatch.parse(Item.discussion, event.data))
