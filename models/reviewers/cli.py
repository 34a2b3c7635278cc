"""``steward eval-reviewers``: replay a review history, Steward against simple baselines.

``--task reviewers`` (default) compares the reviewer ranker with RevFinder and reports the
simulated review load; ``--task people`` ranks who will author a change from its text as if
it were an issue; ``--task work`` ranks open changes for their next author. Every task
reports Steward with and without the encoder feature; with ``--no-encoder`` the encoder run
is skipped and ``steward`` equals ``steward_no_encoder``. Registered into the top-level
``steward`` parser by ``app.cli`` through ``register``; heavy work happens in the handler.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

EVAL_HELP = (
    "Chronological replay of a review history (JSONL): top-k accuracy and MRR of Steward "
    "against baselines for reviewers (with RevFinder and the busiest reviewer's share of "
    "requests), people for an issue, or work for a person."
)
EVAL_SUMMARY = "replay a review history: how well Steward ranks reviewers, people and work"


def register(subparsers: Any) -> None:
    """Add ``eval-reviewers`` to an argparse sub-parsers action."""
    parser = subparsers.add_parser("eval-reviewers", help=EVAL_SUMMARY, description=EVAL_HELP)
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
    parser.add_argument(
        "--task",
        choices=("reviewers", "people", "work"),
        default="reviewers",
        help="what to evaluate: reviewers for a change, people for an issue, work for a person",
    )
    parser.add_argument(
        "--encoder",
        default=None,
        help="encoder name or path for the encoder feature (default: STEWARD_BASE_MODEL or "
        "the packaged all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--no-encoder",
        action="store_true",
        help="skip the encoder run (then steward equals steward_no_encoder)",
    )
    _add_task_options(parser)
    parser.set_defaults(func=handle_eval)


def _add_task_options(parser: Any) -> None:
    """Options of single tasks: the work window and the per-repository choice."""
    parser.add_argument(
        "--window-days",
        type=float,
        default=None,
        help="work task: rank each change among changes created this many days around it "
        "and still open (default 30)",
    )
    parser.add_argument(
        "--no-choice",
        action="store_true",
        help="reviewers and people: skip the per-repository choice (settings chosen by "
        "replay of the older part, scored beside the fixed policy on the evaluated part)",
    )


def handle_eval(args: argparse.Namespace) -> int:
    """Run the chosen task and print the report; 0 on success, 2 on unusable input."""
    from models.reviewers.data import load_changes

    try:
        changes = load_changes(args.history, limit=args.limit)
    except (OSError, ValueError) as exc:
        print(f"eval-reviewers: cannot read {args.history}: {exc}", file=sys.stderr)
        return 2
    if len(changes) < 2:
        print("eval-reviewers: the history needs at least two changes", file=sys.stderr)
        return 2
    started = time.perf_counter()
    result = run_task(args, changes)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(changes)} changes replayed in {result['seconds']:.1f}s")
        print(format_table(result))
    return 0


def run_task(args: argparse.Namespace, changes: list[Any]) -> dict[str, Any]:
    """Encode once (unless ``--no-encoder``) and run ``args.task``'s evaluation."""
    from models.reviewers import tasks

    vectors = None if args.no_encoder else _vectors(args, changes)
    progress = not args.no_progress
    window = {"eval_from": args.eval_from, "eval_to": args.eval_to, "k_values": args.k}
    if args.task == "work":
        days = args.window_days or tasks.WORK_WINDOW_DAYS
        return tasks.evaluate_work(changes, vectors, progress=progress, window_days=days, **window)
    evaluate = tasks.evaluate_people if args.task == "people" else tasks.evaluate_reviewers
    result: dict[str, Any] = evaluate(
        changes, vectors, as_of=args.as_of, progress=progress, **window
    )
    if args.no_choice:
        return result
    from models.reviewers.choice_eval import attach_choice, evaluate_choice

    section = evaluate_choice(
        args.task,
        changes,
        vectors,
        eval_from=args.eval_from,
        eval_to=args.eval_to,
        as_of=args.as_of,
    )
    return attach_choice(result, section)


def _vectors(args: argparse.Namespace, changes: list[Any]) -> dict[str, Any]:
    """Every text the task needs, embedded once in batched calls."""
    import os

    from models.defaults import base_model
    from models.encoder import get_encoder
    from models.reviewers.tasks import encode_all, texts_needed

    encoder = get_encoder(args.encoder or base_model(os.environ))
    return encode_all(encoder, texts_needed(changes), progress=not args.no_progress)


def format_table(result: dict[str, Any]) -> str:
    """Human-readable report of a task's result (``--json`` prints the same numbers)."""
    table = _reviewers_table(result) if result.get("task", "reviewers") == "reviewers" else ""
    table = table or _task_table(result)
    if "choice" not in result:
        return table
    from models.reviewers.choice_eval import format_choice

    return "\n".join([table, *format_choice(result)])


def _reviewers_table(result: dict[str, Any]) -> str:
    load = result["load"]
    encoder = " (encoder)" if result.get("encoder") else ""
    bot = " (bot)" if result.get("bot_uses_encoder") else ""
    rankers = {
        f"Steward{encoder}": result["steward"],
        f"Steward{encoder}+load{bot}": result.get("steward_with_load"),
        "Steward, no encoder": result.get("steward_no_encoder"),
        f"Steward, no encoder+load{'' if bot else ' (bot)'}": result.get(
            "steward_no_encoder_with_load"
        ),
        "RevFinder": result["revfinder"],
        "popularity": result.get("popularity"),
        "TF-IDF": result.get("tfidf"),
    }
    lines = _metric_lines(result["steward"]["n"], rankers)
    lines += [
        "",
        f"busiest reviewer share of {load['requests']} requests (as the bot runs):",
        f"  real history       {load['real_busiest_share']:.3f}  ({load['real_busiest']})",
        f"  Steward with load  {load['steward_busiest_share']:.3f}  ({load['steward_busiest']})",
        f"  Steward, no load   {load['steward_no_discount_busiest_share']:.3f}  "
        f"({load['steward_no_discount_busiest']})",
    ]
    return "\n".join(lines)


def _task_table(result: dict[str, Any]) -> str:
    names = {
        "steward": "Steward" + (" (encoder)" if result.get("encoder") else ""),
        "steward_no_encoder": "Steward, no encoder",
        "popularity": "popularity",
        "tfidf": "TF-IDF",
    }
    rankers = {label: result[key] for key, label in names.items()}
    return "\n".join([f"task: {result['task']}", *_metric_lines(result["n"], rankers)])


def _metric_lines(n: int, rankers: dict[str, Any]) -> list[str]:
    present = {name: metrics for name, metrics in rankers.items() if metrics}
    first = next(iter(present.values()))
    columns = [key for key in first if key != "n"]
    width = max(len(name) for name in present) + 2
    lines = [f"{n} evaluated", "ranker".ljust(width) + "".join(f"{c:>8}" for c in columns)]
    for name, metrics in present.items():
        lines.append(name.ljust(width) + "".join(f"{metrics[c]:>8.3f}" for c in columns))
    return lines
