"""The commands flow: read the comment again, parse it, check who may, act once each.

Each command is one effect under :func:`workers.commands.decide.command_key` (the
comment and the command's text), so a redelivery or an edit that keeps a line never
runs it twice. A command that ran gets a ``+1`` reaction on the comment; refused
commands get a ``confused`` reaction and one reply per comment saying why, found again by
its marker among the bot's own comments and edited in place when an edit of the comment
is refused too (discussions: the first reply stays; the fake GitHub has no
``updateDiscussionComment`` to test an edit against). A person gets at most
``commands.max_replies_per_hour`` new replies per item; past that, reactions only.
``/reviewers`` runs once per pull request head commit and says so once when asked again.
Who may run what is asked of GitHub (the commenter's permission), never read from
the comment.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gidgethub import BadRequest

from core.accounts import is_bot
from core.markdown import code, mention
from core.store import now_utc
from core.tasks import CommandArgs
from workers.commands.decide import (
    HELP_MARKER,
    REFUSAL_FIND,
    REVIEWERS_COMMAND_MARKER,
    Command,
    Said,
    all_refusals,
    already_asked_reason,
    command_key,
    comment_prefix,
    earlier_refusals,
    help_comment,
    logins,
    may_reply,
    may_triage,
    new_corrections,
    over_the_limit,
    parse_commands,
    plan_undo,
    present,
    read_key,
    refusal,
    refusal_comment,
    refusal_key,
    resolve_labels,
    reviewers_asked,
    said_before,
    too_many_reason,
    unknown_labels_reason,
)
from workers.flow import Effect, RepoTask, has_marker, open_repo
from workers.gates import duplicates_policy, regate, regate_duplicates
from workers.people import apply_reviewers, rank_reviewers, suggestion_comment
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

COMMENT = """
query CommandComment($id: ID!) {
  node(id: $id) {
    ... on DiscussionComment { body author { __typename login } }
  }
}
"""

DISCUSSION = """
query CommandDiscussion($id: ID!) {
  node(id: $id) {
    ... on Discussion { author { login } labels(first: 100) { nodes { name } } }
  }
}
"""

ADD_LABELS = """
mutation CommandAddLabels($id: ID!, $labels: [ID!]!) {
  addLabelsToLabelable(input: {labelableId: $id, labelIds: $labels}) { clientMutationId }
}
"""

REMOVE_LABELS = """
mutation CommandRemoveLabels($id: ID!, $labels: [ID!]!) {
  removeLabelsFromLabelable(input: {labelableId: $id, labelIds: $labels}) { clientMutationId }
}
"""

ADD_REACTION = """
mutation CommandReaction($id: ID!, $content: ReactionContent!) {
  addReaction(input: {subjectId: $id, content: $content}) { reaction { id } }
}
"""

#: REST's reaction names and GraphQL's.
GRAPHQL_REACTIONS = {"+1": "THUMBS_UP", "confused": "CONFUSED"}


@dataclass(frozen=True)
class Target:
    """The item the commands are about, as it is now."""

    author: str
    labels: list[str]


@dataclass(frozen=True)
class Plan:
    """What a permitted command will do: its audit action and detail, the change on
    GitHub (live mode only) and store-only work once it is recorded.
    """

    action: str
    detail: dict[str, Any]
    apply: Callable[[], Awaitable[None]]
    after: Callable[[], None] | None = None


@dataclass
class Session:
    """One comment's commands: the repository, who wrote them, and what was read."""

    task: RepoTask
    args: CommandArgs
    author: str
    _triager: bool | None = None
    _target: Target | None = None
    _labels: dict[str, str] | None = field(default=None)

    @property
    def ids(self) -> dict[str, Any]:
        """The REST path ids of the item."""
        return {"owner": self.task.owner, "repo": self.task.repo, "issue_number": self.args.number}

    @property
    def discussion(self) -> bool:
        """Whether the comment is on a discussion (GraphQL) rather than an issue or PR."""
        return self.args.kind == "discussion"

    async def triager(self) -> bool:
        """Whether the commenter has triage access or more (asked of GitHub once)."""
        if self._triager is None:
            answer = await self.task.gh.getitem(
                "/repos/{owner}/{repo}/collaborators/{username}/permission",
                {"owner": self.task.owner, "repo": self.task.repo, "username": self.author},
            )
            self._triager = may_triage(answer)
        return self._triager

    async def target(self) -> Target:
        """The item's author and labels (read once)."""
        if self._target is None:
            self._target = await read_target(self)
        return self._target

    async def repo_labels(self) -> dict[str, str]:
        """The repository's labels: name → node id (read once)."""
        if self._labels is None:
            self._labels = {
                str(label["name"]): str(label["node_id"])
                async for label in self.task.gh.getiter(
                    "/repos/{owner}/{repo}/labels{?per_page}",
                    {"owner": self.task.owner, "repo": self.task.repo, "per_page": 100},
                )
            }
        return self._labels


