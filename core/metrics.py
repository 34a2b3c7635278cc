"""Steward's Prometheus metrics: their definitions, where they are written, and the text
one scrape returns.

Every process (each web process of ``steward serve``, each Celery worker and its prefork
children) writes its samples to files in one directory, prometheus_client's
multiprocess mode, named by host and pid (``counter_<host>-<pid>.db``) so containers
that share the directory through a volume never write one another's files.
``GET /metrics`` (:mod:`app.metrics`) merges the files at scrape time and adds what is
read then (queue depth, live label precision). Nothing happens at import:
:func:`configure_metrics` picks the directory (``Settings.metrics_dir_or_default``) and
:func:`metrics` builds the metric objects on first use. A process that never
configures a directory (a test, a one-off command) keeps its samples in memory.

Labels are of low cardinality only: event names, outcomes, task names, queue names,
installation ids and repository names, never a delivery id, a login or an issue number.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

#: The classic text format, which every Prometheus version reads (the names here need
#: none of the newer format's escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: prometheus_client reads the directory of its multiprocess files from this variable.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: How a task run ended (``steward_tasks_total{outcome}``).
TASK_OUTCOMES = ("succeeded", "skipped", "retried", "failed", "rejected")
#: Seconds; tasks run from milliseconds (a welcome) to an hour (a retrain).
TASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
INFERENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class Metrics:
    """The metrics every process writes (read back merged by ``/metrics``)."""

    registry: CollectorRegistry
    deliveries: Counter
    tasks: Counter
    task_seconds: Histogram
    rate_limit_remaining: Gauge
    inference_batch_size: Histogram
    inference_seconds: Histogram


def build_metrics() -> Metrics:
    """Fresh metric objects, registered in a registry of their own (not the global one)."""
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        deliveries=Counter(
            "steward_deliveries",
            "Webhook deliveries received, by event and how they were answered.",
            ["event", "outcome"],
            registry=registry,
        ),
        tasks=Counter(
            "steward_tasks",
            "Task runs, by task name and how they ended.",
            ["task", "outcome"],
            registry=registry,
        ),
        task_seconds=Histogram(
            "steward_task_seconds",
            "Duration of one task run, by task name.",
            ["task"],
            buckets=TASK_BUCKETS,
            registry=registry,
        ),
        rate_limit_remaining=Gauge(
            "steward_github_rate_limit_remaining",
            "GitHub's x-ratelimit-remaining on the latest response, by installation.",
            ["installation"],
            multiprocess_mode="mostrecent",
            registry=registry,
        ),
        inference_batch_size=Histogram(
            "steward_inference_batch_size",
            "Items per inference forward pass, by classifier.",
            ["source"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        inference_seconds=Histogram(
            "steward_inference_seconds",
            "Duration of one inference forward pass, by classifier.",
            ["source"],
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        ),
    )


_lock = threading.Lock()
_state: dict[str, Any] = {"metrics": None, "directory": None}


def metrics() -> Metrics:
    """This process's metric objects, built on first use (after :func:`configure_metrics`)."""
    with _lock:
        built = _state["metrics"]
        if built is None:
            built = _state["metrics"] = build_metrics()
        assert isinstance(built, Metrics)
        return built


def metrics_directory() -> Path | None:
    """The configured multiprocess directory (None: samples stay in this process)."""
    directory = _state["directory"]
    return directory if isinstance(directory, Path) else None


def configure_metrics(directory: Path | None, *, clean: bool = False) -> Path | None:
    """Write this process's metrics (and its children's) to ``directory``.

    Sets ``PROMETHEUS_MULTIPROC_DIR`` for this process and the processes it starts, and
    makes prometheus_client keep values in per-process files there. ``clean`` first
    removes the files of processes that are gone (at start-up of ``steward serve`` and
    ``steward worker``; while running, a dead process's counters are kept so totals
    never go down). ``None`` goes back to in-memory samples (tests).
    """
    with _lock:
        if directory is None:
            os.environ.pop(MULTIPROC_ENV, None)
            prometheus_values.ValueClass = prometheus_values.MutexValue
            _state.update(metrics=None, directory=None)
            return None
        directory = directory.resolve()
        directory.mkdir(parents=True, exist_ok=True)
        if clean:
            remove_dead_files(directory)
        if _state["directory"] != directory:
            os.environ[MULTIPROC_ENV] = str(directory)
            prometheus_values.ValueClass = prometheus_values.MultiProcessValue(  # type: ignore[no-untyped-call]
                process_identifier=process_identifier
            )
            _state.update(metrics=None, directory=directory)
        return directory


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def this_host() -> str:
    """This machine's (or container's) name as metric files carry it: no ``_`` (the
    file name's separator) and no ``-`` at the end."""
    return socket.gethostname().replace("_", "-").rstrip("-") or "localhost"


