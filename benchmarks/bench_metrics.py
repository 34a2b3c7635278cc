"""Benchmark ``GET /metrics`` of a real ``steward serve``: is a scrape cheap (< 50 ms)?

Fills a SQLite store with a busy deployment's history (10,000 items in a few
repositories, each with a triage decision, plus welcome and reviewer actions, and label
corrections by 200 people), starts several live processes that write metrics to the
multiprocess directory (as web processes, a worker and its prefork children would),
starts ``steward serve --no-worker`` on that store and directory, and times scrapes:
the first (right after start-up, while the live precision may still be computed) and
200 more (p50, p95, max).

    python benchmarks/bench_metrics.py [--scrapes 200] [--items 10000] [--writers 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_receiver import percentile, pick_redis, stop_server, wait_for_http  # noqa: E402
from core.live_precision import precision_by_repository  # noqa: E402
from core.store import actions, feedback, now_utc, open_store  # noqa: E402
from tests.support import key_pair  # noqa: E402

REPOS = {"acme/api": 4000, "acme/web": 3000, "acme/docs": 2000, "tools/cli": 1000}
LABELS = ("bug", "enhancement", "question", "documentation", "performance", "security")
SHADOW_REPOS = {"acme/docs", "tools/cli"}

#: The bearer token the benchmark's ``steward serve`` asks of a scrape.
SCRAPE_TOKEN = "bench-scrape-token"
#: One process's metrics: a day of deliveries, tasks, GitHub calls and inference.
WRITER = textwrap.dedent(
    """
    import random, sys
    from pathlib import Path
    from core import metrics

    metrics.configure_metrics(Path(sys.argv[1]))
    events = ["issues", "issue_comment", "pull_request", "pull_request_review", "push",
              "installation", "installation_repositories", "label", "discussion",
              "pull_request_review_comment", "check_run", "create"]
    for event in events:
        for outcome in ("queued", "duplicate", "ignored", "bot_sender", "bad_payload"):
            for _ in range(random.randint(1, 50)):
                metrics.record_delivery(event, outcome)
    for outcome in ("bad_signature", "malformed", "too_large"):
        metrics.record_delivery("unknown", outcome)
    tasks = ["steward." + n for n in ("welcome", "installation", "feedback", "triage",
             "reviewers", "issue_people", "recommend", "embed", "index", "record_pull",
             "backfill", "bootstrap", "retrain", "retrain_all", "recover_deliveries", "command")]
    for task in tasks:
        for outcome in ("succeeded", "skipped", "retried", "failed", "rejected"):
            for _ in range(random.randint(1, 30)):
                metrics.record_task(task, outcome, random.expovariate(5))
    for installation in range(1, 51):
        metrics.record_rate_limit(str(installation), random.randint(0, 5000))
    metrics.record_rate_limit("app", 4999)
    for source in ("model", "nearest"):
        for _ in range(200):
            metrics.record_batch(source, random.randint(1, 32), random.expovariate(20))
    print("ready", flush=True)
    sys.stdin.read()  # stay alive (a live process's files are never cleaned) until told
    """
)


def fill_store(url: str, items: int, people: int) -> dict[str, int]:
    """Write the history: decisions, other actions and people's label corrections."""
    store = open_store(url)
    rng = random.Random(7)
    logins = [f"person{n}" for n in range(people)]
    scale = items / sum(REPOS.values())
    action_rows: list[dict[str, Any]] = []
    feedback_rows: list[dict[str, Any]] = []
    for repo, count in REPOS.items():
        for number in range(1, round(count * scale) + 1):
            action_rows += item_actions(rng, repo, number)
            feedback_rows += corrections(rng, repo, number, logins)
    with store.engine.begin() as conn:
        conn.execute(insert(actions), action_rows)
        conn.execute(insert(feedback), feedback_rows)
    store.engine.dispose()
    return {"actions": len(action_rows), "feedback": len(feedback_rows)}


def item_actions(rng: random.Random, repo: str, number: int) -> list[dict[str, Any]]:
    """An item's audit log: its triage decision, often a reviewer request or a welcome."""
    probs = {label: round(rng.random(), 3) for label in LABELS}
    applied = [label for label, p in probs.items() if p > 0.8][:2]
    held = [label for label, p in probs.items() if 0.6 < p <= 0.8][:1]
    mode = "shadow" if repo in SHADOW_REPOS else "live"
    rows = [
        row(repo, number, "triage", "decision", mode, applied=applied, shadow=held, probs=probs)
    ]
    if rng.random() < 0.4:
        rows.append(row(repo, number, "reviewers", "request", "live", reviewers=["person1"]))
    if rng.random() < 0.15:
        rows.append(row(repo, number, "welcome", "comment", "live", kind="issue"))
    return rows


