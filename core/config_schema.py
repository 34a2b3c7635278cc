"""The per-repository configuration schema (``.github/steward.yml``), pure.

One typed schema: every field has a default and a description, and the schema is the
documentation (``steward config-docs`` prints it). Parsing never raises: an invalid
value is reported and its default kept, so a broken file never stops the bot.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

CONFIG_PATH = ".github/steward.yml"


#: A range check on a field's value: ``(predicate, what a valid value is)``.
Check = tuple[Callable[[Any], bool], str]


def _f(default: Any, description: str, *, check: Check | None = None) -> Any:
    """A schema field: a default, the sentence that documents it and an optional range
    check (a value of the right type that fails it is reported like a wrong type).
    """
    metadata = {"doc": description, "check": check}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


#: Status and workflow labels the bot never guesses (``triage.status_labels``).
DEFAULT_STATUS_LABELS = [
    "duplicate",
    "wontfix",
    "won't fix",
    "wont-fix",
    "invalid",
    "good first issue",
    "good-first-issue",
    "help wanted",
    "help-wanted",
    "stale",
    "needs triage",
    "needs-triage",
    "triage",
    "awaiting response",
    "needs more info",
    "needs info",
    "in progress",
    "in-progress",
    "blocked",
    "pinned",
    "dependencies",
    "released",
    "fixed",
    "resolved",
    "hacktoberfest",
    "hacktoberfest-accepted",
    "first-timers-only",
    "up-for-grabs",
    "do not merge",
    "do-not-merge",
    "wip",
    "work in progress",
    "status/*",
    "status:*",
    "resolution/*",
    "resolution:*",
    "lifecycle/*",
    "triage/*",
    "needs-*",
    "do-not-merge/*",
]


DEFAULT_ISSUE_WELCOME = (
    "Thanks for opening your first issue in {{ repo }}, @{{ author }}! :wave:\n\n"
    "A maintainer will look at it soon. In the meantime, please make sure it includes "
    "the steps to reproduce and the versions you use."
    "{% if contributing_url %} Our [contributing guide]({{ contributing_url }}) "
    "explains how we work.{% endif %}"
    "{% if good_first_issues %}\n\nLooking for something to work on? These open issues "
    "are good for newcomers and close to what you wrote:\n"
    "{% for issue in good_first_issues %}\n- #{{ issue.number }} {{ issue.title }}"
    "{% endfor %}{% endif %}"
)
DEFAULT_PR_WELCOME = (
    "Thanks for your first pull request to {{ repo }}, @{{ author }}! :tada:\n\n"
    "A maintainer will review it soon."
    "{% if contributing_url %} Please have a look at our "
    "[contributing guide]({{ contributing_url }}) while you wait.{% endif %}"
)
DEFAULT_MERGED_WELCOME = (
    "Congratulations on your first merged pull request in {{ repo }}, @{{ author }}! :rocket:"
    " We hope to see more from you."
)
DEFAULT_DISCUSSION_WELCOME = (
    "Welcome to the {{ repo }} discussions, @{{ author }}! :wave: Thanks for starting "
    "your first discussion; the community will chime in soon."
)


@dataclass(frozen=True)
class WelcomeConfig:
    """Welcome messages for first-time contributors."""

    enabled: bool = _f(True, "Post welcome comments at all.")
    issue: bool = _f(True, "Welcome a person's first issue in the repository.")
    pull_request: bool = _f(True, "Welcome a person's first pull request.")
    merged_pull_request: bool = _f(True, "Congratulate a person's first merged pull request.")
    discussion: bool = _f(True, "Welcome a person's first discussion.")
    include_members: bool = _f(
        False, "Also welcome owners, members and collaborators (skipped by default)."
    )
    include_bots: bool = _f(False, "Also welcome bot accounts (skipped by default).")
    issue_message: str = _f(DEFAULT_ISSUE_WELCOME, "Template (Jinja2, sandboxed) for issues.")
    pull_request_message: str = _f(DEFAULT_PR_WELCOME, "Template for pull requests.")
    merged_pull_request_message: str = _f(DEFAULT_MERGED_WELCOME, "Template for merged PRs.")
    discussion_message: str = _f(DEFAULT_DISCUSSION_WELCOME, "Template for discussions.")
    contributing_path: str = _f(
        "CONTRIBUTING.md", "Path linked as `contributing_url` in templates when the file exists."
    )
    good_first_issues: int = _f(
        3, "List up to this many matching good first issues in a first issue's welcome (0: none)."
    )


@dataclass(frozen=True)
class TriageConfig:
    """Automatic labelling of new issues, pull requests and discussions."""

    enabled: bool = _f(True, "Label new issues, pull requests and discussions.")
    issues: bool = _f(True, "Label new issues.")
    pull_requests: bool = _f(True, "Label new pull requests.")
    discussions: bool = _f(True, "Label new discussions.")
    allow: list[str] = _f([], "Only ever apply these labels (empty: any label of the repo).")
    deny: list[str] = _f([], "Never apply these labels.")
    aliases: dict[str, str] = _f({}, "Map a model label to the repository's label name.")
    min_confidence: dict[str, float] = _f(
        {},
        "Per-label minimum probability, overriding the gate's threshold; a label named here "
        "is the maintainer's call and applies without waiting for the gate.",
    )
    max_labels: int = _f(3, "Apply at most this many labels to one item.")
    explain: bool = _f(False, "Post a short comment explaining the labels (off: no noise).")
    zero_shot: bool = _f(
        True,
        "Before a model is trained, classify by nearest neighbours over the labelled history "
        "(gated like a model).",
    )
    good_first_issue: Literal["off", "suggest", "label"] = _f(
        "suggest",
        "Easy, well-described new issues: `suggest` records the proposal in the audit log, "
        "`label` also applies the repository's `good first issue` label.",
    )
    precision: float = _f(
        0.95,
        "A label goes live only when the lower confidence bound of its precision, measured "
        "on the repository's labelled items at thresholds chosen on other items, reaches "
        "this; below it the label stays in shadow.",
        check=(lambda x: 0 < x <= 1, "a number above 0 and at most 1"),
    )
    confidence: float = _f(
        0.95,
        "How sure that bound is: at 0.95 a label whose precision is really below "
        "`precision` goes live at most 5 % of the time (at the defaults a label needs 59 "
        "right decisions without a mistake, or 93 with one).",
        check=(lambda x: 0.5 <= x < 1, "a number from 0.5 up to (not including) 1"),
    )
    min_support: int = _f(
        10,
        "How many times a label must have been applied on held-out items before it can go "
        "live, whatever the bound says.",
        check=(lambda x: x >= 1, "at least 1"),
    )
    status_labels: list[str] = _f(
        DEFAULT_STATUS_LABELS,
        "Status and workflow labels the bot never guesses (case-insensitive; a trailing `*` "
        "matches a prefix, e.g. `status/*`). Set `[]` to learn them from history alone.",
    )
    report: Literal["off", "issue"] = _f(
        "off",
        "`issue`: once the history is read, open one issue that says which labels went live "
        "and which stay in shadow (`steward status` shows the same; off: no noise).",
    )
    duplicates: Literal["off", "shadow", "live"] = _f(
        "shadow",
        "Possible duplicates of a new issue among the earlier ones: `shadow` records the "
        "decision in the audit log only; `live` comments (or labels, `duplicates.how`) once "
        "the lower confidence bound of the top suggestion's precision, measured on the issues "
        "people closed as duplicates, reaches `precision` (gated like a label); `off`.",
    )


@dataclass(frozen=True)
class ReviewersConfig:
    """Reviewer suggestions for pull requests and people for issues."""

    mode: Literal["request", "suggest", "off"] = _f(
        "suggest", "`request` reviewers, `suggest` them in one comment, or `off`."
    )
    count: int = _f(2, "How many reviewers to request or suggest.")
    teams: list[str] = _f([], "Team slugs that may be requested alongside people.")
    never: list[str] = _f([], "Logins never to request (org-wide list belongs in the org file).")
    skip_drafts: bool = _f(True, "Wait until a draft pull request is ready for review.")
    issues: Literal["mention", "assign", "record", "off"] = _f(
        "record", "For new issues: `mention` people who could help, `assign`, or only `record`."
    )
    load: dict[str, float] = _f(
        {},
        "The load discount, overriding the one chosen by replaying the repository's own "
        "history: `free_load`, the workload that costs nothing (1.0: the average person's), "
        "and `per_request`, how much each further average workload divides a person's score "
        "by (0 turns the discount off); a key left out keeps the fixed policy's (1.2, 1.0). "
        "Set it in the org's `.github` to apply it everywhere; empty: the calibrated discount.",
        check=(
            lambda x: set(x) <= {"per_request", "free_load"} and all(v >= 0 for v in x.values()),
            "a mapping of `per_request` and/or `free_load`, each at least 0",
        ),
    )


@dataclass(frozen=True)
class RecommendConfig:
    """Work suggested to returning contributors (opt-in: never commented by default)."""

    after_merge: Literal["comment", "record", "off"] = _f(
        "off",
        "When a returning contributor's pull request is merged: `comment` with up to "
        "`count` open issues that match their work, only `record` them, or `off`.",
    )
    count: int = _f(3, "Issues listed at most.", check=(lambda x: 1 <= x <= 3, "1, 2 or 3"))


@dataclass(frozen=True)
class CommandsConfig:
    """Commands people write in comments (`/label`, `/assign`, `/steward help`, …)."""

    enabled: bool = _f(
        True,
        "Run commands written at the start of a line in comments on issues, pull requests "
        "and discussions (see *Commands in comments*).",
    )
    max_replies_per_hour: int = _f(
        3,
        "New replies one person gets from commands on one item within an hour; past it, "
        "refused commands get a reaction only (a reply to an edited comment is edited in "
        "place and does not count).",
        check=(lambda x: x >= 0, ">= 0"),
    )


@dataclass(frozen=True)
class FollowupConfig:
    """No question left unanswered: route items nobody answered (opt-in)."""

    enabled: bool = _f(
        False,
        "Once an hour, route each issue, pull request or discussion no maintainer answered "
        "within `after_hours` to the best-matched, least-loaded maintainer, once.",
    )
    after_hours: int = _f(
        72, "Hours without a maintainer's reply before routing.", check=(lambda x: x >= 1, ">= 1")
    )
    how: Literal["mention", "assign"] = _f(
        "mention",
        "`mention` the maintainer in one comment, or `assign` them (discussions, which "
        "have no assignees, always get the mention).",
    )


@dataclass(frozen=True)
class DigestConfig:
    """A weekly digest of the dashboard's numbers, edited in place (opt-in)."""

    issue: bool = _f(
        False,
        "Open one issue per ISO week with the digest and edit it in place every 6 hours; "
        "when the next week's issue opens, Steward closes its previous digest issue.",
    )
    discussion: str = _f(
        "",
        "A discussion category (e.g. `Announcements`): post the digest there as one "
        "discussion per week, edited in place (empty: off).",
    )


