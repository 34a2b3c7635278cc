"""Benchmark the dashboard's pages: is each one rendered in under 300 ms?

Fills a SQLite store with one busy repository (10,000 items touched by 200 people:
triage decisions, reviewer requests, welcomes, reviewed changes, corrections, first
responses) plus three smaller ones, then renders each page 50 times the way a request
does (database reads, statistics, SVG, HTML) and prints p50 and p95 per page.

    python benchmarks/bench_dashboard.py [--items 10000] [--people 200] [--renders 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.dashboard import views  # noqa: E402
from app.dashboard.routes import render_index, render_repo  # noqa: E402
from app.dashboard.session import Session  # noqa: E402
from core.community import reads as data  # noqa: E402
from core.store import Store, open_store  # noqa: E402
from tests.dashboard_seed import seed  # noqa: E402

TARGET_MS = 300.0
BUSY = "acme/api"
OTHERS = ("acme/web", "acme/docs", "tools/cli")


def fill(store: Store, *, items: int, people: int) -> None:
    """One busy repository and three smaller ones, all known to Steward."""
    store.upsert_installation(1, "acme", "Organization")
    store.add_repositories(1, [(1, BUSY), (2, OTHERS[0]), (3, OTHERS[1])])
    store.upsert_installation(2, "tools", "Organization")
    store.add_repositories(2, [(4, OTHERS[2])])
    seed(store, BUSY, items=items, people=people)
    for repo in OTHERS:
        seed(store, repo, items=items // 10, people=people // 4)


def timed(render: Callable[[], str], renders: int) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, page bytes) over ``renders`` renders."""
    samples = []
    size = 0
    for _ in range(renders):
        start = time.perf_counter()
        size = len(render())
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(0.95 * len(samples)) - 1)], size


def main() -> int:
    """Run the benchmark; exit 1 if a page misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--renders", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/bench.db")
        start = time.perf_counter()
        fill(store, items=args.items, people=args.people)
        took = time.perf_counter() - start
        print(f"seeded {args.items} items, {args.people} people in {took:.1f} s")
        person = Session(
            "alice", 2**31, [(1, "acme", [BUSY, *OTHERS[:2]]), (2, "tools", [OTHERS[2]])]
        )
        pages: dict[str, Callable[[], str]] = {
            "/dashboard": lambda: render_index(store, person),
            f"/dashboard/{BUSY}": lambda: render_repo(store, BUSY, "alice"),
            "  triage section": lambda: views.triage_section(data.triage_data(store, BUSY)),
            "  response section": lambda: views.response_section(data.response_data(store, BUSY)),
            "  people section": lambda: views.people_section(data.people_data(store, BUSY)),
        }
        failed = False
        print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>8}")
        for name, render in pages.items():
            p50, p95, size = timed(render, args.renders)
            failed |= not name.startswith(" ") and p95 > TARGET_MS
            print(f"{name:<28} {p50:8.1f} {p95:8.1f} {size:8d}")
        print(f"target: every page's p95 < {TARGET_MS:.0f} ms: {'missed' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
