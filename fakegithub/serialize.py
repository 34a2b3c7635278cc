"""Render fake state as GitHub REST JSON. Pure functions of state and base URLs.

Field sets follow the ``required`` lists of GitHub's OpenAPI response schemas; the
tests validate rendered responses against those schemas, so a missing field shows up
as a contract violation rather than a surprise in production.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from fakegithub.state import (
    App,
    Comment,
    Discussion,
    Installation,
    Issue,
    IssueEvent,
    Label,
    PullFile,
    PullInfo,
    Reaction,
    Repo,
    RepoFile,
    Review,
    User,
    iso,
)

#: Fields of a repository object that are plain ``{api}/repos/{full}/<suffix>`` URLs.
_REPO_URL_FIELDS: dict[str, str] = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


@dataclass(frozen=True)
class Urls:
    """Where the fake lives: ``api`` is its base URL, ``web`` the html_url base."""

    api: str
    web: str = "https://github.com"


def user(urls: Urls, account: User) -> dict[str, Any]:
    """A ``simple-user`` object."""
    api = f"{urls.api}/users/{account.login}"
    return {
        "login": account.login,
        "id": account.id,
        "node_id": account.node_id,
        "avatar_url": f"https://avatars.githubusercontent.com/u/{account.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{urls.web}/{account.login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": account.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def public_user(urls: Urls, account: User) -> dict[str, Any]:
    """A ``public-user`` object: what ``GET /user`` answers about the signed-in person."""
    return {
        **user(urls, account),
        "name": account.name,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
    }


def label(urls: Urls, repo: Repo, item: Label) -> dict[str, Any]:
    """A ``label`` object."""
    return {
        "id": item.id,
        "node_id": item.node_id,
        "url": f"{urls.api}/repos/{repo.full_name}/labels/{item.name}",
        "name": item.name,
        "description": item.description,
        "color": item.color,
        "default": item.default,
    }


def repository(urls: Urls, repo: Repo, owner: User, open_issues: int) -> dict[str, Any]:
    """A ``full-repository`` object."""
    api = f"{urls.api}/repos/{repo.full_name}"
    data: dict[str, Any] = {key: api + suffix for key, suffix in _REPO_URL_FIELDS.items()}
    created = iso(repo.created_at)
    data.update(
        id=repo.id,
        node_id=repo.node_id,
        name=repo.name,
        full_name=repo.full_name,
        owner=user(urls, owner),
        private=repo.private,
        visibility="private" if repo.private else "public",
        html_url=f"{urls.web}/{repo.full_name}",
        description=repo.description,
        fork=False,
        url=api,
        git_url=f"git://github.com/{repo.full_name}.git",
        ssh_url=f"git@github.com:{repo.full_name}.git",
        clone_url=f"{urls.web}/{repo.full_name}.git",
        svn_url=f"{urls.web}/{repo.full_name}",
        mirror_url=None,
        homepage=None,
        language=None,
        license=None,
        size=sum(len(f.content) for f in repo.files.values()) // 1024,
        default_branch=repo.default_branch,
        archived=False,
        disabled=False,
        has_issues=True,
        has_downloads=True,
        has_projects=True,
        has_wiki=True,
        has_pages=False,
        has_discussions=True,
        forks=0,
        forks_count=0,
        network_count=0,
        subscribers_count=0,
        stargazers_count=0,
        watchers=0,
        watchers_count=0,
        open_issues=open_issues,
        open_issues_count=open_issues,
        topics=[],
        created_at=created,
        updated_at=created,
        pushed_at=created,
    )
    return data


def content_file(urls: Urls, repo: Repo, file: RepoFile) -> dict[str, Any]:
    """A ``content-file`` object with base64 content wrapped at 60 columns like GitHub."""
    encoded = base64.b64encode(file.content).decode()
    wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
    api = f"{urls.api}/repos/{repo.full_name}"
    html = f"{urls.web}/{repo.full_name}/blob/{repo.default_branch}/{file.path}"
    git = f"{api}/git/blobs/{file.sha}"
    self_url = f"{api}/contents/{file.path}?ref={repo.default_branch}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(file.content),
        "name": file.path.rsplit("/", 1)[-1],
        "path": file.path,
        "content": wrapped,
        "sha": file.sha,
        "url": self_url,
        "git_url": git,
        "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/"
        f"{repo.default_branch}/{file.path}",
        "_links": {"self": self_url, "git": git, "html": html},
    }


def issue(
    urls: Urls, repo: Repo, item: Issue, users: dict[str, User], repo_owner: User
) -> dict[str, Any]:
    """An ``issue`` object; a pull request carries the ``pull_request`` key as on GitHub."""
    api = f"{urls.api}/repos/{repo.full_name}/issues/{item.number}"
    kind = "pull" if item.pull else "issues"
    data: dict[str, Any] = {
        "id": item.id,
        "node_id": item.node_id,
        "url": api,
        "repository_url": f"{urls.api}/repos/{repo.full_name}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{urls.web}/{repo.full_name}/{kind}/{item.number}",
        "number": item.number,
        "state": item.state,
        "state_reason": item.state_reason,
        "title": item.title,
        "body": item.body,
        "user": user(urls, users[item.user]),
        "labels": [label(urls, repo, lab) for lab in _labels(repo, item.labels)],
        "assignee": user(urls, users[item.assignees[0]]) if item.assignees else None,
        "assignees": [user(urls, users[a]) for a in item.assignees],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(item.comments),
        "closed_at": iso(item.closed_at),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "author_association": item.author_association,
        "reactions": _reactions(api),
    }
    if item.pull:
        pull_api = f"{urls.api}/repos/{repo.full_name}/pulls/{item.number}"
        data["draft"] = item.pull.draft
        data["pull_request"] = {
            "url": pull_api,
            "html_url": data["html_url"],
            "diff_url": f"{data['html_url']}.diff",
            "patch_url": f"{data['html_url']}.patch",
            "merged_at": iso(item.pull.merged_at),
        }
    return data


def _labels(repo: Repo, names: list[str]) -> list[Label]:
    return [found for name in names if (found := repo.label(name)) is not None]


REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")


def _reactions(url: str, given: list[Reaction] | None = None) -> dict[str, Any]:
    counts = {key: sum(1 for r in given or [] if r.content == key) for key in REACTIONS}
    return {"url": f"{url}/reactions", "total_count": len(given or []), **counts}


def reaction(urls: Urls, item: Reaction, author: User) -> dict[str, Any]:
    """A ``reaction`` object."""
    return {
        "id": item.id,
        "node_id": item.node_id,
        "user": user(urls, author),
        "content": item.content,
        "created_at": iso(item.created_at),
    }


def pull(
    urls: Urls, repo: Repo, item: Issue, users: dict[str, User], repo_owner: User
) -> dict[str, Any]:
    """A ``pull-request`` object (the issue must have ``pull`` set)."""
    assert item.pull is not None
    info = item.pull
    base = issue(urls, repo, item, users, repo_owner)
    api = f"{urls.api}/repos/{repo.full_name}/pulls/{item.number}"
    branch = _pull_branch(urls, repo, info, repo_owner)
    links = _pull_links(urls, repo, info, api=api, base=base)
    data = {key: base[key] for key in base if key not in {"pull_request", "reactions"}}
    data.update(
        id=item.pull_id,
        node_id=item.pull_node_id,
        url=api,
        issue_url=base["url"],
        diff_url=f"{base['html_url']}.diff",
        patch_url=f"{base['html_url']}.patch",
        commits_url=f"{api}/commits",
        review_comments_url=f"{api}/comments",
        review_comment_url=links["review_comment"],
        statuses_url=links["statuses"],
        head=branch,
        base={**branch, "label": f"{repo.owner}:{info.base_ref}", "ref": info.base_ref},
        _links={k: {"href": v} for k, v in links.items()},
        requested_reviewers=[user(urls, users[r]) for r in info.requested_reviewers],
        requested_teams=[],
        merged_by=user(urls, users[info.merged_by]) if info.merged_by else None,
        comments=len(item.comments),
        **_pull_state(info),
    )
    return data


def _pull_branch(urls: Urls, repo: Repo, info: PullInfo, repo_owner: User) -> dict[str, Any]:
    """The ``head`` branch object (``base`` is the same with its own ref)."""
    return {
        "label": f"{repo.owner}:{info.head_ref}",
        "ref": info.head_ref,
        "sha": info.head_sha,
        "user": user(urls, repo_owner),
        "repo": repository(urls, repo, repo_owner, 0),
    }


def _pull_links(
    urls: Urls, repo: Repo, info: PullInfo, *, api: str, base: dict[str, Any]
) -> dict[str, str]:
    """The pull request's ``_links`` targets, by name."""
    return {
        "self": api,
        "html": base["html_url"],
        "issue": base["url"],
        "comments": base["comments_url"],
        "review_comments": f"{api}/comments",
        "review_comment": f"{urls.api}/repos/{repo.full_name}/pulls/comments{{/number}}",
        "commits": f"{api}/commits",
        "statuses": f"{urls.api}/repos/{repo.full_name}/statuses/{info.head_sha}",
    }


