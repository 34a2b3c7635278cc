"""Task contracts: each task's name, queue and typed arguments, defined once.

The web process (and any flow that queues follow-up work) builds an argument object
and turns it into a message with :meth:`Task.message`; the worker turns the message
back into the same object with :meth:`Task.parse`. Both sides share the names and the
types, so mypy checks what goes on the queue and a message that does not fit is
refused at the worker's door with a clear :class:`TaskArgsError`, not deep in a flow.

Messages stay what they were before the contracts existed (the same task names and
keyword arguments, JSON scalars and lists), so tasks queued by an older web process
still run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

DEFAULT_QUEUE = "steward"
#: Model inference and training run on their own queue so GPU workers can take it alone.
INFERENCE_QUEUE = "steward.inference"
#: Where a task waits in its installation's lane (:mod:`core.streams`): interactive work
#: (someone is waiting for it to show on GitHub) is always served before background work.
INTERACTIVE = "i"
BACKGROUND = "b"


class TaskArgsError(ValueError):
    """A task message whose arguments do not match the task's contract."""


@dataclass(frozen=True, kw_only=True)
class TaskArgs:
    """What every task carries: the delivery that caused it, for logs and the audit."""

    delivery_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class RepoArgs(TaskArgs):
    """A task about one repository of one installation.

    ``installation_id`` is None for a delivery that names no installation (a webhook
    set up on a repository rather than through the App); such a task cannot act.
    """

    installation_id: int | None
    owner: str
    repo: str

    @property
    def full_name(self) -> str:
        """``owner/repo``."""
        return f"{self.owner}/{self.repo}"

    def installation(self) -> int:
        """The installation to act as; :class:`TaskArgsError` when the delivery named none."""
        if self.installation_id is None:
            raise TaskArgsError(f"{self.full_name}: the delivery names no App installation")
        return self.installation_id


@dataclass(frozen=True, kw_only=True)
class ItemArgs(RepoArgs):
    """A task about one issue, pull request or discussion."""

    number: int


@dataclass(frozen=True, kw_only=True)
class KindArgs(ItemArgs):
    """An item task that also carries the item's kind (``issue``, ``pull_request`` or
    ``discussion``) and GraphQL node id (discussions are reached through it)."""

    kind: str
    node_id: str = ""


@dataclass(frozen=True, kw_only=True)
class TriageArgs(KindArgs):
    """Label a new item."""


@dataclass(frozen=True, kw_only=True)
class WelcomeArgs(ItemArgs):
    """Welcome the author of a new item, if it is their first of ``kind``."""

    kind: str
    author: str
    author_type: str = "User"
    association: str = "NONE"
    node_id: str = ""


@dataclass(frozen=True, kw_only=True)
class PullArgs(ItemArgs):
    """A task about one pull request (reviewers, review history)."""


@dataclass(frozen=True, kw_only=True)
class IssueArgs(ItemArgs):
    """A task about one issue (people who could help)."""


@dataclass(frozen=True, kw_only=True)
class EmbedArgs(KindArgs):
    """Embed one item into the repository's semantic index."""


@dataclass(frozen=True, kw_only=True)
class IndexArgs(RepoArgs):
    """Embed a repository's stored history and open issues (after a backfill, or when
    its encoder changed)."""


@dataclass(frozen=True, kw_only=True)
class BackfillArgs(RepoArgs):
    """Collect a repository's review history."""


@dataclass(frozen=True, kw_only=True)
class BootstrapArgs(RepoArgs):
    """Learn a newly installed repository's labels from its history and gate them."""


@dataclass(frozen=True, kw_only=True)
class RetrainArgs(RepoArgs):
    """Fine-tune a repository's triage model; ``force`` trains on unchanged data too.

    ``together`` names more repositories of the same owner, trained with it on one
    shared encoder (the scheduled retrain sends one task per org).
    """

    force: bool = False
    together: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CommandArgs(ItemArgs):
    """Run the commands in one comment on an item (``kind`` as for triage).

    The worker reads the comment again (REST ``comment_id``, or the discussion comment's
    ``comment_node_id``); ``digest`` names the version of the body the event carried,
    ``author`` who wrote it. ``node_id`` is the item's (a discussion's labels and
    comments are changed through GraphQL).
    """

    kind: str
    node_id: str = ""
    comment_id: int
    comment_node_id: str = ""
    digest: str
    author: str


@dataclass(frozen=True, kw_only=True)
class FeedbackArgs(TaskArgs):
    """A person added or removed a label (checked against what the bot did)."""

    installation_id: int | None
    owner: str
    repo: str
    number: int
    label: str
    added: bool
    actor: str


@dataclass(frozen=True, kw_only=True)
class InstallationArgs(TaskArgs):
    """An installation changed: ``added`` is ``(repository id, full name)`` pairs."""

    installation_id: int
    action: str
    account: str
    account_type: str
    added: tuple[tuple[int, str], ...] = ()
    removed: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FirstResponseArgs(ItemArgs):
    """An item opened (``answerer`` empty) or someone answered on it (``kind`` as for
    triage).

    The times are the event's own (ISO 8601): ``opened_at`` the item's, ``at`` the
    comment's or review's; ``association`` is the answerer's ``author_association``.
    """

    kind: str
    author: str
    opened_at: str
    answerer: str = ""
    association: str = "NONE"
    at: str = ""


