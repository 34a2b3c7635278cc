"""Signed webhook deliveries built from the real example payloads (tests, demo, benchmark)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from fakegithub.state import Comment, Discussion, DiscussionComment, Issue, Repo, User, iso
from fakegithub.webhooks import load_webhook_example


def retarget(
    payload: dict[str, Any], *, owner: str, repo: str, installation_id: int
) -> dict[str, Any]:
    """Point a real example payload at another repository and installation."""
    repository = payload["repository"]
    repository["name"] = repo
    repository["full_name"] = f"{owner}/{repo}"
    repository["owner"]["login"] = owner
    payload["installation"] = {"id": installation_id, "node_id": "MDIz"}
    return payload


def with_author(payload: dict[str, Any], key: str, login: str, association: str) -> dict[str, Any]:
    """Set who opened the payload's issue/pull_request/discussion (and sent the event)."""
    kind = "Bot" if login.endswith("[bot]") else "User"
    payload[key]["user"].update(login=login, type=kind)
    payload[key]["author_association"] = association
    payload["sender"] = {**payload.get("sender", {}), "login": login, "type": kind}
    return payload


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, *, secret: str, delivery: str | None = None
) -> dict[str, str]:
    """The headers of a signed delivery, as GitHub's Hookshot sends them."""
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/steward-replay",
    }


def _account(account: User) -> dict[str, Any]:
    return {"login": account.login, "id": account.id, "node_id": account.node_id}


def _comment_fields(
    payload: dict[str, Any], item: Comment | DiscussionComment, author: User, body: str
) -> None:
    comment = payload["comment"]
    comment.update(
        id=item.id,
        node_id=item.node_id,
        body=body,
        created_at=iso(item.created_at),
        updated_at=iso(item.updated_at or item.created_at),
    )
    comment["user"].update(_account(author), type=author.type)
    payload["sender"] = {**payload["sender"], **_account(author), "type": author.type}


def issue_comment_payload(
    action: str, repo: Repo, item: Issue, comment: Comment, author: User, installation_id: int
) -> dict[str, Any]:
    """The real ``issue_comment.<action>`` example about ``comment`` on ``item`` (an
    issue, or a pull request: then ``issue.pull_request`` is set, as GitHub does).
    """
    payload = retarget(
        load_webhook_example(f"issue_comment.{action}"),
        owner=repo.owner,
        repo=repo.name,
        installation_id=installation_id,
    )
    issue = payload["issue"]
    issue.update(number=item.number, node_id=item.node_id, id=item.id, title=item.title)
    issue.pop("pull_request", None)
    if item.pull is not None:
        web = f"https://github.com/{repo.full_name}/pull/{item.number}"
        issue["pull_request"] = {
            "url": f"https://api.github.com/repos/{repo.full_name}/pulls/{item.number}",
            "html_url": web,
            "diff_url": f"{web}.diff",
            "patch_url": f"{web}.patch",
        }
    _comment_fields(payload, comment, author, comment.body)
    payload["comment"]["author_association"] = comment.author_association
    return payload


def discussion_comment_payload(
    action: str,
    repo: Repo,
    item: Discussion,
    comment: DiscussionComment,
    author: User,
    installation_id: int,
) -> dict[str, Any]:
    """The real ``discussion_comment.<action>`` example about ``comment`` on ``item``."""
    payload = retarget(
        load_webhook_example(f"discussion_comment.{action}"),
        owner=repo.owner,
        repo=repo.name,
        installation_id=installation_id,
    )
    payload["discussion"].update(
        number=item.number, node_id=item.node_id, id=item.id, title=item.title
    )
    _comment_fields(payload, comment, author, comment.body)
    payload["comment"]["discussion_id"] = item.id
    return payload
