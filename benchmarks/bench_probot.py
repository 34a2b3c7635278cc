"""Steward's webhook receiver side by side with plain Probot, on the same deliveries.

Two servers, one machine, one local Redis (each on its own empty database):

- Steward: ``steward serve --no-worker``, one process, started as ``bench_receiver.py``
  starts it. Per delivery it checks the size, verifies the HMAC-SHA256 signature and
  runs one Redis script that records the delivery id with its body (de-duplication) and
  adds one ``steward.route`` message to the installation's lane, then answers 202; the
  worker parses, routes and fans out later (no worker runs here).
- Probot: ``probot run ./app.js`` with ``benchmarks/probot/app.js`` (an ES module, as
  Probot 14 loads apps), a minimal app that LPUSHes one small JSON job per
  ``issues.opened`` to Redis (ioredis) before Probot answers 200. Probot verifies the
  signature, parses the payload and routes it to the app's handler. ``probot`` and
  ``ioredis`` (pinned in ``benchmarks/probot/package.json``: Probot 14.3.2, the newest
  14 on 2026-12-06) are installed with npm into a throw-away folder, never into the
  repository.

Both get the same signed deliveries (GitHub's real ``issues.opened`` example, one body,
a fresh ``X-GitHub-Delivery`` per request) from an aiohttp client with ``--concurrency``
keep-alive connections, after ``--warmup`` untimed deliveries each, in ``--rounds``
interleaved rounds that alternate which server goes first, so machine noise hits both
alike. Per server it reports acknowledgements per second, p50/p90/p99 latency, CPU
milliseconds per acknowledgement of the server's process tree (utime+stime from /proc,
live and reaped children included, read before and after each round; ``probot run``
runs the app in a child process), non-2xx answers and resident memory, then the ratios
Steward/Probot, and checks that every acknowledged delivery was queued: Probot's jobs
in Redis by distinct delivery id, Steward's recorded delivery ids and its messages in
the lanes (one per delivery). Redis's own CPU is counted for neither. Before timing, a
forged delivery must be refused by both.

The warm-up is long (2,000) because Probot's CPU per delivery falls from about 2.6 ms to
about 1 ms over its first couple of thousand deliveries as V8 optimises the hot path;
Steward's is flat from the start. A long-running server's steady state is what is
compared (the JSON has the per-round figures). Needs ``node`` and ``npm`` (the npm
registry, or npm's cache) and the local Redis at 127.0.0.1:6379.

    python benchmarks/bench_probot.py [--requests 3000] [--concurrency 16] [--rounds 6]
        [--warmup 2000] [--json FILE] [--keep] [--baseline COMMIT]

``--baseline COMMIT`` runs that commit's Steward (its files from ``git archive``, this
checkout's virtual environment) against the same Probot, for a before-and-after.

``--keep`` installs into (and reuses) ``$XDG_CACHE_HOME/steward-bench/probot`` (or
``~/.cache/...``) and prints its path; without it the npm folder is a temporary one,
removed on exit. Exit status: 0 when every delivery was acknowledged and queued, 1 when
not, 3 when the npm install failed, 4 when no empty local Redis database was found.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_receiver import (  # noqa: E402
    SECRET,
    code_of,
    fire,
    issue_opened_body,
    percentile,
    pick_redis,
    run,
    start_steward,
    stop_server,
    wait_for_http,
)
from fakegithub.deliveries import delivery_headers  # noqa: E402
from fakegithub.fake import new_key_pair  # noqa: E402

PROBOT_APP = Path(__file__).resolve().parent / "probot"
PROBOT_QUEUE = "probot:jobs"
#: The keys by which Steward remembers the deliveries it queued (``SET NX``).
STEWARD_DELIVERY_KEYS = "steward:delivery:*"
WEBHOOK_PATH = "/api/github/webhooks"
INSTALLED_MARK = ".steward-bench-package.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")
EXIT_NPM_FAILED = 3
EXIT_NO_REDIS = 4


class BenchSetupError(RuntimeError):
    """A prerequisite is missing; ``code`` is the exit status to end with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def progress(message: str) -> None:
    """One line of progress on stderr."""
    print(f"[bench_probot] {message}", file=sys.stderr, flush=True)


