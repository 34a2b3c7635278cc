"""Routes for time to first response: items opened and answers by other people.

The handler queues the item's ids with the event's own times and the answerer's
``author_association``; the worker decides whether the answer was a maintainer's and
stores the fact. Bots and the item's author never count as an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Actor, Item
from core.routing.dispatch import Dispatch
from core.tasks import FIRST_RESPONSE, FirstResponseArgs

router = Router()

Parse = Callable[[Mapping[str, Any]], Item]


def _time(data: Mapping[str, Any], path: str) -> str:
    """The ISO time at ``path`` (``a.b``) in the payload, or "" when it is missing."""
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else ""


def _queue(dispatch: Dispatch, data: Mapping[str, Any], parse: Parse, *, answer: str = "") -> None:
    """Queue the fact; ``answer`` names the payload's comment or review object."""
    item = dispatch.parse(parse, data)
    extra: dict[str, str] = {}
    if answer:
        obj = data.get(answer)
        obj = obj if isinstance(obj, Mapping) else {}
        who = Actor.parse(obj.get("user"), f"{answer}.user")
        if who.is_bot or who.login == item.author.login:
            return
        extra = {
            "answerer": who.login,
            "association": str(obj.get("author_association") or "NONE"),
            "at": _time(obj, "submitted_at") or _time(obj, "created_at"),
        }
    args = FirstResponseArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
        kind=item.kind,
        author=item.author.login,
        opened_at=_time(data, f"{item.kind}.created_at"),
        **extra,
    )
    dispatch.enqueue(FIRST_RESPONSE, args)


@router.register("issues", action="opened")
async def issue_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """An issue opened: its clock starts."""
    _queue(dispatch, event.data, Item.issue)


@router.register("pull_request", action="opened")
async def pull_opened(event: sansio.Event, dispatch: Dispatch) -> None:
    """A pull request opened: its clock starts."""
    _queue(dispatch, event.data, Item.pull_request)


@router.register("discussion", action="created")
async def discussion_created(event: sansio.Event, dispatch: Dispatch) -> None:
    """A discussion opened: its clock starts."""
    _queue(dispatch, event.data, Item.discussion)


@router.register("issue_comment", action="created")
async def issue_comment(event: sansio.Event, dispatch: Dispatch) -> None:
    """A comment on an issue or pull request, perhaps a maintainer's answer."""
    _queue(dispatch, event.data, Item.issue, answer="comment")


@router.register("discussion_comment", action="created")
async def discussion_comment(event: sansio.Event, dispatch: Dispatch) -> None:
    """A comment on a discussion, perhaps a maintainer's answer."""
    _queue(dispatch, event.data, Item.discussion, answer="comment")


@router.register("pull_request_review", action="submitted")
async def review_submitted(event: sansio.Event, dispatch: Dispatch) -> None:
    """A review of a pull request, perhaps a maintainer's answer."""
    _queue(dispatch, event.data, Item.pull_request, answer="review")
