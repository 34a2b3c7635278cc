"""Benchmark an org-wide bootstrap inside GitHub's limits (issue 26).

An org of ``--repos`` repositories with ``--issues`` labelled issues each (texts of the
NLBSE'24 file, repeated with a variation once the file runs out; a person relabelled
every ninth issue, a bot added a label to every thirteenth) lives on a fake GitHub that
enforces GitHub's limits per installation (5,000 REST requests and 5,000 GraphQL points
an hour; 100 requests in flight; 900 REST and 2,000 GraphQL points a minute; 80
content-creating requests a minute and 500 an hour) on a clock ``--speed`` times faster
than the wall's, each answer taking ``--latency`` seconds.

The org's history is backfilled the way the bootstrap backfills it
(``workers.history.refresh_history``: GraphQL, a hundred items per query, into the
database, as background work in the installation's budget) by ``--workers`` collectors
at once, one per worker process that would run a bootstrap. Meanwhile a real bot
(``steward serve`` and a ``steward worker``) answers a newcomer's first issue (a welcome)
and a maintainer's ``/label bug`` every ``--interval`` seconds: interactive work.

Each run goes once with the budget's pacing on and once off (``--pacing``), and prints:
items, requests and GraphQL points per 1,000 items backfilled, the backfill's duration
(wall seconds; GitHub hours on the fake's clock; the hours GitHub's hourly limits alone
would need), the waits the budget or GitHub imposed on it, the fake's primary-limit
refusals (exhaustions) and secondary-limit answers, the most requests in flight, and the
latency of welcomes and ``/label`` (p50/p95, wall seconds from delivery to the effect).

The bootstrap's model work (taxonomy, embeddings, gates: minutes per repository on a
CPU) is not run: it makes one GitHub request (the repository's labels) and none while it
computes; ``tests/flows/test_bootstrap_flow.py`` bootstraps 2,500 issues whole within
the same request target. ``--backfill rest`` replays the collector the bootstrap used
before (``workers.collect.collect``: one request per labelled item) through the same
budget, to show what pacing does when the load reaches GitHub's limits.

    .venv/bin/python benchmarks/bench_org_scale.py [--repos 20] [--issues 2500]
        [--workers 4] [--speed 30] [--latency 0.02] [--backfill graphql|rest]
        [--pacing both|on|off] [--probes 10] [--interval 2] [--seed 0] [--json FILE]
        [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

import aiohttp  # noqa: E402
import redis  # noqa: E402

from benchmarks import bench_day_one as day_one  # noqa: E402
from benchmarks.bench_day_one import DEFAULT_LABELS, Row, bench_redis, load_rows, say  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from core.store import Store, open_store  # noqa: E402
from fakegithub.fake import FakeGitHub  # noqa: E402
from fakegithub.limits import FastClock, Limits  # noqa: E402
from tests.bot import Bot  # noqa: E402
from tests.support import APP_ID, INSTALLATION_ID, ORG, key_pair, opened  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "issues" / "nlbse24-train.csv"
MAINTAINER = "maintainer"
#: The org's configuration: triage off (the bootstrap's model work is not measured and
#: would be queued by the first issue of a repository never bootstrapped).
ORG_CONFIG = "triage:\n  enabled: false\n"
BASE = datetime(2023, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------------------- the org


def seed_org(fake: FakeGitHub, rows: Sequence[Row], *, repos: int, issues: int) -> list[str]:
    """``repos`` repositories of ``issues`` closed, labelled issues each; their names."""
    fake.add_repo(ORG, ".github", files={".github/steward.yml": ORG_CONFIG})
    names = []
    for r in range(repos):
        name = f"project-{r:02d}"
        fake.add_repo(ORG, name, collaborators={MAINTAINER: "maintain"})
        for label, colour, description in DEFAULT_LABELS:
            fake.add_label(ORG, name, label, color=colour, description=description)
        repo = fake.repo(ORG, name)
        for i in range(issues):
            k = r * issues + i
            row = rows[k % len(rows)]
            cycle = k // len(rows)
            made = fake.add_issue(
                ORG,
                name,
                title=row.title if cycle == 0 else f"{row.title} (#{cycle})",
                body=row.body[:4000],
                labels=[row.label],
                state="closed",
                created_at=BASE + timedelta(minutes=i),
            )
            if i % 9 == 0:  # a person relabelled it: events with an actor
                fake.set_labels(repo, made, [], MAINTAINER)
                fake.set_labels(repo, made, [row.label], MAINTAINER)
            if i % 13 == 0:  # a bot added a label: not a person's, dropped
                fake.set_labels(repo, made, [row.label, "help wanted"], "stale[bot]")
        names.append(name)
    return names


def new_fake(speed: float, latency: float) -> tuple[FakeGitHub, FastClock]:
    """The fake GitHub enforcing GitHub's limits on a fast clock, with the App installed."""
    clock = FastClock(speed)
    fake = FakeGitHub(
        clock=clock,
        token_lifetime=timedelta(hours=speed),  # an hour of the wall clock
        check_responses=False,
        limits=Limits(),
    )
    fake.latency = latency
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(INSTALLATION_ID, ORG)
    return fake, clock


