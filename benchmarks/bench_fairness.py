"""Benchmark: one org floods Steward with first issues; how long does another org's
newcomer wait for their welcome?

Real ``steward serve --no-worker`` and ``steward worker`` processes, a local Redis and
the fake GitHub (``tests/bot.py`` and ``tests/support.py`` start them the same way).
Org A (``octo-org``, installation 777) opens ``--flood`` issues in one repository, each
by a different newcomer, delivered as fast as ``--senders`` connections allow: every
one is a first issue, so each wants a welcome, a triage, people for the issue, an
embedding and a first-response record, and A's repository is bootstrapped once (its
history read, embedded and gated). Right after, and then every ``--interval`` seconds,
a newcomer of org B (``quiet-org``, installation 888) opens an issue in B's
repository: ``--probes`` of them. For each probe the latency is from its delivery to
its welcome comment on the fake GitHub; the report gives p50/p95/max over the probes,
and for each probe whether A's flood was still draining when its welcome landed (A's
welcomes posted so far).

``--code DIR`` runs the Steward in ``DIR`` instead of this checkout (for the old
single-stream FIFO: ``git archive <commit> | tar -x -C DIR``, or ``--baseline COMMIT``,
which does that into a temporary folder). Each mode starts on an empty Redis database
and a fresh fake. A probe whose welcome does not come within ``--timeout`` seconds is
reported as such.

    .venv/bin/python benchmarks/bench_fairness.py [--flood 1000] [--probes 10]
        [--interval 3] [--senders 8] [--worker-concurrency 8] [--timeout 900] [--drain]
        [--baseline COMMIT | --code DIR] [--json FILE]

``--drain`` also waits for the flood's last welcome and reports when it came (the
throughput of the whole flood, to compare with the other mode's).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_day_one import bench_redis  # noqa: E402
from benchmarks.bench_receiver import code_of  # noqa: E402
from fakegithub.fake import FakeGitHub  # noqa: E402
from tests.bot import Bot, bot_env  # noqa: E402
from tests.support import (  # noqa: E402
    APP_ID,
    INSTALLATION_ID,
    ORG,
    example,
    key_pair,
    opened,
    retarget,
    wait_for,
    with_author,
)

QUIET_ORG, QUIET_INSTALLATION = "quiet-org", 888
FLOOD_REPO, QUIET_REPO = "flood", "quiet"
MARKER = "steward:welcome"


def say(message: str) -> None:
    """One progress line on stderr."""
    print(f"[bench_fairness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Probe:
    """One newcomer of org B: when it was delivered, when its welcome landed."""

    number: int
    sent: float
    welcomed: float | None = None
    flood_welcomed: int = 0

    @property
    def latency(self) -> float | None:
        """Seconds from the delivery to the welcome."""
        return None if self.welcomed is None else self.welcomed - self.sent


@dataclass
class Run:
    """What one mode measured."""

    code: str
    flood: int
    probes: list[Probe] = field(default_factory=list)
    flood_sent_s: float = 0.0
    #: Seconds from the flood's first delivery to its last welcome (``--drain``).
    flood_drained_s: float | None = None
    flood_statuses: dict[int, int] = field(default_factory=dict)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def summary(self) -> dict[str, Any]:
        """The numbers, for the table and the JSON."""
        done = sorted(p.latency for p in self.probes if p.latency is not None)
        return {
            "code": self.code,
            "flood": self.flood,
            "flood_sent_s": round(self.flood_sent_s, 1),
            "flood_drained_s": self.flood_drained_s,
            "flood_statuses": {str(k): v for k, v in sorted(self.flood_statuses.items())},
            "probes": len(self.probes),
            "welcomed": len(done),
            "p50_s": round(percentile(done, 50), 2) if done else None,
            "p95_s": round(percentile(done, 95), 2) if done else None,
            "max_s": round(done[-1], 2) if done else None,
            "latencies_s": [
                None if p.latency is None else round(p.latency, 2) for p in self.probes
            ],
            "flood_welcomed_at_each": [p.flood_welcomed for p in self.probes],
            "draining_at_each": [p.flood_welcomed < self.flood for p in self.probes],
            "load_average": self.load,
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


# ------------------------------------------------------------------- processes


def spawn(code: Path, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m app.cli ARGS`` with ``code`` as the working directory (its modules win
    over the installed checkout), in a session of its own."""
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env={**env, "PYTHONPATH": str(code)},
        cwd=code,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextlib.contextmanager