def _pull_state(info: PullInfo) -> dict[str, Any]:
    """Merge state and size: merged or not, and what the change adds and removes."""
    return {
        "merged": info.merged,
        "merged_at": iso(info.merged_at),
        "merge_commit_sha": None,
        "mergeable": None,
        "mergeable_state": "unknown",
        "rebaseable": None,
        "maintainer_can_modify": False,
        "auto_merge": None,
        "review_comments": 0,
        "commits": 1,
        "additions": sum(f.additions for f in info.files),
        "deletions": sum(f.deletions for f in info.files),
        "changed_files": len(info.files),
        "draft": info.draft,
    }


def pull_summary(full: dict[str, Any]) -> dict[str, Any]:
    """A ``pull-request-simple`` object (list view) from a full one."""
    dropped = {
        "merged",
        "mergeable",
        "mergeable_state",
        "rebaseable",
        "merged_by",
        "comments",
        "review_comments",
        "maintainer_can_modify",
        "commits",
        "additions",
        "deletions",
        "changed_files",
    }
    return {k: v for k, v in full.items() if k not in dropped}


def pull_file(urls: Urls, repo: Repo, sha: str, item: PullFile) -> dict[str, Any]:
    """A ``diff-entry`` object."""
    blob = f"{urls.web}/{repo.full_name}/blob/{sha}/{item.filename}"
    data: dict[str, Any] = {
        "sha": sha,
        "filename": item.filename,
        "status": item.status,
        "additions": item.additions,
        "deletions": item.deletions,
        "changes": item.additions + item.deletions,
        "blob_url": blob,
        "raw_url": blob.replace("/blob/", "/raw/"),
        "contents_url": f"{urls.api}/repos/{repo.full_name}/contents/{item.filename}?ref={sha}",
    }
    if item.patch is not None:
        data["patch"] = item.patch
    return data


