"""Live precision of triage: what the bot applied (or, in shadow mode, would have) versus
what people did afterwards, from the audit log and the recorded feedback.

``steward evaluate-live --repo owner/name`` prints it; the rule itself is pure and lives in
:mod:`core.live_precision` (``/metrics`` exports it too).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from core.live_precision import human_labels, live_precision, split_decision
from models.triage.gate import LiveCounts

__all__ = [
    "cmd_evaluate_live",
    "human_labels",
    "label_counts",
    "live_precision",
    "register",
    "split_decision",
]


def label_counts(
    decisions: Iterable[Mapping[str, Any]], feedback: Iterable[Mapping[str, Any]]
) -> dict[str, LiveCounts]:
    """Per label, what people did with the bot's live and shadow decisions (for the gate).

    A live label is right unless a person removed it; a shadow label is judged once a
    person labelled the item, and right if they applied that label.
    """
    people = human_labels(feedback)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    scores: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for decision in decisions:
        live, shadow = split_decision(decision)
        added, removed = people.get(int(decision["number"]), (set(), set()))
        probs = decision["detail"].get("probs") or {}
        for label in live:
            tally[label][0] += 1
            tally[label][1] += label not in removed
        for label in shadow if added else ():
            tally[label][2] += 1
            tally[label][3] += label in added
            scores[label].append((float(probs.get(label, 0.0)), label in added))
    return {
        label: LiveCounts(
            live_applied=applied,
            live_correct=kept,
            shadow_judged=judged,
            shadow_correct=agreed,
            shadow=tuple(scores[label]),
        )
        for label, (applied, kept, judged, agreed) in tally.items()
    }


def cmd_evaluate_live(args: argparse.Namespace) -> int:
    """Print live precision for one repository from this deployment's database."""
    from core.settings import load_settings
    from core.store import open_store

    store = open_store(load_settings().database_url_or_default)
    actions = store.actions_for(args.repo)
    decisions = [a for a in actions if a["feature"] == "triage" and a["action"] == "decision"]
    result = {"repo": args.repo, **live_precision(decisions, store.feedback_for(args.repo))}
    if args.json:
        print(json.dumps(result))
        return 0
    for key, value in result.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{key:<18} {shown}")
    if not result["decisions"]:
        print("no triage decisions recorded for this repository yet", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add ``steward evaluate-live``."""
    parser = subparsers.add_parser(
        "evaluate-live",
        help="precision of the labels the bot applied (or would have, in shadow mode)",
    )
    parser.add_argument("--repo", required=True, help="owner/name")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=cmd_evaluate_live)
