"""Routes for commands people write in comments (``/label``, ``/assign``, ``/steward help``).

The handler only notices that a comment may hold a command and queues its ids; the
worker reads the comment again, parses it and checks who may do what.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from gidgethub import sansio
from gidgethub.routing import Router

from core.payloads import Comment, Item
from core.routing.dispatch import Dispatch
from core.tasks import COMMAND, CommandArgs

router = Router()

#: A line that starts (after at most three spaces) with a slash and a letter: perhaps a
#: command. The worker's parser is the judge; this only spares it comments without one.
MAYBE_COMMAND = re.compile(r"^ {0,3}/[A-Za-z]", re.MULTILINE)


def body_digest(body: str) -> str:
    """A short digest naming one version of a comment's body."""
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _queue(
    dispatch: Dispatch,
    data: Mapping[str, Any],
    *,
    parse: Callable[[Mapping[str, Any]], Comment],
    item_of: Callable[[Mapping[str, Any]], Item],
) -> None:
    comment = dispatch.parse(parse, data)
    if comment.author.is_bot or not MAYBE_COMMAND.search(comment.body):
        return
    item = dispatch.parse(item_of, data)
    args = CommandArgs(
        installation_id=dispatch.envelope.installation_id,
        owner=item.repo.owner,
        repo=item.repo.name,
        number=item.number,
        kind=comment.on,
        node_id=item.node_id,
        comment_id=comment.id,
        comment_node_id=comment.node_id,
        digest=body_digest(comment.body),
        author=comment.author.login,
    )
    dispatch.enqueue(COMMAND, args)


@router.register("issue_comment", action="created")
@router.register("issue_comment", action="edited")
async def issue_comment(event: sansio.Event, dispatch: Dispatch) -> None:
    """A comment on an issue or pull request, new or edited, may hold commands."""
    _queue(dispatch, event.data, parse=Comment.issue_comment, item_of=Item.issue)


@router.register("discussion_comment", action="created")
@router.register("discussion_comment", action="edited")
async def discussion_comment(event: sansio.Event, dispatch: Dispatch) -> None:
    """A comment on a discussion, new or edited, may hold commands."""
    _queue(dispatch, event.data, parse=Comment.discussion_comment, item_of=Item.discussion)
