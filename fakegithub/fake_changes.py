"""Changes to existing state in the fake GitHub, as people and the REST handlers make
them: editing comments, reacting, relabelling, opening and closing (each logged on the
issue's timeline as GitHub does).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fakegithub.fake_repos import RepoSeeding
from fakegithub.state import (
    Comment,
    DiscussionComment,
    Issue,
    IssueEvent,
    Reaction,
    Repo,
    make_node_id,
)


class StateChanges(RepoSeeding):
    """Edits, reactions, label and state changes, and the timeline events they log."""

    def edit_comment(self, owner: str, repo: str, comment_id: int, *, body: str) -> Comment:
        """Change a comment's body as its author would (``updated_at`` moves on)."""
        item, found = self.find_comment(owner, repo, comment_id)
        found.body, found.updated_at = body, self.now()
        item.updated_at = found.updated_at
        return found

    def edit_discussion_comment(
        self, owner: str, repo: str, comment_id: int, *, body: str
    ) -> DiscussionComment:
        """Change a discussion comment's body as its author would."""
        _, found = self.find_discussion_comment(owner, repo, comment_id)
        found.body, found.updated_at = body, self.now()
        return found

    def react(self, reactions: list[Reaction], *, user: str, content: str) -> tuple[Reaction, bool]:
        """Add ``user``'s ``content`` reaction unless they gave it already; (it, new?)."""
        for given in reactions:
            if given.user == user and given.content == content:
                return given, False
        self.user(user)
        ident = self.next_id()
        made = Reaction(ident, make_node_id("REA", ident), user, content, self.now())
        reactions.append(made)
        return made, True

    # ------------------------------------------------------- state transitions

    def log_event(self, item: Issue, event: str, actor: str, **fields: Any) -> IssueEvent:
        """Append an event to an issue's timeline."""
        self.user(actor)
        ident = self.next_id()
        made = IssueEvent(ident, make_node_id("LE", ident), event, actor, self.now(), **fields)
        item.events.append(made)
        return made

    def set_labels(self, repo: Repo, item: Issue, names: Iterable[str], actor: str) -> None:
        """Replace an issue's labels, creating unknown ones and logging (un)labeled."""
        wanted: list[str] = []
        for name in names:
            canonical = self.add_label(repo.owner, repo.name, name).name
            if canonical not in wanted:
                wanted.append(canonical)
        for name in item.labels:
            if name not in wanted:
                self.log_event(item, "unlabeled", actor, label=name, label_color=_color(repo, name))
        for name in wanted:
            if name not in item.labels:
                self.log_event(item, "labeled", actor, label=name, label_color=_color(repo, name))
        if wanted != item.labels:
            item.updated_at = self.now()  # as GitHub does on any label change
        item.labels = wanted

    def set_state(
        self, repo: Repo, item: Issue, state: str, reason: str | None, actor: str
    ) -> None:
        """Open or close an issue, logging the event."""
        if state == item.state:
            return
        if state == "closed":
            item.state, item.closed_at = "closed", self.now()
            item.state_reason = reason or "completed"
            self.log_event(item, "closed", actor)
        else:
            item.state, item.closed_at, item.state_reason = "open", None, "reopened"
            self.log_event(item, "reopened", actor)


def _color(repo: Repo, name: str) -> str | None:
    found = repo.label(name)
    return found.color if found else None