def steward(
    code: Path, api_url: str, redis_url: str, workdir: Path, concurrency: int
) -> Iterator[Bot]:
    """``steward serve --no-worker`` and one ``steward worker`` of ``code``."""
    env = bot_env(api_url=api_url, data_dir=workdir, redis_url=redis_url, LOG_LEVEL="warning")
    bot = Bot(env=env, data_dir=workdir)
    bot.server = spawn(
        code, env, workdir / "serve.log", "serve", "--no-worker", "--port", str(bot.port)
    )
    wait_for(bot._healthy, timeout=60, interval=0.2)
    bot.workers.append(
        spawn(code, env, workdir / "worker.log", "worker", "--concurrency", str(concurrency))
    )
    try:
        yield bot
    finally:
        bot.kill_workers()
        bot.stop()


# ----------------------------------------------------------------------- the run


def fake_github() -> FakeGitHub:
    """Two orgs, each with the App installed and one repository."""
    fake = FakeGitHub(check_responses=False)
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(INSTALLATION_ID, ORG)
    fake.add_installation(QUIET_INSTALLATION, QUIET_ORG)
    fake.add_repo(ORG, FLOOD_REPO, files={"CONTRIBUTING.md": "# How we work\n"})
    fake.add_repo(QUIET_ORG, QUIET_REPO, files={"CONTRIBUTING.md": "# How we work\n"})
    return fake


def flood_payloads(fake: FakeGitHub, n: int) -> list[dict[str, Any]]:
    """``n`` first issues of org A, each by a newcomer of its own."""
    payloads = []
    for i in range(n):
        login = f"flooder-{i}"
        issue = fake.add_issue(ORG, FLOOD_REPO, title=f"Import {i}: it crashes", user=login)
        payloads.append(opened("issues.opened", FLOOD_REPO, issue.number, login, "NONE"))
    return payloads


def quiet_payload(fake: FakeGitHub, i: int) -> tuple[int, dict[str, Any]]:
    """A newcomer of org B opens an issue."""
    login = f"quiet-newcomer-{i}"
    issue = fake.add_issue(QUIET_ORG, QUIET_REPO, title=f"Question {i}", user=login)
    payload = retarget(
        example("issues.opened"),
        owner=QUIET_ORG,
        repo=QUIET_REPO,
        installation_id=QUIET_INSTALLATION,
    )
    payload["issue"]["number"] = issue.number
    payload["issue"]["labels"] = []
    return issue.number, with_author(payload, "issue", login, "NONE")


def welcomed(fake: FakeGitHub, number: int) -> bool:
    """Whether B's issue ``number`` has its welcome."""
    return any(MARKER in b for b in fake.comment_bodies(QUIET_ORG, QUIET_REPO, number))


def flood_welcomed(fake: FakeGitHub) -> int:
    """A's welcome comments posted so far."""
    return len(fake.calls("POST", rf"/repos/{ORG}/{FLOOD_REPO}/issues/\d+/comments$"))


def send_flood(bot: Bot, payloads: list[dict[str, Any]], senders: int, run: Run) -> None:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(senders) as pool:
        for status, _ in pool.map(lambda p: bot.deliver("issues", p), payloads):
            run.flood_statuses[status] = run.flood_statuses.get(status, 0) + 1
    run.flood_sent_s = time.monotonic() - started


def watch(fake: FakeGitHub, probe: Probe, timeout: float) -> None:
    """Wait for the probe's welcome; note the time and how far the flood was."""
    deadline = probe.sent + timeout
    while time.monotonic() < deadline:
        if welcomed(fake, probe.number):
            probe.welcomed = time.monotonic()
            probe.flood_welcomed = flood_welcomed(fake)
            return
        time.sleep(0.05)