async def read_comment(task: RepoTask, args: CommandArgs) -> tuple[str, str] | None:
    """The comment's body and author as they are now; None for a bot's comment."""
    if args.kind == "discussion":
        node = (await task.graphql(COMMENT, id=args.comment_node_id))["node"] or {}
        author = node.get("author") or {}
        body, login, kind = node.get("body"), author.get("login"), author.get("__typename")
    else:
        found = await task.gh.getitem(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            {"owner": task.owner, "repo": task.repo, "comment_id": args.comment_id},
        )
        author = found.get("user") or {}
        body, login, kind = found.get("body"), author.get("login"), author.get("type")
    if not login or is_bot(str(login), str(kind or "")):
        return None
    return str(body or ""), str(login)


async def read_target(session: Session) -> Target:
    """The item's author and current labels (a discussion's through GraphQL)."""
    if session.discussion:
        node = (await session.task.graphql(DISCUSSION, id=session.args.node_id))["node"]
        labels = [str(n["name"]) for n in node["labels"]["nodes"]]
        return Target(str((node.get("author") or {}).get("login") or ""), labels)
    issue = await session.task.gh.getitem(
        "/repos/{owner}/{repo}/issues/{issue_number}", session.ids
    )
    labels = [str(label["name"]) for label in issue.get("labels") or []]
    return Target(str((issue.get("user") or {}).get("login") or ""), labels)


# ---------------------------------------------------------------- effects on GitHub


async def react(session: Session, content: str) -> None:
    """React to the comment (``+1`` or ``confused``; giving it twice changes nothing)."""
    if session.discussion:
        await session.task.graphql(
            ADD_REACTION, id=session.args.comment_node_id, content=GRAPHQL_REACTIONS[content]
        )
        return
    await session.task.gh.post(
        "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
        {
            "owner": session.task.owner,
            "repo": session.task.repo,
            "comment_id": session.args.comment_id,
        },
        data={"content": content},
    )


async def comment_once(session: Session, *, body: str, marker: str) -> None:
    """Reply on the item unless a reply carrying ``marker`` is there already."""
    node = session.args.node_id if session.discussion else ""
    await session.task.comment_once(session.args.number, body=body, marker=marker, node_id=node)


async def add_labels(session: Session, names: list[str]) -> None:
    """Add labels the repository has (adding one twice is a no-op on GitHub)."""
    if session.discussion:
        ids = [(await session.repo_labels())[name] for name in names]
        await session.task.graphql(ADD_LABELS, id=session.args.node_id, labels=ids)
        return
    await session.task.gh.post(
        "/repos/{owner}/{repo}/issues/{issue_number}/labels", session.ids, data={"labels": names}
    )


async def remove_labels(session: Session, names: list[str]) -> None:
    """Remove labels from the item (one already gone is not an error)."""
    if session.discussion:
        ids = [(await session.repo_labels())[name] for name in names]
        await session.task.graphql(REMOVE_LABELS, id=session.args.node_id, labels=ids)
        return
    for name in names:
        try:
            await session.task.gh.delete(
                "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}",
                {**session.ids, "name": name},
            )
        except BadRequest as exc:
            if int(exc.status_code) != 404:
                raise