@dataclass(frozen=True)
class DuplicatesConfig:
    """Possible duplicates of new issues (`triage.duplicates` turns them on and off)."""

    how: Literal["comment", "label"] = _f(
        "comment",
        "Once live: one `comment` listing up to `count` earlier issues with their state, or "
        "only the `label`. Nothing is ever closed.",
    )
    label: str = _f("possible duplicate", "The label applied when `how` is `label`.")
    count: int = _f(
        3, "Earlier issues a comment lists at most.", check=(lambda x: 1 <= x <= 3, "1, 2 or 3")
    )
    history_labels: list[str] = _f(
        ["duplicate"],
        "Labels that mark an issue people closed as a duplicate (with a link to the earlier "
        "issue in a comment), besides `Duplicate of #N` comments and the duplicate close "
        "reason (case-insensitive).",
    )


@dataclass(frozen=True)
class RepoConfig:
    """The whole `.github/steward.yml`; every section is optional."""

    mode: Literal["live", "shadow"] = _f(
        "live", "`shadow` records what the bot would do and writes nothing to GitHub."
    )
    welcome: WelcomeConfig = field(default_factory=WelcomeConfig, metadata={"doc": "Welcomes."})
    triage: TriageConfig = field(default_factory=TriageConfig, metadata={"doc": "Labelling."})
    reviewers: ReviewersConfig = field(
        default_factory=ReviewersConfig, metadata={"doc": "Reviewers and people."}
    )
    recommend: RecommendConfig = field(
        default_factory=RecommendConfig, metadata={"doc": "Work for returning contributors."}
    )
    commands: CommandsConfig = field(
        default_factory=CommandsConfig, metadata={"doc": "Commands in comments."}
    )
    followup: FollowupConfig = field(
        default_factory=FollowupConfig, metadata={"doc": "No question left unanswered."}
    )
    digest: DigestConfig = field(
        default_factory=DigestConfig, metadata={"doc": "The weekly digest."}
    )
    duplicates: DuplicatesConfig = field(
        default_factory=DuplicatesConfig, metadata={"doc": "Possible duplicates."}
    )