# --- the npm folder -------------------------------------------------------------------


def cache_folder() -> Path:
    """The reusable npm folder: ``$XDG_CACHE_HOME/steward-bench/probot``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "steward-bench" / "probot"


def npm_install(folder: Path) -> None:
    """Put our app in ``folder`` and npm-install its pinned dependencies there.

    The install is skipped when ``folder`` already holds one of this very package.json.
    """
    package = (PROBOT_APP / "package.json").read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROBOT_APP / "app.js", folder / "app.js")
    mark = folder / "node_modules" / INSTALLED_MARK
    if mark.exists() and mark.read_bytes() == package:
        progress(f"reusing the npm install in {folder}")
        return
    if not shutil.which("npm") or not shutil.which("node"):
        raise BenchSetupError("node and npm are needed to run Probot", EXIT_NPM_FAILED)
    (folder / "package.json").write_bytes(package)
    progress(f"npm install in {folder} ...")
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund"],
        cwd=folder,
        stdout=sys.stderr,
        stderr=sys.stderr,
        check=False,
    )
    if done.returncode != 0:
        raise BenchSetupError(f"npm install failed (exit {done.returncode})", EXIT_NPM_FAILED)
    mark.write_bytes(package)


@contextlib.contextmanager
def probot_folder(keep: bool) -> Iterator[Path]:
    """The installed npm folder: the cache folder (kept) or a temporary one (removed)."""
    if keep:
        folder = cache_folder()
        npm_install(folder)
        progress(f"npm folder kept at {folder}")
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="steward-bench-probot-") as tmp:
        npm_install(Path(tmp))
        yield Path(tmp)


def probot_version(folder: Path) -> str:
    """The installed Probot's version."""
    package = json.loads((folder / "node_modules" / "probot" / "package.json").read_text())
    return str(package["version"])


# --- processes ------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """Fields 3 onwards of /proc/<pid>/stat (after the command name)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid``'s tree, reaped children included."""
    ticks = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            utime, stime, cutime, cstime = _stat(member)[11:15]
            ticks += int(utime) + int(stime) + int(cutime) + int(cstime)
    return ticks / CLK_TCK


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid``'s tree, in MB."""
    kb = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
    return kb / 1024


def start_probot(
    folder: Path, port: int, redis_url: str, private_key: str, log: Path
) -> subprocess.Popen[bytes]:
    """``probot run ./app.js`` in ``folder`` on ``port``, in its own process group.

    Its output goes to ``log`` (the forged probe makes it print a long error).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "WEBHOOK_PROXY_URL", "PRIVATE_KEY_PATH", "GHE_HOST"}
    }
    env.update(
        APP_ID="1",
        PRIVATE_KEY=private_key,
        WEBHOOK_SECRET=SECRET,
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="warn",
        LOG_FORMAT="json",
        NODE_ENV="production",
        BENCH_REDIS_URL=redis_url,
        BENCH_QUEUE=PROBOT_QUEUE,
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(folder / "node_modules" / ".bin" / "probot"), "run", "./app.js"],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextlib.contextmanager
def running(
    server: subprocess.Popen[bytes], name: str, health_url: str, log: Path | None = None
) -> Iterator[None]:
    """Wait until ``server`` answers ``health_url``; stop its process group on the way out."""
    try:
        if not wait_for_http(health_url) or server.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{name} did not start (no answer from {health_url})\n{tail}")
        yield
    finally:
        stop_server(server)


@contextlib.contextmanager
def empty_redis_db() -> Iterator[str]:
    """An empty database of the local Redis, flushed on the way out."""
    url = pick_redis()
    if url is None:
        raise BenchSetupError(
            "needs the local Redis at 127.0.0.1:6379 with two empty databases", EXIT_NO_REDIS
        )
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()


# --- measuring ------------------------------------------------------------------------


@dataclass
class Server:
    """One server under test and what was measured of it."""

    name: str
    pid: int
    url: str
    redis_url: str
    jobs_per_delivery: int = 0
    acked_untimed: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    round_rates: list[float] = field(default_factory=list)
    round_cpu_ms: list[float] = field(default_factory=list)

    @property
    def acks(self) -> int:
        """2xx answers in the timed rounds."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)


