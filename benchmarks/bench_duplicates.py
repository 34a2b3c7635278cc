"""Measure one possible-duplicates query against ``--candidates`` earlier issues (10,000).

The index holds real bug-report texts (a GitBugs tracker, ``--reports``; its reports are
repeated with a copy number in the title until there are enough) and random unit
vectors of the encoder's width (384): the cost of the cosine does not depend on the
values. Each query is a report of the tracker asked as a new issue with its vector
already computed (what the bot has once the issue is embedded): ``DuplicateIndex.query``
with ``at`` after every candidate (recency on) and ``k`` 5. Prints the per-query
latency (p50, p95, mean) and the time to build the index.

    nice .venv/bin/python benchmarks/bench_duplicates.py [--candidates 10000]
        [--queries 200] [--reports /work/shared/data/duplicates/hadoop_bugs.csv] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
REPORTS = Path("/work/shared/data/duplicates/hadoop_bugs.csv")
DIM = 384  # all-MiniLM-L6-v2
DAY = 86_400.0


def texts(path: Path, count: int) -> list[tuple[str, str]]:
    """``count`` (title, body) pairs: the tracker's reports, repeated with a copy number."""
    from models.duplicates.data import load_reports

    reports = load_reports(path).reports
    return [
        (
            f"{reports[i % len(reports)].title} (copy {i // len(reports)})",
            reports[i % len(reports)].body,
        )
        for i in range(count)
    ]


def measure(candidates: int, queries: int, path: Path) -> dict[str, Any]:
    """Build an index of ``candidates`` issues and time ``queries`` single queries."""
    from models.duplicates.index import DuplicateIndex

    rng = np.random.default_rng(0)
    items = texts(path, candidates)
    vectors = rng.standard_normal((candidates, DIM)).astype(np.float32)
    started = time.perf_counter()
    index = DuplicateIndex(
        [f"issue:{i}" for i in range(candidates)],
        [title for title, _ in items],
        [body for _, body in items],
        vectors,
        [i * DAY / 10 for i in range(candidates)],
    )
    build_s = time.perf_counter() - started
    asked = rng.choice(candidates, size=queries, replace=False)
    timings = []
    for row in asked:
        title, body = items[row]
        vector = rng.standard_normal(DIM).astype(np.float32)
        started = time.perf_counter()
        index.query(title, body, vector, at=candidates * DAY, k=5)
        timings.append((time.perf_counter() - started) * 1000)
    ms = np.array(timings)
    return {
        "candidates": candidates,
        "queries": queries,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "mean_ms": round(float(ms.mean()), 2),
        "build_s": round(build_s, 2),
        "vocabulary": len(index.lexical.vocabulary),
    }


def main() -> int:
    """Parse the options, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--reports", type=Path, default=REPORTS, help="a GitBugs X_bugs.csv")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not args.reports.exists():
        print(f"bench_duplicates: {args.reports} not found (give --reports)", file=sys.stderr)
        return 2
    result = measure(args.candidates, min(args.queries, args.candidates), args.reports)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['candidates']} candidates ({result['vocabulary']} words), "
            f"{result['queries']} queries: p50 {result['p50_ms']:.1f} ms, "
            f"p95 {result['p95_ms']:.1f} ms, mean {result['mean_ms']:.1f} ms per query; "
            f"index built in {result['build_s']:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