class ConfigSyntaxError(ValueError):
    """The YAML itself cannot be read."""


def load_yaml(text: str) -> dict[str, Any]:
    """Parse a config file's YAML into a mapping (an empty file is an empty mapping)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigSyntaxError(f"not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigSyntaxError("the file must be a mapping of sections (e.g. `welcome:`)")
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge mappings recursively; lists and scalars in ``override`` replace ``base``'s."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in get_args(tp))}]"
    return getattr(tp, "__name__", str(tp))


def _check_value(tp: Any, value: Any) -> bool:
    origin = get_origin(tp)
    if origin is Literal:
        return value in get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_check_value(a, value) for a in get_args(tp))
    if origin is list:
        (item,) = get_args(tp)
        return isinstance(value, list) and all(_check_value(item, v) for v in value)
    if origin is dict:
        key_t, val_t = get_args(tp)
        return isinstance(value, dict) and all(
            _check_value(key_t, k) and _check_value(val_t, v) for k, v in value.items()
        )
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    return False


def _out_of_range(cls: type[Any], key: str, value: Any) -> str | None:
    """What a value of the right type must be instead, when the field's check fails."""
    check = next(f.metadata.get("check") for f in dataclasses.fields(cls) if f.name == key)
    if check is None or check[0](value):
        return None
    return str(check[1])