@dataclass(frozen=True, kw_only=True)
class FollowupArgs(TaskArgs):
    """The periodic follow-up run (it queues one ``FOLLOWUP_REPO`` per repository);
    ``now`` (ISO 8601) replays a moment, empty: now."""

    now: str = ""


@dataclass(frozen=True, kw_only=True)
class DigestArgs(TaskArgs):
    """The periodic weekly-digest run (it queues one ``DIGEST_REPO`` per repository);
    ``now`` (ISO 8601) replays a moment, empty: now."""

    now: str = ""


@dataclass(frozen=True, kw_only=True)
class NoArgs(TaskArgs):
    """A task that needs nothing (periodic jobs)."""


@dataclass(frozen=True, kw_only=True)
class RouteArgs(TaskArgs):
    """One verified delivery to parse, route and fan out into feature tasks.

    The receiver keeps the body under the delivery's key (:mod:`core.deliveries`) and
    queues only this; ``installation_id`` is the lane it was queued in (None: no lane),
    ``content_type`` the delivery's ``Content-Type`` header.
    """

    event: str
    installation_id: int | None = None
    content_type: str = "application/json"


A = TypeVar("A", bound=TaskArgs)


@dataclass(frozen=True)
class Task(Generic[A]):
    """One task: its registered name, its argument type and the queue it runs on."""

    name: str
    args: type[A]
    queue: str = DEFAULT_QUEUE
    #: :data:`INTERACTIVE` or :data:`BACKGROUND`: which class of its lane it waits in.
    priority: str = INTERACTIVE

    def message(self, args: A) -> dict[str, Any]:
        """The task's keyword arguments as JSON values (tuples become lists)."""
        if not isinstance(args, self.args):
            raise TypeError(f"{self.name} takes {self.args.__name__}, not {type(args).__name__}")
        return {f.name: _to_json(getattr(args, f.name)) for f in dataclasses.fields(args)}

    def parse(self, kwargs: Mapping[str, Any]) -> A:
        """The typed arguments of a message; :class:`TaskArgsError` says what does not fit.

        Keys the contract does not know are ignored, so a message from a newer web
        process still runs on an older worker.
        """
        values = {}
        for name, hint in _hints(typing.cast(type, self.args)).items():
            if name in kwargs:
                values[name] = _coerce(f"{self.name}: {name}", hint, kwargs[name])
        try:
            return self.args(**values)
        except TypeError as exc:  # a required argument is missing
            raise TaskArgsError(f"{self.name}: {exc}") from None


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in names}