# ------------------------------------------------------------------------ the backfill


@dataclass
class Backfill:
    """What the collectors did."""

    items: int = 0
    requests: int = 0
    points: int = 0
    waited_s: float = 0.0
    started: float = 0.0
    ended: float = 0.0
    github_hours: float = 0.0
    per_repo_s: list[float] = field(default_factory=list)


def pacing_settings(redis_url: str, *, pacing: bool, speed: float) -> Settings:
    return load_settings(
        {
            "REDIS_URL": redis_url,
            "STEWARD_GITHUB_PACING": "on" if pacing else "off",
            "STEWARD_GITHUB_CLOCK_SPEED": str(speed),
        },
        env_file=Path("/nonexistent"),
        receiver=False,
    )


async def collect_repo(
    gh: Any, store: Store, full: str, *, backfill: str, out: Path, done: Backfill
) -> None:
    """One repository's history, waiting out what the budget or GitHub asks."""
    from workers.collect import collect
    from workers.github import RateLimited
    from workers.history import refresh_history
    from workers.records import CollectQuery

    async def sleep(seconds: float) -> None:
        done.waited_s += seconds
        await asyncio.sleep(seconds)

    while True:
        try:
            if backfill == "graphql":
                result = await refresh_history(
                    gh, store, full, endpoint=f"{gh.base_url}/graphql", say=lambda _: None
                )
                done.items += result.written
                done.points += result.points
            else:
                query = CollectQuery(full)
                path = out / f"{full.replace('/', '__')}.jsonl"
                collected = await collect(
                    gh, query, path, progress=False, sleep=sleep, echo=lambda _: None
                )
                written = collected.written
                done.items += written
            return
        except RateLimited as exc:
            say(f"{full}: waiting {exc.wait_seconds:.1f}s ({exc})")
            await sleep(exc.wait_seconds)


async def backfill_org(
    fake: FakeGitHub, names: Sequence[str], *, settings: Settings, args: Any, workdir: Path
) -> Backfill:
    """``args.workers`` collectors over the org's repositories, each as background work
    (a bootstrap's lane) when pacing is on."""
    from workers.budget import lane
    from workers.github import GitHubClient

    store = open_store(f"sqlite:///{workdir / 'history.db'}")
    client = redis.Redis.from_url(str(settings.redis_url))
    queue = list(names)
    done = Backfill(started=time.monotonic())
    clock_start = fake.now()

    async def waiting(seconds: float) -> None:
        done.waited_s += seconds
        await asyncio.sleep(seconds)

    async def collector(session: aiohttp.ClientSession) -> None:
        with lane(client, settings, background=True):
            while queue:
                name = queue.pop(0)
                gh = GitHubClient(
                    session,
                    base_url=fake.urls.api,
                    oauth_token=fake.mint_token(INSTALLATION_ID),
                    installation_id=INSTALLATION_ID,
                    max_rate_limit_wait=settings.max_rate_limit_wait,
                    sleep=waiting,  # the budget's waits and GitHub's, counted
                )
                began = time.monotonic()
                await collect_repo(
                    gh, store, f"{ORG}/{name}", backfill=args.backfill, out=workdir, done=done
                )
                done.requests += gh.calls
                done.per_repo_s.append(time.monotonic() - began)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(collector(session) for _ in range(args.workers)))
    done.ended = time.monotonic()
    done.github_hours = (fake.now() - clock_start).total_seconds() / 3600
    store.engine.dispose()
    return done


