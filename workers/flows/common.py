"""Fetch-and-apply helpers shared by the flows (config, comments, audit)."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub.abc import GitHubAPI

from app.store import ActionRecord
from workers.config_schema import CONFIG_PATH
from workers.repo_config import LoadedConfig, load_repo_config
from workers.runtime import TaskContext

log = logging.getLogger(__name__)

CONFIG_REPORT_MARKER = "<!-- steward:config-error -->"


async def repo_config(ctx: TaskContext, gh: GitHubAPI, owner: str, repo: str) -> LoadedConfig:
    """The repository's effective config; a broken file is reported once per version."""
    loaded = await load_repo_config(gh, owner, repo)
    if loaded.errors:
        await report_config_errors(ctx, gh, loaded)
    return loaded


def config_report_body(path: str, sha: str, errors: list[str]) -> str:
    """The issue text that tells maintainers what is wrong with their config file."""
    lines = "\n".join(f"- {e}" for e in errors)
    return (
        f"Steward could not use every setting in `{path}` (version `{sha[:7]}`):\n\n{lines}\n\n"
        "Until it is fixed, the settings above fall back to their defaults. The reference of "
        "every setting is in Steward's README (`steward config-docs` prints it).\n\n"
        f"{CONFIG_REPORT_MARKER}"
    )


async def report_config_errors(ctx: TaskContext, gh: GitHubAPI, loaded: LoadedConfig) -> None:
    """Open one issue per broken file version in the repository that holds the file."""
    file = loaded.broken_file
    if file is None or loaded.config.mode == "shadow":
        return
    full = f"{file.owner}/{file.repo}"
    if not ctx.store.claim_config_report(full, file.path, file.sha, loaded.errors):
        return
    try:
        await gh.post(
            "/repos/{owner}/{repo}/issues",
            {"owner": file.owner, "repo": file.repo},
            data={
                "title": f"Steward: {file.path or CONFIG_PATH} has errors",
                "body": config_report_body(file.path, file.sha, loaded.errors),
            },
        )
    except Exception:
        ctx.store.release_config_report(full, file.path, file.sha)
        raise


async def issue_comment_bodies(gh: GitHubAPI, owner: str, repo: str, number: int) -> list[str]:
    """Every comment body on an issue or pull request (all pages)."""
    bodies: list[str] = []
    async for comment in gh.getiter(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments{?per_page}",
        {"owner": owner, "repo": repo, "issue_number": number, "per_page": 100},
    ):
        bodies.append(str(comment.get("body") or ""))
    return bodies


async def post_comment_once(
    gh: GitHubAPI, owner: str, repo: str, number: int, body: str, marker: str
) -> bool:
    """Comment unless a comment carrying ``marker`` exists already; True if posted."""
    if any(marker in b for b in await issue_comment_bodies(gh, owner, repo, number)):
        return False
    await gh.post(
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        {"owner": owner, "repo": repo, "issue_number": number},
        data={"body": body},
    )
    return True


def record(ctx: TaskContext, record: ActionRecord) -> None:
    """Append to the audit log (a repeat of the same effect is a no-op)."""
    if not ctx.store.record_action(record):
        log.info("effect %s was already recorded", record.effect_key)


def describe(record: ActionRecord) -> dict[str, Any]:
    """A short dict for task results and the demo's printout."""
    return {"effect": record.effect_key, "action": record.action, "mode": record.mode}