async def post_one(url: str, secret: str) -> tuple[int, str]:
    """One delivery signed with ``secret``: (status, body)."""
    body = issue_opened_body()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=delivery_headers("issues", body, secret=secret)) as r,
    ):
        return r.status, await r.text()


def probe(server: Server) -> None:
    """A forged delivery must be refused; a signed one tells how many jobs it queues."""
    forged, _ = asyncio.run(post_one(server.url, "not-the-secret"))
    if forged < 400:
        raise RuntimeError(f"{server.name} accepted a forged delivery ({forged})")
    status, text = asyncio.run(post_one(server.url, SECRET))
    if not 200 <= status < 300:
        raise RuntimeError(f"{server.name} refused a signed delivery ({status}): {text}")
    server.acked_untimed += 1
    server.jobs_per_delivery = len(json.loads(text)["queued"]) if server.name == "steward" else 1
    progress(f"{server.name}: forged → {forged}, signed → {status} {text.strip()[:80]}")


def warm_up(server: Server, total: int, concurrency: int) -> None:
    """Untimed deliveries, so both servers are past start-up costs and JIT."""
    _, statuses = run(fire(server.url, total, concurrency))
    server.acked_untimed += sum(n for s, n in statuses.items() if 200 <= s < 300)


async def timed_round(server: Server, total: int, concurrency: int) -> None:
    """One round against ``server``: wall time, server CPU, latencies and statuses."""
    cpu_before, started = tree_cpu_seconds(server.pid), time.perf_counter()
    latencies, statuses = await fire(server.url, total, concurrency)
    elapsed = time.perf_counter() - started
    cpu = tree_cpu_seconds(server.pid) - cpu_before
    server.cpu_seconds += cpu
    server.round_cpu_ms.append(1000 * cpu / total)
    server.seconds += elapsed
    server.latencies += latencies
    for status, n in statuses.items():
        server.statuses[status] = server.statuses.get(status, 0) + n
    server.round_rates.append(total / elapsed)


