"""Seeding a repository's conversations in the fake GitHub: issues, pull requests (with
their files, reviewers and reviews), discussions and the comments on each.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fakegithub.fake_repos import RepoSeeding
from fakegithub.state import (
    Comment,
    Discussion,
    DiscussionComment,
    Issue,
    PullFile,
    PullInfo,
    Repo,
    Review,
    make_node_id,
)


class ItemSeeding(RepoSeeding):
    """Builders of issues, pull requests, discussions, comments and reviews."""

    # ---------------------------------------------------------------- builders

    def _new_issue(
        self,
        repo: Repo,
        title: str,
        body: str | None,
        user: str,
        author_association: str,
        created_at: datetime | None,
    ) -> Issue:
        self.user(user)
        number, ident = repo.next_number, self.next_id()
        repo.next_number += 1
        moment = created_at or self.now()
        item = Issue(
            number,
            ident,
            make_node_id("I", ident),
            title,
            body,
            user,
            author_association,
            moment,
            moment,
        )
        repo.issues[number] = item
        return item

    def add_issue(
        self,
        owner: str,
        repo: str,
        *,
        title: str,
        body: str | None = "",
        user: str = "octocat",
        labels: Iterable[str] = (),
        author_association: str = "NONE",
        state: str = "open",
        created_at: datetime | None = None,
        comments: Iterable[tuple[str, str]] = (),
    ) -> Issue:
        """Create an issue; ``comments`` are ``(user, body)`` pairs."""
        target = self.repo(owner, repo)
        item = self._new_issue(target, title, body, user, author_association, created_at)
        self._prefill(target, item, labels, state, comments)
        return item

    def _prefill(
        self,
        repo: Repo,
        item: Issue,
        labels: Iterable[str],
        state: str,
        comments: Iterable[tuple[str, str]],
    ) -> None:
        for label_name in labels:
            item.labels.append(self.add_label(repo.owner, repo.name, label_name).name)
        if state == "closed":
            item.state, item.closed_at, item.state_reason = "closed", item.created_at, "completed"
        for login, text in comments:
            self.add_comment(repo.owner, repo.name, item.number, body=text, user=login)

    def add_pull(
        self,
        owner: str,
        repo: str,
        *,
        title: str,
        body: str | None = "",
        user: str = "octocat",
        files: Iterable[str | PullFile] = (),
        labels: Iterable[str] = (),
        author_association: str = "CONTRIBUTOR",
        state: str = "open",
        merged: bool = False,
        merged_at: datetime | None = None,
        draft: bool = False,
        requested_reviewers: Iterable[str] = (),
        created_at: datetime | None = None,
        head_ref: str | None = None,
        comments: Iterable[tuple[str, str]] = (),
    ) -> Issue:
        """Create a pull request; ``merged=True`` also closes it."""
        target = self.repo(owner, repo)
        item = self._new_issue(target, title, body, user, author_association, created_at)
        item.pull_id = self.next_id()
        item.pull_node_id = make_node_id("PR", item.pull_id)
        item.pull = PullInfo(
            head_ref=head_ref or f"{user}/change-{item.number}",
            base_ref=target.default_branch,
            head_sha=f"{item.pull_id:040x}",
            draft=draft,
            files=[f if isinstance(f, PullFile) else PullFile(f) for f in files],
        )
        for login in requested_reviewers:
            self.user(login)
            item.pull.requested_reviewers.append(login)
        self._prefill(target, item, labels, "closed" if merged else state, comments)
        if merged:
            item.pull.merged = True
            item.pull.merged_at = merged_at or item.created_at
            item.pull.merged_by = target.owner
            item.closed_at = item.pull.merged_at
            item.state_reason = None
        return item

    def add_comment(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        body: str,
        user: str = "octocat",
        author_association: str = "NONE",
    ) -> Comment:
        """Comment on an issue or pull request."""
        item = self.issue(owner, repo, number)
        self.user(user)
        ident, moment = self.next_id(), self.now()
        made = Comment(
            ident, make_node_id("IC", ident), user, body, moment, moment, author_association
        )
        item.comments.append(made)
        item.updated_at = moment
        return made

    def add_review(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        user: str,
        state: str = "APPROVED",
        body: str = "",
    ) -> Review:
        """Add a submitted review to a pull request."""
        item = self.issue(owner, repo, number)
        if item.pull is None:
            raise ValueError(f"#{number} is not a pull request")
        self.user(user)
        ident = self.next_id()
        made = Review(ident, make_node_id("PRR", ident), user, state, body, self.now())
        item.pull.reviews.append(made)
        return made

    def add_discussion(
        self,
        owner: str,
        repo: str,
        *,
        title: str,
        body: str = "",
        author: str = "octocat",
        labels: Iterable[str] = (),
        created_at: datetime | None = None,
        category: str = "General",
    ) -> Discussion:
        """Create a discussion (numbered in the same sequence as issues, like GitHub)."""
        target = self.repo(owner, repo)
        self.user(author)
        number, ident = target.next_number, self.next_id()
        target.next_number += 1
        made = Discussion(
            ident, make_node_id("D", ident), number, title, body, author, created_at or self.now()
        )
        made.labels = [self.add_label(owner, repo, n).name for n in labels]
        made.category = category
        target.discussions[number] = made
        return made

    def add_discussion_comment(
        self, owner: str, repo: str, number: int, *, body: str, author: str = "octocat"
    ) -> DiscussionComment:
        """Comment on a discussion."""
        self.user(author)
        ident = self.next_id()
        made = DiscussionComment(ident, make_node_id("DC", ident), author, body, self.now())
        self.discussion(owner, repo, number).comments.append(made)
        return made