def measure(code: Path, args: argparse.Namespace, label: str) -> Run:
    """One mode: a fresh fake, Redis database and Steward; the flood, then the probes."""
    run = Run(code=label, flood=args.flood)
    fake = fake_github()
    payloads = flood_payloads(fake, args.flood)
    workdir = Path(tempfile.mkdtemp(prefix="steward-bench-fair-"))
    try:
        with (
            fake.serve_in_thread() as api_url,
            bench_redis(workdir) as redis_url,
            steward(code, api_url, redis_url, workdir, args.worker_concurrency) as bot,
        ):
            number, warm = quiet_payload(fake, -1)  # the worker is up, B is bootstrapped
            bot.deliver("issues", warm)
            wait_for(lambda: welcomed(fake, number), 180, 0.2)
            say(f"{label}: flooding {args.flood} first issues of {ORG}")
            started = time.monotonic()
            send_flood(bot, payloads, args.senders, run)
            say(f"{label}: flood sent in {run.flood_sent_s:.1f}s; probing {QUIET_ORG}")
            run_probes(bot, fake, args, run)
            run.load = os.getloadavg()
            if args.drain:
                say(f"{label}: waiting for the flood's last welcome")
                wait_for(lambda: flood_welcomed(fake) >= args.flood, args.timeout, 1.0)
                run.flood_drained_s = round(time.monotonic() - started, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def run_probes(bot: Bot, fake: FakeGitHub, args: argparse.Namespace, run: Run) -> None:
    watchers = []
    for i in range(args.probes):
        number, payload = quiet_payload(fake, i)
        probe = Probe(number=number, sent=time.monotonic())
        status, _ = bot.deliver("issues", payload)
        if status != 202:
            say(f"probe {i}: answered {status}")
        run.probes.append(probe)
        watcher = threading.Thread(target=watch, args=(fake, probe, args.timeout))
        watcher.start()
        watchers.append(watcher)
        time.sleep(args.interval)
    for watcher in watchers:
        watcher.join()
    for i, probe in enumerate(run.probes):
        latency = "none" if probe.latency is None else f"{probe.latency:.2f}s"
        say(f"probe {i}: welcome after {latency}, flood welcomed {probe.flood_welcomed}")


# ------------------------------------------------------------------------- main


@contextlib.contextmanager
def steward_code(commit: str | None, folder: Path | None) -> Iterator[tuple[Path, str]]:
    """The Steward to run: this checkout, ``folder``, or ``commit`` extracted."""
    if folder is not None:
        yield folder, str(folder)
        return
    with code_of(commit) as found:
        yield found


def print_table(summary: dict[str, Any]) -> None:
    print(
        f"{summary['code']}: {summary['flood']} flood deliveries (sent in "
        f"{summary['flood_sent_s']}s, {summary['flood_statuses']}), {summary['probes']} probes"
    )
    print(
        f"  welcome latency p50 {summary['p50_s']} s, p95 {summary['p95_s']} s, max "
        f"{summary['max_s']} s; welcomed {summary['welcomed']}/{summary['probes']}"
    )
    print(f"  latencies {summary['latencies_s']}")
    print(f"  flood welcomed when each probe's welcome landed {summary['flood_welcomed_at_each']}")
    print(f"  flood drained (its last welcome) after {summary['flood_drained_s']} s")
    print(f"  load average {summary['load_average']}")


def main(argv: list[str] | None = None) -> int:
    """Run one mode, print its numbers, write --json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--drain", action="store_true", help="also time the whole flood")
    parser.add_argument("--baseline", help="run this commit's Steward (git archive)")
    parser.add_argument("--code", type=Path, help="run the Steward in this folder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    say(f"load average before: {os.getloadavg()}")
    with steward_code(args.baseline, args.code) as (code, label):
        summary = measure(code, args, label).summary()
    print_table(summary)
    if args.json:
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), **summary}, indent=2))
    return 0 if summary["welcomed"] == summary["probes"] else 1


if __name__ == "__main__":
    sys.exit(main())
