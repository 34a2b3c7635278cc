"""``steward eval-duplicates``: replay a tracker's known duplicates, Steward against baselines.

Reads a GitBugs-layout tracker (``<name>_bugs.csv`` and ``<name>_bugs-combined.csv``),
embeds every report once with the packaged encoder (or ``--encoder``), and replays the
duplicate pairs in time order (``models.duplicates.replay``): recall@1/5/10 and MRR of
Steward, of its channels alone and of BM25 and TF-IDF baselines, in one run. Registered
into ``steward`` by ``app.cli`` through ``register``; heavy imports stay in the handler.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from models.duplicates.data import Reports
    from models.duplicates.replay import ReplayPlan

EVAL_SUMMARY = "replay a tracker's known duplicates: how well Steward finds them"
EVAL_HELP = (
    "Chronological replay of a bug tracker's duplicate pairs (GitBugs CSV layout): each "
    "later report of a pair is a query over every report filed before it. Prints "
    "recall@1/5/10 and MRR of Steward (encoder + BM25 + recency), of the encoder alone and "
    "of BM25 and TF-IDF baselines."
)
#: Rows of the table, in order, and their labels.
TABLE_ROWS = {
    "steward": "Steward",
    "steward_no_recency": "Steward without recency",
    "encoder": "encoder alone",
    "bm25": "BM25 alone",
    "tfidf": "TF-IDF alone",
}


def register(subparsers: Any) -> None:
    """Add ``eval-duplicates`` to an argparse sub-parsers action."""
    parser = subparsers.add_parser("eval-duplicates", help=EVAL_SUMMARY, description=EVAL_HELP)
    parser.add_argument("--reports", required=True, help="the tracker's reports (X_bugs.csv)")
    parser.add_argument("--pairs", required=True, help="its duplicate pairs (X_bugs-combined.csv)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--encoder",
        default=None,
        help="encoder name or path (default: STEWARD_BASE_MODEL or the packaged all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--no-encoder",
        action="store_true",
        help="words and recency only: no model is loaded, and there is no encoder row",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="texts per encoder batch")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.set_defaults(func=handle_eval)


def handle_eval(args: argparse.Namespace) -> int:
    """Load, embed, replay and print; 0 on success, 2 when the input cannot be used."""
    from models.duplicates.data import TrackerDataError

    started = time.perf_counter()
    try:
        reports, plan = load_tracker(args.reports, args.pairs)
    except TrackerDataError as exc:
        print(f"eval-duplicates: {exc}", file=sys.stderr)
        return 2
    if reports.undated:
        print(
            f"eval-duplicates: left out {len(reports.undated)} reports without a readable "
            f"Created time (first: {reports.undated[0]})",
            file=sys.stderr,
        )
    result = evaluate(args, reports, plan)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result) if args.json else format_report(result, args.reports))
    return 0


def load_tracker(reports_path: str, pairs_path: str) -> tuple[Reports, ReplayPlan]:
    """The reports and the replay plan; TrackerDataError when nothing can be replayed."""
    from models.duplicates.data import TrackerDataError, load_pairs, load_reports
    from models.duplicates.replay import plan_replay

    reports = load_reports(reports_path)
    pairs = load_pairs(pairs_path)
    keys = [report.key for report in reports.reports]
    plan = plan_replay(keys, [report.created for report in reports.reports], pairs)
    if not plan.queries:
        raise TrackerDataError(
            f"{pairs_path}: none of its {len(pairs)} pairs names two reports of {reports_path} "
            "(nothing to replay)"
        )
    return reports, plan


def evaluate(args: argparse.Namespace, reports: Reports, plan: ReplayPlan) -> dict[str, Any]:
    """Embed (unless ``--no-encoder``), index and replay; the result as JSON-ready data."""
    from dataclasses import asdict

    from models.duplicates.index import DuplicateIndex
    from models.duplicates.replay import RANKERS, replay

    rows = reports.reports
    model, vectors = embed_reports(args, reports)
    index = DuplicateIndex(
        [r.key for r in rows],
        [r.title for r in rows],
        [r.body for r in rows],
        vectors,
        [r.created for r in rows],
    )
    rankers = {name: rank for name, rank in RANKERS.items() if model or name != "encoder"}
    metrics = replay(index, plan, rankers, progress=not args.no_progress)
    return {
        "n": len(plan.queries),
        **metrics,
        "reports": len(rows),
        "undated": len(reports.undated),
        "pairs": plan.pairs,
        "pairs_with_both": plan.pairs_with_both,
        "encoder_model": model,
        "weights": asdict(index.weights),
    }


def embed_reports(args: argparse.Namespace, reports: Reports) -> tuple[str | None, np.ndarray]:
    """The encoder's name and one vector per report (zeros, no name, with ``--no-encoder``)."""
    import os

    import numpy as np

    from models.matching import embed_in_batches, embedding_text

    if args.no_encoder:
        return None, np.zeros((len(reports.reports), 1), dtype=np.float32)
    from models.defaults import base_model, model_name
    from models.encoder import get_encoder

    name = args.encoder or base_model(os.environ)
    encoder = get_encoder(name)
    texts = [embedding_text(r.title, r.body) for r in reports.reports]
    progress = not args.no_progress
    return model_name(name), embed_in_batches(encoder, texts, args.batch_size, progress)


def format_report(result: dict[str, Any], source: str) -> str:
    """The human-readable table (``--json`` prints the same numbers)."""
    header = (
        f"{source}: {result['reports']} reports, {result['pairs']} pairs "
        f"({result['pairs_with_both']} with both reports), {result['n']} queries; "
        f"encoder {result['encoder_model'] or 'none'}; {result['seconds']:.1f} s"
    )
    columns = ("recall@1", "recall@5", "recall@10", "mrr")
    width = max(len(label) for label in TABLE_ROWS.values()) + 2
    lines = [header, "ranker".ljust(width) + "".join(f"{c:>11}" for c in columns)]
    for key, label in TABLE_ROWS.items():
        if key in result:
            lines.append(label.ljust(width) + "".join(f"{result[key][c]:>11.3f}" for c in columns))
    return "\n".join(lines)
