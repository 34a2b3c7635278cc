"""``steward eval-reviewers``: replay a review history, Steward's ranker against RevFinder.

Registered into the top-level ``steward`` parser by ``app.cli`` through ``register``.
Heavy work happens inside the handler only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EVAL_HELP = (
    "Chronological replay of a review history (JSONL): top-k accuracy and MRR of Steward's "
    "ranker and of RevFinder, plus the busiest reviewer's share of requests."
)


def register(subparsers: Any) -> None:
    """Add ``eval-reviewers`` to an argparse sub-parsers action."""
    parser = subparsers.add_parser("eval-reviewers", help=EVAL_HELP, description=EVAL_HELP)
    parser.add_argument("--history", required=True, help="review history, one change per line")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--k", type=int, nargs="+", default=[1, 3, 5, 10], help="cut-offs for top-k accuracy"
    )
    parser.add_argument(
        "--eval-from", type=float, default=0.5, help="first evaluated share of the history"
    )
    parser.add_argument(
        "--eval-to", type=float, default=1.0, help="end of the evaluated share (exclusive)"
    )
    parser.add_argument(
        "--as-of",
        choices=("merged", "created"),
        default="merged",
        help="rank each change at its merge time (RevFinder's protocol) or its creation time",
    )
    parser.add_argument("--limit", type=int, default=None, help="read only the first N lines")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(func=handle_eval)


def handle_eval(args: argparse.Namespace) -> int:
    """Run the replay and print the report; 0 on success, 2 on unusable input."""
    from models.reviewers.data import load_changes
    from models.reviewers.evaluate import replay

    try:
        changes = load_changes(args.history, limit=args.limit)
    except (OSError, ValueError) as exc:
        print(f"eval-reviewers: cannot read {args.history}: {exc}", file=sys.stderr)
        return 2
    if len(changes) < 2:
        print("eval-reviewers: the history needs at least two changes", file=sys.stderr)
        return 2
    report = replay(
        changes,
        eval_from=args.eval_from,
        eval_to=args.eval_to,
        as_of=args.as_of,
        k_values=args.k,
        progress=not args.no_progress,
    )
    result = report.as_dict()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{report.n_changes} changes replayed in {report.seconds:.1f}s")
        print(format_table(result))
    return 0


def format_table(result: dict[str, Any]) -> str:
    """Human-readable report of ``ReplayReport.as_dict()``."""
    load = result["load"]
    rankers = {
        "Steward": result["steward"],
        "RevFinder": result["revfinder"],
        "Steward+load": load["steward_with_load"],
    }
    columns = [key for key in result["steward"] if key != "n"]
    lines = [
        f"{result['steward']['n']} changes evaluated",
        "ranker         " + "".join(f"{c:>8}" for c in columns),
    ]
    for name, metrics in rankers.items():
        lines.append(f"{name:<15}" + "".join(f"{metrics[c]:>8.3f}" for c in columns))
    lines += [
        "",
        f"busiest reviewer share of {load['requests']} requests:",
        f"  real history       {load['real_busiest_share']:.3f}  ({load['real_busiest']})",
        f"  Steward with load  {load['steward_busiest_share']:.3f}  ({load['steward_busiest']})",
        f"  Steward, no load   {load['steward_no_discount_busiest_share']:.3f}  "
        f"({load['steward_no_discount_busiest']})",
    ]
    return "\n".join(lines)