def round_sizes(total: int, rounds: int) -> list[int]:
    """``total`` split into ``rounds`` near-equal parts."""
    return [total // rounds + (1 if i < total % rounds else 0) for i in range(rounds)]


def run_rounds(servers: list[Server], total: int, rounds: int, concurrency: int) -> None:
    """Interleaved rounds, alternating which server goes first."""
    for index, size in enumerate(round_sizes(total, rounds)):
        order = servers if index % 2 == 0 else servers[::-1]
        for server in order:
            run(timed_round(server, size, concurrency))
            progress(
                f"round {index + 1}/{rounds} {server.name:<7} {size} deliveries, "
                f"{server.round_rates[-1]:.0f}/s, {server.round_cpu_ms[-1]:.2f} CPU ms each"
            )


# --- checking what was queued ---------------------------------------------------------


def queued_messages(client: redis.Redis) -> int:
    """Task messages waiting in the database: list entries (kombu's Redis transport) plus
    entries of the queue streams (``steward:q:*``: Steward's lanes, or the single stream
    per queue before lanes), whichever Steward's broker uses; the bells are not messages.
    """
    lists = sum(client.llen(key) for key in client.scan_iter(count=1000, _type="list"))
    streams = client.scan_iter(match="steward:q:*", count=1000, _type="stream")
    return lists + sum(client.xlen(key) for key in streams)


def steward_queued(server: Server) -> dict[str, Any]:
    """Delivery ids Steward recorded and task messages it queued."""
    client = redis.Redis.from_url(server.redis_url)
    deliveries = sum(1 for _ in client.scan_iter(match=STEWARD_DELIVERY_KEYS, count=1000))
    messages = queued_messages(client)
    expected = server.acks + server.acked_untimed
    return {
        "acked_total": expected,
        "queued_deliveries": deliveries,
        "queued_messages": messages,
        "jobs_per_delivery": server.jobs_per_delivery,
        "all_queued": deliveries == expected and messages == expected * server.jobs_per_delivery,
    }


def probot_queued(server: Server) -> dict[str, Any]:
    """Jobs the Probot app pushed, counted by distinct delivery id."""
    client = redis.Redis.from_url(server.redis_url)
    jobs = client.lrange(PROBOT_QUEUE, 0, -1)
    deliveries = {json.loads(job)["delivery"] for job in jobs}
    expected = server.acks + server.acked_untimed
    return {
        "acked_total": expected,
        "queued_deliveries": len(deliveries),
        "queued_messages": len(jobs),
        "jobs_per_delivery": server.jobs_per_delivery,
        "all_queued": len(deliveries) == expected and len(jobs) == expected,
    }


# --- reporting ------------------------------------------------------------------------


def row(server: Server, queued: dict[str, Any]) -> dict[str, Any]:
    """What is reported of one server."""
    acks = server.acks
    return {
        "server": server.name,
        "requests": len(server.latencies),
        "acks": acks,
        "non_2xx": len(server.latencies) - acks,
        "statuses": {str(k): v for k, v in sorted(server.statuses.items())},
        "seconds": round(server.seconds, 3),
        "acks_per_s": round(acks / server.seconds, 1),
        "round_acks_per_s": [round(rate, 1) for rate in server.round_rates],
        "p50_ms": round(percentile(server.latencies, 50), 2),
        "p90_ms": round(percentile(server.latencies, 90), 2),
        "p99_ms": round(percentile(server.latencies, 99), 2),
        "cpu_s": round(server.cpu_seconds, 2),
        "cpu_ms_per_ack": round(1000 * server.cpu_seconds / max(acks, 1), 3),
        "round_cpu_ms_per_delivery": [round(ms, 3) for ms in server.round_cpu_ms],
        "rss_mb": round(tree_rss_mb(server.pid), 1),
        **queued,
    }


def ratios(steward: dict[str, Any], probot: dict[str, Any]) -> dict[str, float]:
    """Steward / Probot for rate, p50, p99 and CPU per acknowledgement."""
    keys = ("acks_per_s", "p50_ms", "p99_ms", "cpu_ms_per_ack")
    return {key: round(steward[key] / probot[key], 2) if probot[key] else 0.0 for key in keys}


def print_table(rows: list[dict[str, Any]], ratio: dict[str, float], header: str) -> None:
    """The results as a table on stdout."""
    print(header)
    print(
        f"{'server':<8} {'acks/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'CPU ms/ack':>10} {'non-2xx':>7} {'RSS MB':>7}  queued"
    )
    for r in rows:
        print(
            f"{r['server']:<8} {r['acks_per_s']:>7.0f} {r['p50_ms']:>7.2f} {r['p90_ms']:>7.2f} "
            f"{r['p99_ms']:>7.2f} {r['cpu_ms_per_ack']:>10.3f} {r['non_2xx']:>7} "
            f"{r['rss_mb']:>7.0f}  {r['queued_deliveries']}/{r['acked_total']} deliveries, "
            f"{r['queued_messages']} messages"
        )
    print(
        f"Steward/Probot: rate {ratio['acks_per_s']:.2f}x, p50 {ratio['p50_ms']:.2f}x, "
        f"p99 {ratio['p99_ms']:.2f}x, CPU per ack {ratio['cpu_ms_per_ack']:.2f}x"
    )


def versions(folder: Path) -> dict[str, str]:
    """Versions of what ran."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "probot": probot_version(folder),
        "node": node.stdout.strip(),
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
    }


# --- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed deliveries per server")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at once")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=2000, help="untimed deliveries per server")
    parser.add_argument("--json", type=Path, help="write the rows to this file")
    parser.add_argument("--keep", action="store_true", help="install into the cache folder")
    parser.add_argument(
        "--baseline", help="run this commit's Steward (git archive) instead of this checkout"
    )
    args = parser.parse_args(argv)
    if args.requests < args.rounds or args.rounds < 1 or args.concurrency < 1:
        parser.error("need --rounds >= 1, --concurrency >= 1 and --requests >= --rounds")
    return args


def start_servers(stack: contextlib.ExitStack, folder: Path, code: Path = ROOT) -> list[Server]:
    """Steward and Probot, each on its own port and empty Redis database, both up.

    Everything started is registered on ``stack``: servers stopped, databases flushed.
    """
    from tests.support import free_port

    steward_redis = stack.enter_context(empty_redis_db())
    probot_redis = stack.enter_context(empty_redis_db())
    data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="steward-bench-")))
    key = new_key_pair()[0]  # throw-away: neither server talks to GitHub
    sp, pp = free_port(), free_port()
    progress(f"starting steward on :{sp} ({steward_redis}), probot on :{pp} ({probot_redis})")
    steward = start_steward(sp, steward_redis, str(data_dir), key, code=code)
    stack.enter_context(running(steward, "steward", f"http://127.0.0.1:{sp}/healthz"))
    log = data_dir / "probot.log"
    probot = start_probot(folder, pp, probot_redis, key, log)
    stack.enter_context(running(probot, "probot", f"http://127.0.0.1:{pp}/ping", log))
    return [
        Server("steward", steward.pid, f"http://127.0.0.1:{sp}{WEBHOOK_PATH}", steward_redis),
        Server("probot", probot.pid, f"http://127.0.0.1:{pp}{WEBHOOK_PATH}", probot_redis),
    ]


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Install, start both servers, measure, check the queues; the report."""
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(probot_folder(args.keep))
        code, label = stack.enter_context(code_of(args.baseline))
        progress(f"Steward: {label}")
        steward, probot = servers = start_servers(stack, folder, code)
        for server in servers:
            probe(server)
            warm_up(server, args.warmup, args.concurrency)
        run_rounds(servers, args.requests, args.rounds, args.concurrency)
        rows = [row(steward, steward_queued(steward)), row(probot, probot_queued(probot))]
        return {
            "date": time.strftime("%Y-%m-%d"),
            "config": {k: v for k, v in vars(args).items() if k != "json"},
            "versions": {**versions(folder), "steward": label},
            "rows": rows,
            "ratios": ratios(rows[0], rows[1]),
        }


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C, so the servers are stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write --json; the exit status."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        report = bench(args)
    except BenchSetupError as exc:
        progress(f"cannot run: {exc}")
        return exc.code
    except KeyboardInterrupt:
        progress("interrupted; servers stopped")
        return 130
    v = report["versions"]
    print_table(
        report["rows"],
        report["ratios"],
        f"{args.requests} signed issues.opened deliveries per server, {args.rounds} "
        f"interleaved rounds, {args.concurrency} connections (+{args.warmup} warm-up); "
        f"Probot {v['probot']} on Node {v['node']}, Steward on Python {v['python']}, "
        f"{v['cpus']} CPUs; Steward: {v['steward']}",
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        progress(f"wrote {args.json}")
    ok = all(r["non_2xx"] == 0 and r["all_queued"] for r in report["rows"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
