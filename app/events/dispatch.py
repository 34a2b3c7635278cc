"""The context handlers receive: the parsed envelope and a list of jobs to queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.payloads import Envelope


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

    def enqueue(self, task: str, **kwargs: Any) -> None:
        """Ask for ``task`` to run with these ids and fields (delivery id added)."""
        kwargs.setdefault("delivery_id", self.envelope.delivery_id)
        self.jobs.append(Job(task=task, kwargs=kwargs))
