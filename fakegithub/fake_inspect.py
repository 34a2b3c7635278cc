"""What tests read back from the fake GitHub: comments, labels, reviewers and reactions
on an item, a webhook payload describing a comment as it is now, and the recorded
requests.
"""

from __future__ import annotations

import re
from typing import Any

from fakegithub import deliveries
from fakegithub.fake_core import FakeCore
from fakegithub.http import RecordedRequest
from fakegithub.state import Comment, DiscussionComment


class Inspection(FakeCore):
    """Query helpers for tests: what the code under test left behind."""

    def reactions_on(self, owner: str, repo: str, comment_id: int) -> list[tuple[str, str]]:
        """``(login, content)`` of every reaction to an issue, pull request or discussion
        comment, oldest first.
        """
        try:
            _, found = self.find_comment(owner, repo, comment_id)
            return [(r.user, r.content) for r in found.reactions]
        except KeyError:
            _, other = self.find_discussion_comment(owner, repo, comment_id)
            return [(r.user, r.content) for r in other.reactions]

    def comment_payload(
        self,
        owner: str,
        repo: str,
        comment_id: int,
        *,
        action: str = "created",
        previous: str = "",
    ) -> dict[str, Any]:
        """A real ``issue_comment`` or ``discussion_comment`` example (``created`` or
        ``edited``, whose ``changes.body.from`` is ``previous``) describing one of this
        fake's comments as it is now.
        """
        target = self.repo(owner, repo)
        installed = [i.id for i in self.installations.values() if i.covers(target.full_name)]
        installation = installed[0] if installed else 0
        try:
            item, found = self.find_comment(owner, repo, comment_id)
        except KeyError:
            parent, other = self.find_discussion_comment(owner, repo, comment_id)
            made = deliveries.discussion_comment_payload(
                action, target, parent, other, self.user(other.author), installation
            )
        else:
            made = deliveries.issue_comment_payload(
                action, target, item, found, self.user(found.user), installation
            )
        if action == "edited":
            made["changes"] = {"body": {"from": previous}}
        return made

    # ---------------------------------------------------------- query helpers

    def comments_on(self, owner: str, repo: str, number: int) -> list[Comment]:
        """Comments of an issue or pull request, oldest first."""
        return list(self.issue(owner, repo, number).comments)

    def comment_bodies(self, owner: str, repo: str, number: int) -> list[str]:
        """Comment bodies of an issue or pull request, oldest first."""
        return [c.body for c in self.comments_on(owner, repo, number)]

    def labels_on(self, owner: str, repo: str, number: int) -> list[str]:
        """Label names on an issue, pull request or (if no issue has it) discussion."""
        target = self.repo(owner, repo)
        if number in target.issues:
            return list(target.issues[number].labels)
        return list(target.discussions[number].labels)

    def requested_reviewers(self, owner: str, repo: str, number: int) -> list[str]:
        """Logins whose review is requested on a pull request."""
        pull = self.issue(owner, repo, number).pull
        return list(pull.requested_reviewers) if pull else []

    def discussion_comments(self, owner: str, repo: str, number: int) -> list[DiscussionComment]:
        """Comments of a discussion, oldest first."""
        return list(self.discussion(owner, repo, number).comments)

    def calls(self, method: str, path_regex: str = "") -> list[RecordedRequest]:
        """Recorded requests with this method (``*`` = any) whose path matches."""
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if (method == "*" or r.method == method.upper()) and pattern.search(r.path)
        ]

    def clear_log(self) -> None:
        """Forget recorded requests and violations (state is kept)."""
        self.requests.clear()
        self.violations.clear()