def review(urls: Urls, repo: Repo, number: int, item: Review, author: User) -> dict[str, Any]:
    """A ``pull-request-review`` object."""
    html = f"{urls.web}/{repo.full_name}/pull/{number}#pullrequestreview-{item.id}"
    pull_url = f"{urls.api}/repos/{repo.full_name}/pulls/{number}"
    return {
        "id": item.id,
        "node_id": item.node_id,
        "user": user(urls, author),
        "body": item.body,
        "state": item.state,
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "submitted_at": iso(item.submitted_at),
        "commit_id": None,
        "author_association": "COLLABORATOR",
    }


def comment(urls: Urls, repo: Repo, number: int, item: Comment, author: User) -> dict[str, Any]:
    """An ``issue-comment`` object."""
    api = f"{urls.api}/repos/{repo.full_name}/issues/comments/{item.id}"
    return {
        "id": item.id,
        "node_id": item.node_id,
        "url": api,
        "html_url": f"{urls.web}/{repo.full_name}/issues/{number}#issuecomment-{item.id}",
        "issue_url": f"{urls.api}/repos/{repo.full_name}/issues/{number}",
        "body": item.body,
        "user": user(urls, author),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "author_association": item.author_association,
        "reactions": _reactions(api, item.reactions),
    }


def issue_event(urls: Urls, repo: Repo, item: IssueEvent, users: dict[str, User]) -> dict[str, Any]:
    """An ``issue-event-for-issue`` object (labeled, unlabeled, review_requested, …)."""
    data: dict[str, Any] = {
        "id": item.id,
        "node_id": item.node_id,
        "url": f"{urls.api}/repos/{repo.full_name}/issues/events/{item.id}",
        "actor": user(urls, users[item.actor]),
        "event": item.event,
        "commit_id": None,
        "commit_url": None,
        "created_at": iso(item.created_at),
        "performed_via_github_app": None,
    }
    if item.label is not None:
        data["label"] = {"name": item.label, "color": item.label_color or "ededed"}
    if item.assignee is not None:
        data["assignee"] = user(urls, users[item.assignee])
        data["assigner"] = data["actor"]
    if item.requested_reviewer is not None:
        data["requested_reviewer"] = user(urls, users[item.requested_reviewer])
        data["review_requester"] = data["actor"]
    return data


def app(urls: Urls, item: App, owner: User) -> dict[str, Any]:
    """An ``integration`` object."""
    created = "2024-01-01T00:00:00Z"
    return {
        "id": item.app_id,
        "slug": item.slug,
        "node_id": item.node_id,
        "client_id": f"Iv1.{item.app_id:016x}",
        "owner": user(urls, owner),
        "name": item.name,
        "description": "",
        "external_url": f"{urls.web}/apps/{item.slug}",
        "html_url": f"{urls.web}/apps/{item.slug}",
        "created_at": created,
        "updated_at": created,
        "permissions": dict(item.permissions),
        "events": list(item.events),
        "installations_count": 0,
    }


def installation(urls: Urls, item: Installation, account: User, slug: str) -> dict[str, Any]:
    """An ``installation`` object."""
    api = f"{urls.api}/app/installations/{item.id}"
    return {
        "id": item.id,
        "account": user(urls, account),
        "repository_selection": "all" if item.repositories is None else "selected",
        "access_tokens_url": f"{api}/access_tokens",
        "repositories_url": f"{urls.api}/installation/repositories",
        "html_url": f"{urls.web}/organizations/{account.login}/settings/installations/{item.id}",
        "app_id": item.app_id,
        "app_slug": slug,
        "target_id": account.id,
        "target_type": account.type,
        "permissions": dict(item.permissions),
        "events": [],
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }


def discussion_url(urls: Urls, repo: Repo, item: Discussion) -> str:
    """The html URL of a discussion."""
    return f"{urls.web}/{repo.full_name}/discussions/{item.number}"


def error(message: str, status: int, **extra: Any) -> dict[str, Any]:
    """A GitHub error body (``message``, ``documentation_url``, ``status``)."""
    return {
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": str(status),
        **extra,
    }
