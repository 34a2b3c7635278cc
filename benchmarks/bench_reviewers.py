"""Time ``steward eval-reviewers`` on a 10,000-change history (load + full replay).

The history concatenates the two real development histories end to end, as if one
organisation's repositories were merged (Android's 5,126 path-only changes, then
golang.org/x/net's 1,813, then a renamed copy of the first Android changes until 10,000),
with merge times shifted so each part follows the previous one. The last half is evaluated
with both Steward's ranker and RevFinder, exactly as the CLI does.

    .venv/bin/python benchmarks/bench_reviewers.py [--changes 10000] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
DATA = Path("/work/shared/data/reviews")
YEAR = 365 * 86_400.0


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _shifted(rows: list[dict[str, Any]], offset: float, tag: str) -> list[dict[str, Any]]:
    """Rows with times moved by ``offset`` seconds; ``tag`` renames paths and people."""
    from models.reviewers.data import format_time, parse_time

    out = []
    for row in rows:
        copy = dict(row)
        for key in ("created_at", "merged_at"):
            copy[key] = format_time(parse_time(row[key]) + offset)
        if tag:
            copy["files"] = [f"{tag}/{f}" for f in row["files"]]
            copy["reviewers"] = [f"{tag}-{r}" for r in row["reviewers"]]
            copy["author"] = f"{tag}-{row['author']}" if row["author"] else ""
        out.append(copy)
    return out


def build_history(data: Path, size: int) -> list[dict[str, Any]]:
    """Concatenate the real histories (renamed copies as needed) up to ``size`` changes."""
    from models.reviewers.data import parse_time

    parts = [_read(data / "android-revfinder.jsonl"), _read(data / "golang-net.jsonl")]
    history: list[dict[str, Any]] = []
    end, copy = 0.0, 0
    while len(history) < size:
        rows = parts[copy % len(parts)]
        start = min(parse_time(r["merged_at"]) for r in rows)
        offset = max(0.0, end + YEAR / 12 - start)
        tag = f"copy{copy // len(parts)}" if copy >= len(parts) else ""
        history += _shifted(rows, offset, tag)[: size - len(history)]
        end = max(parse_time(r["merged_at"]) for r in history)
        copy += 1
    return history


def main() -> int:
    """Build the history, time the CLI replay, print timings and the metrics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    from models.reviewers.data import load_changes
    from models.reviewers.evaluate import replay

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for row in build_history(args.data, args.changes):
                handle.write(json.dumps(row) + "\n")
        started = time.perf_counter()
        changes = load_changes(path)
        loaded = time.perf_counter()
        report = replay(changes, progress=sys.stderr.isatty())
        done = time.perf_counter()
    result = report.as_dict()
    print(f"changes: {len(changes)}, evaluated: {result['steward']['n']}")
    print(
        f"load: {loaded - started:.1f}s  replay: {done - loaded:.1f}s  total: {done - started:.1f}s"
    )
    print(json.dumps({k: result[k] for k in ("steward", "revfinder")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
