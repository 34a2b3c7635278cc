"""Live precision of triage: what the bot applied (or, in shadow mode, would have) versus
what people did afterwards, from the audit log and the recorded feedback.

``steward evaluate-live --repo owner/name`` prints it; the rule itself is pure and lives in
:mod:`core.live_precision` (``/metrics`` exports it too); what the gates read of it per
label is :func:`workers.gates.label_counts`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.live_precision import live_precision

__all__ = ["cmd_evaluate_live", "live_precision", "register"]


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
