"""Seeding repositories in the fake GitHub: the repository itself, its files on the
default branch, its labels and its collaborators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fakegithub import serialize as ser
from fakegithub.fake_core import FakeCore
from fakegithub.state import Label, Permission, Repo, RepoFile, make_node_id


class RepoSeeding(FakeCore):
    """Builders of repositories, files, labels and collaborators."""

    # ---------------------------------------------------------------- builders

    def add_repo(
        self,
        owner: str,
        name: str,
        *,
        default_branch: str = "main",
        private: bool = False,
        description: str | None = None,
        files: Mapping[str, str | bytes] | None = None,
        labels: Iterable[str] = (),
        collaborators: Mapping[str, Permission] | None = None,
    ) -> Repo:
        """Create a repository, optionally with files, labels and collaborators."""
        self.user(owner, type="Organization")
        number = self.next_id()
        repo = Repo(
            number, make_node_id("R", number), owner, name, default_branch, private, description
        )
        self.repos[repo.full_name.lower()] = repo
        for path, content in (files or {}).items():
            self.set_file(owner, name, path, content)
        for label_name in labels:
            self.add_label(owner, name, label_name)
        for login, permission in (collaborators or {}).items():
            self.add_collaborator(owner, name, login, permission)
        return repo

    def set_file(self, owner: str, repo: str, path: str, content: str | bytes) -> RepoFile:
        """Create or replace a file on the default branch."""
        data = content.encode() if isinstance(content, str) else content
        made = RepoFile(path.strip("/"), data)
        self.repo(owner, repo).files[made.path] = made
        return made

    def delete_file(self, owner: str, repo: str, path: str) -> None:
        """Remove a file from the default branch."""
        self.repo(owner, repo).files.pop(path.strip("/"), None)

    def add_label(
        self,
        owner: str,
        repo: str,
        name: str,
        *,
        color: str = "ededed",
        description: str | None = None,
    ) -> Label:
        """Create a repository label (or return the existing one of that name)."""
        target = self.repo(owner, repo)
        existing = target.label(name)
        if existing is not None:
            return existing
        number = self.next_id()
        made = Label(
            number, make_node_id("LA", number), name, color, description, created_at=self.now()
        )
        target.labels[name.lower()] = made
        return made

    def add_collaborator(
        self, owner: str, repo: str, login: str, permission: Permission = "write"
    ) -> None:
        """Give ``login`` a permission on a repository."""
        self.user(login)
        self.repo(owner, repo).collaborators[login] = permission

    # -------------------------------------------------------------- rendering

    def collaborator_json(self, repo: Repo, login: str) -> dict[str, Any]:
        """Render a ``collaborator`` (a user with ``permissions`` and ``role_name``)."""
        role = repo.collaborators.get(login, "read")
        rank = {"read": 0, "triage": 1, "write": 2, "maintain": 3, "admin": 4}[role]
        flags = {
            "pull": rank >= 0,
            "triage": rank >= 1,
            "push": rank >= 2,
            "maintain": rank >= 3,
            "admin": rank >= 4,
        }
        return {**ser.user(self.urls, self.user(login)), "permissions": flags, "role_name": role}