# ------------------------------------------------------------------------- the probes


@dataclass
class Probes:
    """Interactive work sent during the backfill, and how long each took."""

    welcome: list[float] = field(default_factory=list)
    label: list[float] = field(default_factory=list)
    missed: int = 0
    sent_during: int = 0


def welcome_probe(fake: FakeGitHub, bot: Bot, repo: str, timeout: float) -> float | None:
    """A newcomer's first issue; seconds until the bot's welcome is on it."""
    login = f"newcomer-{uuid.uuid4().hex[:8]}"
    issue = fake.add_issue(ORG, repo, title="First time here: the export fails", user=login)
    sent = time.monotonic()
    bot.deliver("issues", opened("issues.opened", repo, issue.number, login))
    return until(lambda: fake.comment_bodies(ORG, repo, issue.number), sent, timeout)


def label_probe(fake: FakeGitHub, bot: Bot, repo: str, timeout: float) -> float | None:
    """A maintainer's ``/label bug``; seconds until the label is on the issue."""
    issue = fake.add_issue(ORG, repo, title="Crash on start", user=MAINTAINER)
    made = fake.add_comment(
        ORG, repo, issue.number, body="/label bug", user=MAINTAINER, author_association="MEMBER"
    )
    sent = time.monotonic()
    payload = fake.comment_payload(ORG, repo, made.id)
    bot.deliver("issue_comment", payload, delivery=str(uuid.uuid4()))
    return until(lambda: "bug" in fake.labels_on(ORG, repo, issue.number), sent, timeout)


def until(check: Any, sent: float, timeout: float) -> float | None:
    while time.monotonic() - sent < timeout:
        if check():
            return time.monotonic() - sent
        time.sleep(0.05)
    return None


def probe_stream(
    fake: FakeGitHub, bot: Bot, names: Sequence[str], args: Any, running: threading.Event
) -> Probes:
    """``args.probes`` welcomes and as many ``/label``s, alternating, every interval."""
    found = Probes()
    rng = random.Random(args.seed)
    for n in range(2 * args.probes):
        repo = rng.choice(list(names))
        found.sent_during += running.is_set()
        probe = welcome_probe if n % 2 == 0 else label_probe
        took = probe(fake, bot, repo, args.probe_timeout)
        if took is None:
            found.missed += 1
        else:
            (found.welcome if n % 2 == 0 else found.label).append(took)
        time.sleep(args.interval)
    return found


# ----------------------------------------------------------------------------- a run


@contextlib.contextmanager
def bot_for(api_url: str, redis_url: str, data_dir: Path, settings: Settings) -> Iterator[Bot]:
    """The bot (serve and a worker) with this run's pacing and GitHub clock speed."""
    extra = {
        "STEWARD_GITHUB_PACING": "on" if settings.github_pacing else "off",
        "STEWARD_GITHUB_CLOCK_SPEED": str(settings.github_clock_speed),
    }

    def make(**kwargs: Any) -> Bot:
        return Bot(env={**kwargs["env"], **extra}, data_dir=kwargs["data_dir"])

    data_dir.mkdir(parents=True, exist_ok=True)
    with day_one.running(api_url, redis_url, data_dir, make=make) as bot:
        yield bot


