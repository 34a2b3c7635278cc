"""Routes for possible duplicates: each new issue is compared with the earlier ones
(the task embeds it first, then ranks, decides and, live past the gate, comments once)."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Item
from core.routing.dispatch import Dispatch
from core.tasks import DUPLICATES, DuplicatesArgs

router = Router()


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """Look for earlier issues a new issue may repeat."""
    item = dispatch.parse(Item.issue, event.data)
    args = DuplicatesArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
    )
    dispatch.enqueue(DUPLICATES, args)
