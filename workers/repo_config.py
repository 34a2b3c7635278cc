"""Reading a repository's ``.github/steward.yml`` the way Probot reads app config.

Order: built-in defaults, then the org's ``.github`` repository's file, then the
repository's own file; ``_extends`` pulls in another file beneath the one that names
it. Files are read from the default branch through the contents API; the client's
ETag cache makes unchanged files cost a 304. A broken file never raises: its errors
come back with the (default-filled) config so the caller can report them.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any

from gidgethub import BadRequest
from gidgethub.abc import GitHubAPI

from core.config_schema import (
    CONFIG_PATH,
    ConfigSyntaxError,
    RepoConfig,
    deep_merge,
    load_yaml,
    parse_config,
    parse_extends,
)

log = logging.getLogger(__name__)

MAX_EXTENDS_DEPTH = 3


@dataclass(frozen=True)
class ConfigFile:
    """One file as read from GitHub."""

    owner: str
    repo: str
    path: str
    sha: str
    text: str
    html_url: str = ""


@dataclass
class LoadedConfig:
    """The effective config plus what went wrong while reading it."""

    config: RepoConfig
    errors: list[str] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)

    @property
    def broken_file(self) -> ConfigFile | None:
        """The file to blame in an error report (the repository's own, if read)."""
        return self.files[-1] if self.errors and self.files else None


async def fetch_file(gh: GitHubAPI, owner: str, repo: str, *, path: str) -> ConfigFile | None:
    """A file from the default branch, or None if it (or the repository) does not exist.

    Used for config files, CONTRIBUTING.md and CODEOWNERS alike.
    """
    try:
        data: dict[str, Any] = await gh.getitem(
            "/repos/{owner}/{repo}/contents/{+path}",
            {"owner": owner, "repo": repo, "path": path},
        )
    except BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    if not isinstance(data, dict) or data.get("type", "file") != "file":
        return None
    text = base64.b64decode(data.get("content", "")).decode("utf-8", errors="replace")
    return ConfigFile(
        owner, repo, path, str(data.get("sha", "")), text, str(data.get("html_url") or "")
    )


async def _read_with_extends(
    gh: GitHubAPI,
    file: ConfigFile,
    *,
    errors: list[str],
    files: list[ConfigFile],
    depth: int = 0,
) -> dict[str, Any]:
    """A file's mapping with everything it ``_extends`` merged beneath it."""
    try:
        raw = load_yaml(file.text)
    except ConfigSyntaxError as exc:
        errors.append(f"{file.owner}/{file.repo}:{file.path}: {exc}")
        return {}
    target = parse_extends(raw.get("_extends"), owner=file.owner)
    if target is None:
        return raw
    if depth >= MAX_EXTENDS_DEPTH:
        errors.append(f"{file.path}: `_extends` nested deeper than {MAX_EXTENDS_DEPTH} files")
        return raw
    base_file = await fetch_file(gh, target[0], target[1], path=target[2])
    if base_file is None:
        errors.append(f"_extends: {'/'.join(target[:2])}:{target[2]} was not found")
        return raw
    files.insert(0, base_file)
    base = await _read_with_extends(gh, base_file, errors=errors, files=files, depth=depth + 1)
    return deep_merge(base, raw)


async def load_repo_config(gh: GitHubAPI, owner: str, repo: str) -> LoadedConfig:
    """The effective configuration of ``owner/repo`` (defaults ← org ← repo)."""
    errors: list[str] = []
    files: list[ConfigFile] = []
    merged: dict[str, Any] = {}
    if repo != ".github":
        org_file = await fetch_file(gh, owner, ".github", path=CONFIG_PATH)
        if org_file is not None:
            files.append(org_file)
            merged = await _read_with_extends(gh, org_file, errors=errors, files=files)
    repo_file = await fetch_file(gh, owner, repo, path=CONFIG_PATH)
    if repo_file is not None:
        files.append(repo_file)
        repo_map = await _read_with_extends(gh, repo_file, errors=errors, files=files)
        merged = deep_merge(merged, repo_map)
    config, schema_errors = parse_config(merged)
    errors.extend(schema_errors)
    if errors:
        log.warning("invalid configuration: %s", "; ".join(errors))
    return LoadedConfig(config=config, errors=errors, files=files)
