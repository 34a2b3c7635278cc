"""Routes for the semantic index and work suggestions: items embedded as they arrive
and change, and a returning contributor's merge considered for a recommendation."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Item
from core.routing.dispatch import Dispatch
from core.tasks import EMBED, RECOMMEND, PullArgs

router = Router()


@router.register("issues", action="opened")
@router.register("issues", action="edited")
@router.register("issues", action="reopened")
async def issue_changed(event: sansio.Event, dispatch: Dispatch) -> None:
    """A new or edited issue joins the index (an unchanged text is not embedded again)."""
    dispatch.enqueue_item(EMBED, dispatch.parse(Item.issue, event.data))


@router.register("discussion", action="created")
@router.register("discussion", action="edited")
async def discussion_changed(event: sansio.Event, dispatch: Dispatch) -> None:
    """A new or edited discussion joins the index."""
    dispatch.enqueue_item(EMBED, dispatch.parse(Item.discussion, event.data))


@router.register("pull_request", action="closed")
async def pull_request_merged(event: sansio.Event, dispatch: Dispatch) -> None:
    """A merged pull request joins the index, and its author may get work suggested."""
    item = dispatch.parse(Item.pull_request, event.data)
    if not item.merged:
        return
    dispatch.enqueue_item(EMBED, item)
    args = PullArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
    )
    dispatch.enqueue(RECOMMEND, args)
