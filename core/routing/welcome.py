"""Routes for welcoming first-time contributors."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Item
from core.routing.dispatch import Dispatch
from core.tasks import WELCOME, WelcomeArgs

router = Router()


def _queue(dispatch: Dispatch, item: Item, kind: str) -> None:
    args = WelcomeArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
        kind=kind,
        author=item.author.login,
        author_type=item.author.type,
        association=item.author_association,
        node_id=item.node_id,
    )
    dispatch.enqueue(WELCOME, args)


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """A new issue may be someone's first."""
    _queue(dispatch, dispatch.parse(Item.issue, event.data), "issue")


@router.register("pull_request", action="opened")
async def pull_request_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """A new pull request may be someone's first."""
    _queue(dispatch, dispatch.parse(Item.pull_request, event.data), "pull_request")


@router.register("pull_request", action="closed")
async def pull_request_closed(event: sansio.Event, dispatch: Dispatch) -> None:
    """A merged pull request may be someone's first merged one."""
    item = dispatch.parse(Item.pull_request, event.data)
    if item.merged:
        _queue(dispatch, item, "merged_pull_request")


@router.register("discussion", action="created")
async def discussion_created(event: sansio.Event, dispatch: Dispatch) -> None:
    """A new discussion may be someone's first."""
    _queue(dispatch, dispatch.parse(Item.discussion, event.data), "discussion")