def process_identifier() -> str:
    """What names this process's metric files: ``<host>-<pid>``, unique across the
    containers of a deployment that share one metrics volume (their pids repeat)."""
    return f"{this_host()}-{os.getpid()}"


def file_owner(path: Path) -> tuple[str, int] | None:
    """``(host, pid)`` of a metric file (host "" for the older ``<kind>_<pid>.db``)."""
    ident = path.stem.rsplit("_", 1)[-1]
    host, _, pid = ident.rpartition("-")
    return (host, int(pid)) if pid.isdigit() else None


def remove_dead_files(directory: Path) -> list[Path]:
    """Remove the metric files of this host's processes that are not running.

    Files of other hosts (other containers on a shared volume) are theirs to clean when
    they start; their counters keep counting in the totals meanwhile.
    """
    removed = []
    for path in directory.glob("*.db"):
        owner = file_owner(path)
        if owner is None or owner[0] not in ("", this_host()) or owner[1] == os.getpid():
            continue
        if not pid_alive(owner[1]):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# ------------------------------------------------------------------ recording


def record_delivery(event: str, outcome: str) -> None:
    """Count one webhook delivery and how it was answered."""
    metrics().deliveries.labels(event, outcome).inc()


def record_task(task: str, outcome: str, seconds: float) -> None:
    """Count one task run (an outcome of :data:`TASK_OUTCOMES`) and its duration."""
    recorded = metrics()
    recorded.tasks.labels(task, outcome).inc()
    recorded.task_seconds.labels(task).observe(seconds)


def record_rate_limit(installation: str, remaining: float) -> None:
    """GitHub's remaining requests for an installation (``app``: the App's own JWT)."""
    metrics().rate_limit_remaining.labels(installation).set(remaining)


def record_batch(source: str, size: int, seconds: float) -> None:
    """One inference forward pass of ``size`` items that took ``seconds``."""
    recorded = metrics()
    recorded.inference_batch_size.labels(source).observe(size)
    recorded.inference_seconds.labels(source).observe(seconds)


# ------------------------------------------------------------------ scraping


def queue_depth_family(depths: Mapping[str, int]) -> GaugeMetricFamily:
    """``steward_queue_depth{queue}``: messages waiting or held per queue stream."""
    family = GaugeMetricFamily(
        "steward_queue_depth",
        "Task messages waiting or being worked on, per queue (read at scrape time).",
        labels=["queue"],
    )
    for queue, depth in sorted(depths.items()):
        family.add_metric([queue], depth)
    return family


def precision_families(per_repo: Mapping[str, Mapping[str, Any]]) -> list[Metric]:
    """Live label precision per repository and mode, and how many labels it judged."""
    precision = GaugeMetricFamily(
        "steward_label_precision",
        "Share of the bot's judged label decisions people kept (live) or made (shadow).",
        labels=["repo", "mode"],
    )
    judged = GaugeMetricFamily(
        "steward_label_judged",
        "Label decisions judged by people so far, per repository and mode.",
        labels=["repo", "mode"],
    )
    decisions = GaugeMetricFamily(
        "steward_triage_decisions",
        "Triage decisions recorded, per repository.",
        labels=["repo"],
    )
    for repo, result in sorted(per_repo.items()):
        decisions.add_metric([repo], float(result["decisions"]))
        for mode in ("live", "shadow"):
            judged.add_metric([repo, mode], float(result[f"{mode}_judged"]))
            value = result[f"{mode}_precision"]
            if value is not None:
                precision.add_metric([repo, mode], float(value))
    return [precision, judged, decisions]


class _Fixed:
    """A collector that yields metric families computed before the scrape."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def render(extra: Sequence[Metric] = (), *, directory: Path | None = None) -> bytes:
    """The Prometheus text of every process's metrics plus ``extra`` families.

    With a multiprocess directory (``directory``, else the configured one), its files
    are merged; without one, this process's own samples are shown.
    """
    directory = directory or metrics_directory()
    if directory is None:
        registry = metrics().registry
        text = generate_latest(registry)
        return text + generate_latest(_registry_of(extra)) if extra else text
    registry = _registry_of(extra)
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _registry_of(families: Sequence[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return registry