async def assignable(session: Session, login: str) -> bool:
    """Whether ``login`` can be assigned in the repository (GitHub answers 204 or 404)."""
    try:
        await session.task.gh.getitem(
            "/repos/{owner}/{repo}/assignees/{assignee}",
            {"owner": session.task.owner, "repo": session.task.repo, "assignee": login},
        )
    except BadRequest as exc:
        if int(exc.status_code) == 404:
            return False
        raise
    return True


# ----------------------------------------------------------------------- commands

Planned = Plan | str
Planner = Callable[[Session, Command], Awaitable[Planned]]


async def plan_labels(session: Session, command: Command) -> Planned:
    """``/label`` and ``/remove-label``: only labels the repository has, its spelling."""
    found, unknown = resolve_labels(command.args, await session.repo_labels())
    if unknown:
        return unknown_labels_reason(unknown)
    if command.name == "label":

        async def add() -> None:
            await add_labels(session, found)

        return Plan("label", {"labels": found}, add)
    on_item = present(found, (await session.target()).labels)

    async def remove() -> None:
        await remove_labels(session, on_item)

    return Plan("remove-label", {"labels": on_item}, remove)


async def plan_assign(session: Session, command: Command) -> Planned:
    """``/assign`` (people GitHub says can be assigned) and ``/unassign``."""
    people = logins(command, author=session.author)
    path = "/repos/{owner}/{repo}/issues/{issue_number}/assignees"
    if command.name == "unassign":

        async def unassign() -> None:
            await session.task.gh.delete(path, session.ids, data={"assignees": people})

        return Plan("unassign", {"people": people}, unassign)
    refused = [login for login in people if not await assignable(session, login)]
    if refused:
        names = ", ".join(_person(login, author=session.author) for login in refused[:10])
        return f"{names} cannot be assigned in this repository; nobody was assigned."

    async def assign() -> None:
        await session.task.gh.post(path, session.ids, data={"assignees": people})

    return Plan("assign", {"people": people}, assign)


def _person(login: str, *, author: str) -> str:
    """A login a refusal names: the commenter mentioned (the reply is theirs), anyone
    else in a code span (naming a person in a command must not notify them)."""
    return mention(login) if login.lower() == author.lower() else code(login, limit=40)


async def plan_reviewers(session: Session, command: Command) -> Planned:
    """``/reviewers``: rank again and request or suggest, per ``reviewers.mode``; once
    per head commit of the pull request (asked again: said once, then a reaction)."""
    task, number = session.task, session.args.number
    mode = task.config.reviewers.mode
    if mode == "off":
        return "`reviewers.mode` is `off` in this repository."
    pull = await task.gh.getitem(
        "/repos/{owner}/{repo}/pulls/{pull_number}",
        {"owner": task.owner, "repo": task.repo, "pull_number": number},
    )
    head = str((pull.get("head") or {}).get("sha") or "")
    rows = task.store.actions_for(task.full_name, number)
    if reviewers_asked(rows, head=head):
        reason = already_asked_reason(head)
        return Said(reason) if said_before(rows, reason) else reason
    suggestions, history = await rank_reviewers(task, pull)
    if not suggestions:
        return "nobody in the review history fits this pull request."

    async def apply() -> None:
        if mode == "request":
            await apply_reviewers(task, number, mode=mode, suggestions=suggestions)
            return
        marker = REVIEWERS_COMMAND_MARKER.format(head=head[:40])
        body = f"{suggestion_comment(suggestions)}\n{marker}"
        await task.comment_once(number, body=body, marker=marker)

    detail = {
        "mode": mode,
        "reviewers": [s.login for s in suggestions],
        "history": history,
        "head": head,
    }
    return Plan("reviewers", detail, apply)