def _coerce(where: str, hint: Any, value: Any) -> Any:
    """``value`` checked against ``hint`` (JSON lists become the tuples the hint names)."""
    origin, params = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in params:
            try:
                return _coerce(where, option, value)
            except TaskArgsError:
                continue
        raise TaskArgsError(f"{where} must be {hint}, not {value!r:.80}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise TaskArgsError(f"{where} must be a list, not {value!r:.80}")
        if len(params) == 2 and params[1] is Ellipsis:
            return tuple(_coerce(where, params[0], v) for v in value)
        if len(params) != len(value):
            raise TaskArgsError(f"{where} must have {len(params)} items, not {value!r:.80}")
        return tuple(_coerce(where, p, v) for p, v in zip(params, value, strict=True))
    if hint is type(None):
        if value is None:
            return None
        raise TaskArgsError(f"{where} must be null, not {value!r:.80}")
    # bool is an int in Python, but a task number is never a boolean.
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise TaskArgsError(f"{where} must be {hint.__name__}, not {value!r:.80}")
    return value


TRIAGE = Task("steward.triage", TriageArgs, INFERENCE_QUEUE)
WELCOME = Task("steward.welcome", WelcomeArgs)
REVIEWERS = Task("steward.reviewers", PullArgs)
ISSUE_PEOPLE = Task("steward.issue_people", IssueArgs, INFERENCE_QUEUE)
RECOMMEND = Task("steward.recommend", PullArgs, INFERENCE_QUEUE)
EMBED = Task("steward.embed", EmbedArgs, INFERENCE_QUEUE, BACKGROUND)
INDEX = Task("steward.index", IndexArgs, INFERENCE_QUEUE, BACKGROUND)
RECORD_PULL = Task("steward.record_pull", PullArgs, DEFAULT_QUEUE, BACKGROUND)
BACKFILL = Task("steward.backfill", BackfillArgs, DEFAULT_QUEUE, BACKGROUND)
BOOTSTRAP = Task("steward.bootstrap", BootstrapArgs, INFERENCE_QUEUE, BACKGROUND)
RETRAIN = Task("steward.retrain", RetrainArgs, INFERENCE_QUEUE, BACKGROUND)
RETRAIN_ALL = Task("steward.retrain_all", NoArgs, DEFAULT_QUEUE, BACKGROUND)
RECOVER_DELIVERIES = Task("steward.recover_deliveries", NoArgs)
FEEDBACK = Task("steward.feedback", FeedbackArgs, DEFAULT_QUEUE, BACKGROUND)
INSTALLATION = Task("steward.installation", InstallationArgs)
COMMAND = Task("steward.command", CommandArgs)
FIRST_RESPONSE = Task("steward.first_response", FirstResponseArgs, DEFAULT_QUEUE, BACKGROUND)
FOLLOWUP = Task("steward.followup", FollowupArgs, DEFAULT_QUEUE, BACKGROUND)
DIGEST = Task("steward.digest", DigestArgs, DEFAULT_QUEUE, BACKGROUND)
#: Queued by the receiver, one per delivery: parse, route, fan out (``workers/routing.py``).
ROUTE = Task("steward.route", RouteArgs)

#: Every task, by name.
TASKS: dict[str, Task[Any]] = {
    t.name: t
    for t in (
        TRIAGE,
        WELCOME,
        REVIEWERS,
        ISSUE_PEOPLE,
        RECOMMEND,
        EMBED,
        INDEX,
        RECORD_PULL,
        BACKFILL,
        BOOTSTRAP,
        RETRAIN,
        RETRAIN_ALL,
        RECOVER_DELIVERIES,
        FEEDBACK,
        INSTALLATION,
        COMMAND,
        FIRST_RESPONSE,
        FOLLOWUP,
        DIGEST,
        ROUTE,
    )
}


def priority_of(name: str) -> str:
    """The class a task of this name waits in (an unknown name is interactive)."""
    task = TASKS.get(name)
    return task.priority if task is not None else INTERACTIVE


def task_routes() -> dict[str, dict[str, str]]:
    """Celery's ``task_routes``: each task to its queue."""
    return {t.name: {"queue": t.queue} for t in TASKS.values()}


# Possible duplicates (issue 27) and matching per repository (issue 28): appended here so
# the contracts above stay as they were.


@dataclass(frozen=True, kw_only=True)
class DuplicatesArgs(ItemArgs):
    """Suggest possible duplicates of a new issue (the issue is embedded first)."""


@dataclass(frozen=True, kw_only=True)
class CalibrateDuplicatesArgs(RepoArgs):
    """Read a repository's issues and the ones people closed as duplicates, embed them and
    gate the duplicate suggestions on that history."""


@dataclass(frozen=True, kw_only=True)
class RefreshDuplicatesArgs(RepoArgs):
    """Read what changed since the last scan (new duplicates, corrections) and calibrate
    again when enough of it arrived."""


@dataclass(frozen=True, kw_only=True)
class ChooseMatchingArgs(RepoArgs):
    """Choose a repository's reviewer and people settings by replaying its history."""


DUPLICATES = Task("steward.duplicates", DuplicatesArgs, INFERENCE_QUEUE)
CALIBRATE_DUPLICATES = Task(
    "steward.calibrate_duplicates", CalibrateDuplicatesArgs, INFERENCE_QUEUE, BACKGROUND
)
REFRESH_DUPLICATES = Task(
    "steward.refresh_duplicates", RefreshDuplicatesArgs, DEFAULT_QUEUE, BACKGROUND
)
#: Run by Celery beat, daily: one ``REFRESH_DUPLICATES`` per active repository.
REFRESH_DUPLICATES_ALL = Task("steward.refresh_duplicates_all", NoArgs, DEFAULT_QUEUE, BACKGROUND)
CHOOSE_MATCHING = Task("steward.choose_matching", ChooseMatchingArgs, INFERENCE_QUEUE, BACKGROUND)

TASKS.update(
    {
        t.name: t
        for t in (
            DUPLICATES,
            CALIBRATE_DUPLICATES,
            REFRESH_DUPLICATES,
            REFRESH_DUPLICATES_ALL,
            CHOOSE_MATCHING,
        )
    }
)


# Periodic work fans out (issue 24, item 7): the scheduled run queues one task per
# repository, in that installation's lane, and each fails alone; forgetting what was
# uninstalled once its retention period is over runs daily.


@dataclass(frozen=True, kw_only=True)
class FollowupRepoArgs(RepoArgs):
    """One repository's share of the follow-up run; ``now`` as in :class:`FollowupArgs`."""

    now: str = ""


@dataclass(frozen=True, kw_only=True)
class DigestRepoArgs(RepoArgs):
    """One repository's weekly digest; ``now`` as in :class:`DigestArgs`."""

    now: str = ""


FOLLOWUP_REPO = Task("steward.followup_repo", FollowupRepoArgs, DEFAULT_QUEUE, BACKGROUND)
DIGEST_REPO = Task("steward.digest_repo", DigestRepoArgs, DEFAULT_QUEUE, BACKGROUND)
#: Run by Celery beat, daily: delete what was removed ``STEWARD_RETENTION_DAYS`` ago.
FORGET = Task("steward.forget", NoArgs, DEFAULT_QUEUE, BACKGROUND)

TASKS.update({t.name: t for t in (FOLLOWUP_REPO, DIGEST_REPO, FORGET)})