def run(rows: Sequence[Row], args: Any, *, pacing: bool, workdir: Path) -> dict[str, Any]:
    """One org, one backfill with probes, one mode of pacing."""
    fake, clock = new_fake(args.speed, args.latency)
    names = seed_org(fake, rows, repos=args.repos, issues=args.issues)
    say(f"pacing {'on' if pacing else 'off'}: {len(names)} repositories seeded")
    with fake.serve_in_thread() as api_url, bench_redis(workdir) as redis_url:
        settings = pacing_settings(redis_url, pacing=pacing, speed=args.speed)
        with bot_for(api_url, redis_url, workdir / "bot", settings) as bot:
            fake.limiter.refusals.clear()
            running = threading.Event()
            running.set()
            probes: dict[str, Probes] = {}
            stream = threading.Thread(
                target=lambda: probes.update(p=probe_stream(fake, bot, names, args, running))
            )
            stream.start()
            done = asyncio.run(
                backfill_org(fake, names, settings=settings, args=args, workdir=workdir)
            )
            running.clear()
            stream.join()
    return summarise(fake, clock, done, probes["p"], pacing=pacing, args=args)


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(
    fake: FakeGitHub, clock: FastClock, done: Backfill, probes: Probes, *, pacing: bool, args: Any
) -> dict[str, Any]:
    counts = fake.limiter.counts()
    per_k = 1000 / max(1, done.items)
    return {
        "pacing": "on" if pacing else "off",
        "backfill": args.backfill,
        "items": done.items,
        "requests_per_1000": round(done.requests * per_k, 1),
        "points_per_1000": round(done.points * per_k, 1),
        "wall_s": round(done.ended - done.started, 1),
        "github_hours": round(done.github_hours, 2),
        "limit_bound_hours": round(max(done.points, done.requests) / 5000, 2)
        if args.backfill == "rest"
        else round(done.points / 5000, 2),
        "waited_github_hours": round(done.waited_s * args.speed / 3600, 2),
        "primary": counts["primary"],
        "secondary": counts["secondary"],
        "refusals": {k: v for k, v in counts.items() if ":" in k},
        "peak_in_flight": fake.limiter.peak_inflight,
        "welcome_p50": percentile(probes.welcome, 0.5),
        "welcome_p95": percentile(probes.welcome, 0.95),
        "label_p50": percentile(probes.label, 0.5),
        "label_p95": percentile(probes.label, 0.95),
        "probes_missed": probes.missed,
        "probes_during": probes.sent_during,
        "probes": len(probes.welcome) + len(probes.label) + probes.missed,
        "repo_s_median": round(statistics.median(done.per_repo_s), 1) if done.per_repo_s else None,
        "speed": args.speed,
    }


# ------------------------------------------------------------------------- the table


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def print_table(results: Sequence[dict[str, Any]]) -> None:
    columns = [
        ("pacing", "pacing"),
        ("items", "items"),
        ("req/1k", "requests_per_1000"),
        ("pts/1k", "points_per_1000"),
        ("wall s", "wall_s"),
        ("GH h", "github_hours"),
        ("limit h", "limit_bound_hours"),
        ("waited h", "waited_github_hours"),
        ("primary", "primary"),
        ("second.", "secondary"),
        ("in flight", "peak_in_flight"),
        ("welcome p50", "welcome_p50"),
        ("p95", "welcome_p95"),
        ("/label p50", "label_p50"),
        ("p95", "label_p95"),
    ]
    print(" | ".join(f"{title:>9}" for title, _ in columns))
    for result in results:
        print(" | ".join(f"{fmt(result[key]):>9}" for _, key in columns))
    for result in results:
        print(
            f"pacing {result['pacing']}: {result['probes_during']}/{result['probes']} probes "
            f"sent while the backfill ran, {result['probes_missed']} unanswered; refusals "
            f"{result['refusals'] or 'none'}; a repository took {result['repo_s_median']} s "
            f"(median); GitHub's clock ran {result['speed']:g}x"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--issues", type=int, default=2500)
    parser.add_argument("--workers", type=int, default=4, help="collectors at once")
    parser.add_argument("--speed", type=float, default=30.0, help="GitHub seconds a second")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds an answer takes")
    parser.add_argument("--backfill", choices=("graphql", "rest"), default="graphql")
    parser.add_argument("--pacing", choices=("both", "on", "off"), default="both")
    parser.add_argument("--probes", type=int, default=10, help="welcomes (and as many /label)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between probes")
    parser.add_argument("--probe-timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the bot's folder and logs")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows = [row for rows in load_rows(args.data).values() for row in rows]
    random.Random(args.seed).shuffle(rows)
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.pacing]
    results = []
    for pacing in modes:
        if args.keep:
            workdir = Path(tempfile.mkdtemp(prefix="steward-org-"))
            say(f"keeping {workdir}")
            results.append(run(rows, args, pacing=pacing, workdir=workdir))
            continue
        with tempfile.TemporaryDirectory(prefix="steward-org-") as tmp:
            results.append(run(rows, args, pacing=pacing, workdir=Path(tmp)))
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