async def plan_wrong(session: Session, command: Command) -> Planned:
    """``/steward wrong``: what :func:`plan_undo` decides. Removes the labels triage
    applied that are still on the item, each recorded as a correction (as when a person
    removes a bot label); marks the duplicates suggestion made there wrong, removing its
    label, and re-judges the duplicates' gate on it.
    """
    task, number, full = session.task, session.args.number, session.task.full_name
    undo = plan_undo(
        task.store.actions_for(full, number),
        on_item=(await session.target()).labels,
        # Possible duplicates are suggested for issues only.
        suggestion=(
            task.store.duplicate_suggestion(full, number) if session.args.kind == "issue" else None
        ),
    )
    if isinstance(undo, str):
        return undo

    async def remove() -> None:
        if undo.remove:
            await remove_labels(session, list(undo.remove))

    def learn() -> None:
        feedback = task.store.feedback_for(full)
        for label in new_corrections(undo.triage, feedback, number=number):
            task.store.record_feedback(
                repo=full, number=number, kind="label_removed", subject=label, actor=session.author
            )
            regate(task.store, full, label, number=number)
        if undo.duplicate:
            task.store.mark_duplicate_wrong(full, number, actor=session.author, source="command")
            regate_duplicates(task.store, full, duplicates_policy(task.config.triage))

    detail = {
        "labels": list(undo.triage),
        "duplicate": undo.duplicate,
        "removed": list(undo.remove),
    }
    return Plan("wrong", detail, remove, learn)


async def plan_help(session: Session, command: Command) -> Planned:
    """``/steward help``: one reply per item listing the commands."""

    async def answer() -> None:
        await comment_once(session, body=help_comment(), marker=HELP_MARKER)

    return Plan("help", {}, answer)


PLANNERS: dict[str, Planner] = {
    "label": plan_labels,
    "remove-label": plan_labels,
    "assign": plan_assign,
    "unassign": plan_assign,
    "reviewers": plan_reviewers,
    "wrong": plan_wrong,
    "help": plan_help,
}


async def permission_refusal(session: Session, command: Command) -> str | None:
    """Why the commenter may not run ``command`` here (GitHub asked only when it matters)."""
    item_author = ""
    if command.name == "reviewers" and session.args.kind == "pull_request":
        item_author = (await session.target()).author
    common = {"kind": session.args.kind, "author": session.author, "item_author": item_author}
    if refusal(command, triager=True, **common) is not None:
        return refusal(command, triager=True, **common)
    if refusal(command, triager=False, **common) is None:
        return None
    return refusal(command, triager=await session.triager(), **common)


async def run_one(session: Session, command: Command) -> str | None:
    """Run one command once (live mode: on GitHub, with a ``+1``); why not, if refused."""
    args = session.args
    key = command_key(args.full_name, args.number, comment=args.comment_id, command=command)
    reason = await permission_refusal(session, command)
    planned = reason or await PLANNERS[command.name](session, command)
    if isinstance(planned, str):
        # A plan reads GitHub: "nothing to undo" may only mean that another delivery of
        # this comment is running the command right now. Its lock says so.
        if reason is None and await done_elsewhere(session, key):
            return None
        return planned
    detail = {"command": command.text, "author": session.author, **planned.detail}

    async def apply() -> None:
        await planned.apply()
        await react(session, "+1")

    effect = Effect(key, "commands", planned.action, args.number, detail)
    if await session.task.apply_once(effect, apply) is not None and planned.after:
        planned.after()
    return None


async def done_elsewhere(session: Session, key: str) -> bool:
    """Whether another run recorded the command ``key``: asked under its lock, which that
    run holds while it applies and records."""
    async with session.task.ctx.lock(key):
        return session.task.store.has_action(key)