def _build(cls: type[Any], raw: Mapping[str, Any], where: str, errors: list[str]) -> Any:
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key.startswith("_"):
            continue
        if key not in hints:
            errors.append(f"{where}{key}: unknown setting (known: {', '.join(sorted(hints))})")
            continue
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if isinstance(value, Mapping):
                values[key] = _build(tp, value, f"{where}{key}.", errors)  # type: ignore[arg-type]
            else:
                errors.append(f"{where}{key}: must be a mapping of settings")
        elif not _check_value(tp, value):
            errors.append(f"{where}{key}: expected {_type_name(tp)}, got {value!r}")
        elif problem := _out_of_range(cls, key, value):
            errors.append(f"{where}{key}: expected {problem}, got {value!r}")
        else:
            values[key] = float(value) if tp is float else value
    return cls(**values)


def parse_config(raw: Mapping[str, Any]) -> tuple[RepoConfig, list[str]]:
    """Build a :class:`RepoConfig` from merged YAML; invalid values keep their defaults."""
    errors: list[str] = []
    config = _build(RepoConfig, raw, "", errors)
    return config, errors


def parse_extends(value: Any, *, owner: str) -> tuple[str, str, str] | None:
    """Probot's ``_extends`` value → (owner, repo, path).

    Accepts ``repo``, ``owner/repo`` and ``owner/repo:path``.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    target, _, path = value.strip().partition(":")
    base_owner, _, base_repo = target.rpartition("/")
    return (base_owner or owner, base_repo, path or CONFIG_PATH)


def schema_docs(cls: type[Any] = RepoConfig, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) rows for every setting, for the docs."""
    rows: list[tuple[str, str, str, str]] = []
    hints = get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(schema_docs(tp, f"{prefix}{f.name}."))  # type: ignore[arg-type]
            continue
        default = getattr(defaults, f.name)
        shown = "(template)" if isinstance(default, str) and "{{" in default else repr(default)
        rows.append((f"{prefix}{f.name}", _type_name(tp), shown, f.metadata.get("doc", "")))
    return rows


def schema_markdown() -> str:
    """The configuration reference as a Markdown table."""
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, tp, default, doc in schema_docs():
        cells = (f"`{key}`", f"`{tp}`", f"`{default}`", doc)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
