"""Welcoming first-time contributors: the pure decisions (whom, whether, what to say).

The I/O flow in :mod:`workers.welcome.flow` fetches what these functions need and applies
what they return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from core.config_schema import WelcomeConfig
from core.markdown import JOINER, inert, is_login

WelcomeKind = Literal["issue", "pull_request", "merged_pull_request", "discussion"]
KINDS: tuple[WelcomeKind, ...] = ("issue", "pull_request", "merged_pull_request", "discussion")
MEMBER_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})

_env = SandboxedEnvironment(autoescape=False, trim_blocks=True)


def marker(kind: WelcomeKind) -> str:
    """The hidden HTML comment that identifies a welcome of this kind."""
    return f"<!-- steward:welcome:{kind} -->"


def effect_key(repo_full_name: str, number: int, kind: WelcomeKind) -> str:
    """The audit-log key of one welcome (one per item and kind, ever)."""
    return f"welcome:{repo_full_name}#{number}:{kind}"


def kind_enabled(config: WelcomeConfig, kind: WelcomeKind) -> bool:
    """Whether the repository wants this kind of welcome."""
    return config.enabled and bool(getattr(config, kind))


def skip_reason(
    config: WelcomeConfig, *, login: str, account_type: str, association: str
) -> str | None:
    """Why this author is not welcomed (bot, member), or None to go on checking."""
    if (account_type == "Bot" or login.endswith("[bot]")) and not config.include_bots:
        return "author is a bot"
    if association.upper() in MEMBER_ASSOCIATIONS and not config.include_members:
        return f"author is {association.lower()}"
    return None


def is_prior(kind: WelcomeKind, item: Mapping[str, Any], number: int) -> bool:
    """Whether an item from the author's issue list counts against a first-time welcome.

    The issues API lists pull requests too (with a ``pull_request`` key); a merged one
    carries ``pull_request.merged_at``.
    """
    if item.get("number") == number:
        return False
    pull = item.get("pull_request")
    if kind == "issue":
        return pull is None
    if kind == "pull_request":
        return pull is not None
    if kind == "merged_pull_request":
        return isinstance(pull, Mapping) and bool(pull.get("merged_at"))
    return False


def first_time(kind: WelcomeKind, authored: Iterable[Mapping[str, Any]], number: int) -> bool:
    """True if none of the author's other items is of this kind (stops at the first one)."""
    return not any(is_prior(kind, item, number) for item in authored)


def template_for(config: WelcomeConfig, kind: WelcomeKind) -> str:
    """The configured template of a kind."""
    return str(getattr(config, f"{kind}_message"))


def safe_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """What a template may show, with people's text made inert: the author only as a
    login that fits GitHub's rule (the templates write ``@{{ author }}`` on purpose),
    the good first issues' titles inert. ``repo``, ``number`` and ``contributing_url``
    are GitHub's own (a repository name and a URL GitHub gave us) and stay as they are.
    """
    author = str(context.get("author") or "")
    issues = [
        {"number": int(issue["number"]), "title": inert(issue.get("title") or "", limit=200)}
        for issue in context.get("good_first_issues") or []
    ]
    return {
        **context,
        # Not a login: after the template's ``@`` the joiner keeps it from mentioning.
        "author": author if is_login(author) else JOINER + inert(author),
        "good_first_issues": issues,
    }


def render_welcome(
    config: WelcomeConfig, kind: WelcomeKind, context: Mapping[str, Any]
) -> tuple[str, str | None]:
    """The comment body (with its marker) and, if the custom template broke, why.

    The context goes through :func:`safe_context` first. A broken custom template
    falls back to the built-in one rather than staying silent.
    """
    context = safe_context(context)
    error: str | None = None
    try:
        text = _env.from_string(template_for(config, kind)).render(**context)
    except TemplateError as exc:
        error = f"welcome.{kind}_message: {exc}"
        text = _env.from_string(template_for(WelcomeConfig(), kind)).render(**context)
    return f"{text.strip()}\n\n{marker(kind)}", error