async def reply_refused(session: Session, refused: list[tuple[Command, str]]) -> None:
    """One reply per comment (and a ``confused`` reaction) for the refused commands,
    each recorded: posted once, edited in place for later refusals of the same comment,
    a reaction only past the person's hourly limit or for a refusal said before."""
    args, commands = session.args, [command for command, _ in refused]
    also = [
        Effect(
            command_key(args.full_name, args.number, comment=args.comment_id, command=command),
            "commands",
            "refused",
            args.number,
            {"command": command.text, "author": session.author, "reason": str(reason)},
        )
        for command, reason in refused
    ]
    key = refusal_key(args.full_name, args.number, comment=args.comment_id, refused=commands)
    detail = {"refused": [c.text for c in commands], "author": session.author}
    rows = session.task.store.actions_for(args.full_name, args.number)
    prefix = comment_prefix(args.full_name, args.number, comment=args.comment_id)
    shown = all_refusals(earlier_refusals(rows, prefix=prefix), refused)
    quiet = all(isinstance(reason, Said) for _, reason in refused)

    async def apply() -> dict[str, Any]:
        body = refusal_comment(session.author, shown, comment=args.comment_id)
        reply = "none" if quiet else await answer(session, body)
        await react(session, "confused")
        return {"reply": reply}

    effect = Effect(key, "commands", "refusal", args.number, {**detail, "reply": "none"})
    await session.task.apply_once(effect, apply, also=also)


async def answer(session: Session, body: str) -> str:
    """Post the comment's one reply, or edit it in place if the bot wrote it already;
    past the author's hourly limit, nothing. Says which: ``posted``, ``edited``,
    ``kept`` (a discussion's reply, or one already saying this), ``limited``.
    """
    task, args = session.task, session.args
    node = args.node_id if session.discussion else ""
    async with task.ctx.lock(f"command-replies:{args.full_name}#{args.number}:{session.author}"):
        marker = REFUSAL_FIND.format(comment=args.comment_id)
        earlier = has_marker(await task.own_comments(args.number, node_id=node), marker)
        if earlier is not None:
            return await edit_reply(task, earlier, body=body, discussion=session.discussion)
        rows = task.store.actions_for(args.full_name, args.number)
        limit = task.config.commands.max_replies_per_hour
        if not may_reply(rows, author=session.author, now=now_utc(), limit=limit):
            return "limited"
        await task.post_comment(args.number, body=body, node_id=node)
        return "posted"


async def edit_reply(
    task: RepoTask, earlier: Mapping[str, Any], *, body: str, discussion: bool
) -> str:
    """Edit the bot's earlier reply to say ``body`` (unchanged, or a discussion's: kept)."""
    if discussion or str(earlier.get("body") or "").strip() == body.strip():
        return "kept"
    await task.edit_comment(int(earlier["id"]), body=body)
    return "edited"


def not_done(ctx: TaskContext, args: CommandArgs, found: list[Command]) -> list[Command]:
    """The commands of this comment that no earlier run ran or refused."""
    return [
        c
        for c in found
        if not ctx.done(
            command_key(args.full_name, args.number, comment=args.comment_id, command=c)
        )
    ]


async def run_commands(ctx: TaskContext, args: CommandArgs) -> dict[str, Any]:
    """Run the new commands of one comment (each once, however often it is delivered)."""
    seen = read_key(args.full_name, args.number, comment=args.comment_id, version=args.digest)
    if ctx.done(seen):
        return {"skipped": "this version of the comment was read already"}
    task = await open_repo(ctx, args)
    if not task.config.commands.enabled:
        return {"skipped": "commands are off"}
    comment = await read_comment(task, args)
    if comment is None:
        return {"skipped": "not a person's comment"}
    body, author = comment
    allowed, over = over_the_limit(parse_commands(body))
    commands = not_done(ctx, args, allowed)
    session = Session(task, args, author)
    outcomes = [(command, await run_one(session, command)) for command in commands]
    outcomes += [(command, too_many_reason()) for command in not_done(ctx, args, over)]
    refused = [(command, reason) for command, reason in outcomes if reason]
    if refused:
        await reply_refused(session, refused)
    ran = [c.text for c, reason in outcomes if not reason]
    task.record(Effect(seen, "commands", "read", args.number, {"ran": ran, "author": author}))
    if commands:
        log.info(
            "commands on %s#%d: ran %s, refused %s",
            task.full_name,
            args.number,
            ran,
            [c.text for c, _ in refused],
        )
    return {"ran": ran, "refused": [c.text for c, _ in refused], "mode": task.config.mode}
