"""Routes that notice humans correcting the bot's labels (feedback for learning)."""

from __future__ import annotations

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Item, label_name
from core.routing.dispatch import Dispatch
from core.tasks import FEEDBACK, FeedbackArgs

router = Router()
_ITEMS = {"issues": Item.issue, "pull_request": Item.pull_request, "discussion": Item.discussion}


@router.register("issues", action="labeled")
@router.register("issues", action="unlabeled")
@router.register("pull_request", action="labeled")
@router.register("pull_request", action="unlabeled")
@router.register("discussion", action="labeled")
@router.register("discussion", action="unlabeled")
async def label_changed(event: sansio.Event, dispatch: Dispatch) -> None:
    """A human added or removed a label: queue a check against what the bot did."""
    label = event.data.get("label")
    sender = dispatch.envelope.sender
    if not isinstance(label, dict) or not label.get("name") or sender is None:
        return
    item = dispatch.parse(_ITEMS[event.event], event.data)
    args = FeedbackArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
        label=label_name(label["name"]),
        added=event.data.get("action") == "labeled",
        actor=sender.login,
    )
    dispatch.enqueue(FEEDBACK, args)