def row(
    repo: str, number: int, feature: str, action: str, mode: str, **detail: Any
) -> dict[str, Any]:
    """One ``actions`` row."""
    return {
        "effect_key": f"{feature}:{action}:{repo}#{number}",
        "delivery_id": None,
        "installation_id": 1,
        "repo": repo,
        "number": number,
        "feature": feature,
        "action": action,
        "detail": detail,
        "mode": mode,
        "created_at": now_utc(),
    }


def corrections(
    rng: random.Random, repo: str, number: int, logins: list[str]
) -> list[dict[str, Any]]:
    """What people did to an item's labels afterwards (about half the items)."""
    if rng.random() > 0.5:
        return []
    kind = rng.choice(("label_added", "label_added", "label_removed"))
    return [
        {
            "repo": repo,
            "number": number,
            "kind": kind,
            "subject": rng.choice(LABELS),
            "actor": rng.choice(logins),
            "bot_action_id": None,
            "created_at": now_utc(),
        }
    ]


def start_writers(directory: Path, count: int) -> list[subprocess.Popen[str]]:
    """``count`` live processes that wrote a day of metrics to ``directory``."""
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    return writers


def start_serve(port: int, data_dir: Path, database_url: str, redis_url: str | None) -> Any:
    """``steward serve --no-worker`` on this store and metrics directory."""
    env = {
        **os.environ,
        "APP_ID": "1",
        "PRIVATE_KEY": key_pair()[0],
        "WEBHOOK_SECRET": "bench-secret",
        "STEWARD_DATA_DIR": str(data_dir),
        "STEWARD_ENV_FILE": str(data_dir / "none.env"),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "warning",
        "PORT": str(port),
        # /metrics is not public: the scrape carries the token, as Prometheus's would.
        "STEWARD_METRICS_TOKEN": SCRAPE_TOKEN,
    }
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    command = [sys.executable, "-m", "app.cli", "serve", "--no-worker"]
    return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)


async def scrape_times(url: str, count: int) -> tuple[float, list[float], int]:
    """(first scrape ms, the next ``count`` scrapes' ms, bytes of the last answer)."""
    times: list[float] = []
    size = 0
    headers = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(count + 1):
            start = time.perf_counter()
            async with session.get(url) as resp:
                body = await resp.read()
                assert resp.status == 200, body[:200]
            times.append((time.perf_counter() - start) * 1000)
            size = len(body)
    return times[0], times[1:], size


def report(args: argparse.Namespace, stored: dict[str, int], results: dict[str, Any]) -> None:
    """Print the table."""
    first, warm, size, files, precision_ms = (
        results[k] for k in ("first", "warm", "size", "files", "precision_ms")
    )
    print(f"\n/metrics of steward serve: {args.scrapes} scrapes, one at a time")
    print(f"  store             {args.items} items, {args.people} people, {len(REPOS)} repos")
    print(f"                    {stored['actions']} actions, {stored['feedback']} corrections")
    print(f"  multiprocess dir  {files} files from {args.writers + 1} live processes")
    print(f"  answer            {size / 1024:.1f} KiB")
    print(f"  live precision    {precision_ms:8.1f} ms to compute (once a minute, in a thread)")
    print(f"  first scrape      {first:8.2f} ms (right after start-up)")
    for q in (50, 95):
        print(f"  p{q} scrape        {percentile(warm, q):8.2f} ms")
    print(f"  max scrape        {max(warm):8.2f} ms")


def main() -> int:
    """Fill, start, scrape, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--port", type=int, default=3917)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="steward-bench-metrics-") as tmp:
        data_dir = Path(tmp)
        database_url = f"sqlite:///{data_dir / 'steward.db'}"
        stored = fill_store(database_url, args.items, args.people)
        store = open_store(database_url)
        started = time.perf_counter()
        precision_by_repository(store.triage_decisions(), store.label_feedback())
        precision_ms = (time.perf_counter() - started) * 1000
        writers = start_writers(data_dir / "metrics", args.writers)
        server = start_serve(args.port, data_dir, database_url, pick_redis())
        try:
            base = f"http://127.0.0.1:{args.port}"
            if not wait_for_http(f"{base}/healthz"):
                print("steward serve did not start", file=sys.stderr)
                return 1
            first, warm, size = asyncio.run(scrape_times(f"{base}/metrics", args.scrapes))
        finally:
            stop_server(server)
            for writer in writers:
                writer.communicate("")
        files = len(list((data_dir / "metrics").glob("*.db")))
        results = {"first": first, "warm": warm, "size": size, "files": files}
        report(args, stored, {**results, "precision_ms": precision_ms})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
