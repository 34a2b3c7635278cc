"""The context handlers receive: the parsed envelope and a list of jobs to queue."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.payloads import Envelope, Item
from core.tasks import A, KindArgs, Task

T = TypeVar("T")
K = TypeVar("K", bound=KindArgs)


@dataclass(frozen=True)
class Job:
    """One Celery task to queue: its registered name and scalar keyword arguments."""

    task: str
    kwargs: dict[str, Any]


@dataclass
class Dispatch:
    """Collects the jobs an event produces; the receiver queues them after routing."""

    envelope: Envelope
    jobs: list[Job] = field(default_factory=list)
    _parsed: dict[Callable[..., Any], Any] = field(default_factory=dict)

    def parse(self, parser: Callable[[Mapping[str, Any]], T], data: Mapping[str, Any]) -> T:
        """``parser(data)``, once per delivery: several features route the same event."""
        if parser not in self._parsed:
            self._parsed[parser] = parser(data)
        return typing.cast(T, self._parsed[parser])

    def enqueue(self, task: Task[A], args: A) -> None:
        """Ask for ``task`` to run with ``args`` (the delivery id added when unset)."""
        kwargs = task.message(args)
        if kwargs["delivery_id"] is None:
            kwargs["delivery_id"] = self.envelope.delivery_id
        self.jobs.append(Job(task=task.name, kwargs=kwargs))

    def enqueue_item(self, task: Task[K], item: Item) -> None:
        """Ask for ``task`` to run about ``item`` (its ids, kind and node id)."""
        args = task.args(
            installation_id=self.envelope.installation_id,
            owner=item.repo.owner,
            repo=item.repo.name,
            number=item.number,
            kind=item.kind,
            node_id=item.node_id,
        )
        self.enqueue(task, args)
