"""Time ``calibrate.choose_settings`` on a 10,000-change history (issue 28: under a minute).

The history is ``bench_reviewers.build_history``'s: the real Android and golang.org/x/net
histories end to end, then renamed copies, up to ``--changes``; ``--replicate NAME`` repeats
one file of the data folder instead (golang-net.jsonl: authors and texts, so the people
task is replayed too); ``--history FILE`` times a given JSONL history. ``--vectors`` adds a
random unit vector per text (the bot hands over the stored ones), so the encoder variants
are replayed and timed too. ``--as-of`` is the replay's moment (default ``created``, as the
bot chooses; ``merged`` is RevFinder's protocol). Prints the time, the windows and what was
chosen.

    .venv/bin/python benchmarks/bench_matching_choice.py [--changes 10000] [--vectors]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package


def _changes(args: argparse.Namespace) -> list[Any]:
    from benchmarks.bench_reviewers import DATA, build_history
    from models.reviewers.data import Change, load_changes

    if args.history:
        return load_changes(args.history)
    if args.replicate:
        return [Change.from_dict(row) for row in replicate(DATA / args.replicate, args.changes)]
    return [Change.from_dict(row) for row in build_history(DATA, args.changes)]


def replicate(path: Path, size: int) -> list[dict[str, Any]]:
    """One history repeated end to end (renamed copies, times shifted) up to ``size``."""
    from benchmarks.bench_reviewers import YEAR, _read, _shifted
    from models.reviewers.data import parse_time

    rows = _read(path)
    start = min(parse_time(r["merged_at"]) for r in rows)
    history: list[dict[str, Any]] = []
    copy = 0
    while len(history) < size:
        end = max((parse_time(r["merged_at"]) for r in history), default=start - YEAR / 12)
        offset = max(0.0, end + YEAR / 12 - start)
        history += _shifted(rows, offset, f"copy{copy}" if copy else "")[: size - len(history)]
        copy += 1
    return history


def _random_vectors(changes: list[Any]) -> dict[str, Any]:
    import numpy as np

    from models.reviewers.tasks import texts_needed

    rng = np.random.default_rng(0)
    texts = texts_needed(changes)
    return dict(zip(texts, rng.normal(size=(len(texts), 384)).astype(np.float32), strict=True))


def main() -> int:
    """Build the history, time one choice, print the time and the choice's summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--history", type=Path, default=None)
    parser.add_argument(
        "--replicate",
        default=None,
        help="a file of the data folder repeated to --changes (e.g. golang-net.jsonl)",
    )
    parser.add_argument("--vectors", action="store_true", help="random encoder vectors")
    parser.add_argument(
        "--as-of",
        choices=("created", "merged"),
        default="created",
        help="the replay's moment of ranking (default: created, as the bot chooses)",
    )
    args = parser.parse_args()
    from models.reviewers.calibrate import choose_settings

    changes = _changes(args)
    vectors = _random_vectors(changes) if args.vectors else None
    load = os.getloadavg()[0]
    started = time.perf_counter()
    choice = choose_settings(changes, vectors=vectors, as_of=args.as_of)
    seconds = time.perf_counter() - started
    print(f"changes: {len(changes)}  choose_settings: {seconds:.1f}s  (load average {load:.1f})")
    reviewers, people = choice.reviewers, choice.people
    summary = {
        "windows": vars(choice.windows),
        "reviewers": {
            "encoder": reviewers.encoder,
            "regularization": reviewers.regularization,
            "per_request": reviewers.policy().per_request,
            "reason": reviewers.load_reason,
        },
        "people": {"encoder": people.encoder, "reason": people.reason},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
