"""``steward status --repo owner/name``: where a repository's triage stands, per label.

For every label the gate measured: live or shadow, measured precision, the lower
confidence bound the gate reads and how many more right decisions it needs, support,
coverage, why, and since when; which labels are status labels the bot never guesses;
the classifier in use and when it last changed. Then the possible duplicates (their gate,
measured the same way on the repository's own duplicates, and what people did with the
suggestions) and the reviewer matching (the load discount in use and its source, each
task's choice and the numbers behind it, whether a new choice is due), and what the
last scheduled retraining did with the repository and why. Read from this
deployment's database (no GitHub calls); ``--json`` prints one object for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

#: How ``steward status`` names what a gate is for.
FOR = {"issue": "issues", "pull_request": "pull requests", "discussion": "discussions"}


def label_rows(gates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per gated label, live ones first."""
    from models.triage.gate import gate_from_json

    rows = []
    for row in gates:
        gate = gate_from_json(row["gate"])
        rows.append(
            {
                "label": row["label"],
                "for": FOR.get(str(row.get("kind") or "issue"), "issues"),
                "state": "live" if row["live"] else "shadow",
                "source": row["source"],
                "precision": gate.precision,
                "bound": gate.bound,
                "confidence": gate.confidence,
                "target": gate.target,
                "needed": 0 if row["live"] else gate.needed,
                "support": gate.applied,
                "judged": gate.judged,
                "judged_correct": gate.judged_correct,
                "coverage": gate.coverage,
                "threshold": gate.threshold,
                "since": str(row["changed_at"])[:19],
                "reason": gate.reason,
            }
        )
    order = list(FOR.values())
    return sorted(rows, key=lambda r: (order.index(r["for"]), r["state"] != "live", r["label"]))


def status_report(
    repo: str,
    *,
    gates: Sequence[Mapping[str, Any]],
    profile: Mapping[str, Any] | None,
    model: Mapping[str, Any] | None,
    duplicates: Mapping[str, Any] | None = None,
    matching: Mapping[str, Any] | None = None,
    retraining: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything ``steward status`` shows, as one JSON-ready object (pure).

    ``duplicates`` and ``matching`` are the sections :func:`duplicates_report` and
    :func:`matching_report` build (None: left out); ``retraining`` is the last retrain's
    audit-log row (None: never retrained).
    """
    labels = label_rows(gates)
    taxonomy = (profile or {}).get("taxonomy") or {}
    history = (profile or {}).get("history") or {}
    live = sorted({r["label"] for r in labels if r["state"] == "live"})
    return {
        "duplicates": dict(duplicates) if duplicates else None,
        "matching": dict(matching) if matching else None,
        "retraining": retraining_report(retraining),
        "repo": repo,
        "bootstrapped_at": (profile or {}).get("bootstrapped_at"),
        "classifier": classifier_of(labels, model),
        "model": dict(model) if model else None,
        "policy": (profile or {}).get("policy"),
        "history": history,
        "labels": labels,
        "live": live,
        "status_labels": sorted(n for n, t in taxonomy.items() if t.get("kind") == "status"),
        "summary": summary_line(profile, history=history, live=live),
    }


def classifier_of(labels: Sequence[Mapping[str, Any]], model: Mapping[str, Any] | None) -> str:
    """Which classifier the gates measure: a fine-tuned model or the nearest neighbours."""
    sources = {r["source"] for r in labels}
    if "model" in sources and model:
        return f"fine-tuned model, version {model.get('version')}"
    if model:
        return f"fine-tuned model, version {model.get('version')} (not gated yet: all shadow)"
    return "nearest neighbours over the labelled history" if labels else "none"


def summary_line(
    profile: Mapping[str, Any] | None, *, history: Mapping[str, Any], live: Sequence[str]
) -> str:
    """One sentence a maintainer reads first."""
    if profile is None:
        return "not bootstrapped yet: nothing is applied; decisions wait for the history"
    if not history.get("examples"):
        return (
            "no labelled history: nothing is applied live; every decision is recorded in "
            "shadow until people's labels show what works"
        )
    if not live:
        return "no label has reached the bar yet: decisions are recorded in shadow only"
    return f"{len(live)} label(s) live: {', '.join(live)}; the rest are recorded in shadow"


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def render(report: Mapping[str, Any]) -> str:
    """The report as text for a terminal."""
    lines = [f"{report['repo']}: {report['summary']}", f"  classifier: {report['classifier']}"]
    if report["bootstrapped_at"]:
        history = report["history"]
        lines.append(
            f"  bootstrapped {report['bootstrapped_at']} from {history.get('records', 0)} "
            f"items ({history.get('examples', 0)} labelled issues with triage labels)"
        )
    if report["labels"]:
        first = report["labels"][0]
        lines.append(
            f"  a label goes live when the {first['confidence']:.0%} lower bound of its "
            f"precision reaches {first['target']:.2f}"
        )
        lines.append(
            f"  {'label':<24} {'for':<13} {'state':<7} {'precision':>9} {'bound':>6} "
            f"{'support':>7} {'people':>7} {'needs':>6} {'coverage':>8}  since"
            f"                why"
        )
    for r in report["labels"]:
        people = f"{r['judged_correct']}/{r['judged']}" if r["judged"] else "-"
        lines.append(
            f"  {r['label']:<24} {r['for']:<13} {r['state']:<7} {_num(r['precision']):>9} "
            f"{_floor(r['bound']):>6} {r['support']:>7} {people:>7} {_needs(r['needed']):>6} "
            f"{_num(r['coverage']):>8}  {r['since']:<20} {r['reason']}"
        )
    if report["status_labels"]:
        lines.append(f"  never guessed (status labels): {', '.join(report['status_labels'])}")
    lines += render_retraining(report.get("retraining"))
    lines += render_duplicates(report.get("duplicates"))
    lines += render_matching(report.get("matching"))
    return "\n".join(lines)


def retraining_report(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The last scheduled retraining of the repository: when, whether it trained (heads
    alone or the org's encoder), the version it made and why (None: never retrained)."""
    if row is None:
        return None
    detail = dict(row.get("detail") or {})
    return {
        "at": str(row["created_at"])[:19],
        "trained": bool(detail.get("trained")),
        "mode": detail.get("mode"),
        "version": detail.get("version"),
        "promoted": detail.get("promoted"),
        "reason": detail.get("reason", ""),
        "decision": detail.get("decision"),
        "changed": detail.get("changed"),
        "since": detail.get("since"),
    }


def render_retraining(section: Mapping[str, Any] | None) -> list[str]:
    """The retraining line of the text report (and the promotion's, when it trained)."""
    if not section:
        return []
    lines = [f"  last retraining {section['at']}: {section['reason']}"]
    if section["trained"] and section["version"] is not None:
        verdict = "promoted" if section["promoted"] else "not promoted"
        lines.append(f"    version {section['version']} {verdict}: {section['decision']}")
    return lines


def duplicates_report(
    row: Mapping[str, Any] | None, counts: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    """The possible duplicates' section: their gate (as a label's), what the replay of
    the repository's own duplicates measured, and what people did with the suggestions."""
    from models.triage.gate import gate_from_json

    if row is None:
        return {"state": "not calibrated", "suggestions": dict(counts)}
    gate = gate_from_json(row["gate"])
    return {
        "state": "live" if row["live"] else "shadow",
        "threshold": gate.threshold,
        "precision": gate.precision,
        "bound": gate.bound,
        "target": gate.target,
        "confidence": gate.confidence,
        "support": gate.applied,
        "judged": gate.judged,
        "judged_correct": gate.judged_correct,
        "needed": 0 if row["live"] else gate.needed,
        "reason": gate.reason,
        "calibrated_at": str(row["calibrated_at"])[:19],
        "since": str(row["changed_at"])[:19],
        "calibration": dict(row["calibration"]),
        "suggestions": dict(counts),
    }


def render_duplicates(section: Mapping[str, Any] | None) -> list[str]:
    """The duplicates' lines of the text report."""
    if not section:
        return []
    made = section["suggestions"]
    live, shadow = made.get("live", {}), made.get("shadow", {})
    said = (
        f"  suggested live {live.get('suggested', 0)} (confirmed {live.get('confirmed', 0)}, "
        f"wrong {live.get('wrong', 0)}, a duplicate of another issue {live.get('other', 0)}); "
        f"in shadow {shadow.get('suggested', 0)} (confirmed {shadow.get('confirmed', 0)})"
    )
    if section["state"] == "not calibrated":
        return ["  possible duplicates: not calibrated yet", said]
    seen = section["calibration"]
    return [
        f"  possible duplicates: {section['state']} since {section['since']}; a suggestion "
        f"goes live when the {section['confidence']:.0%} lower bound of the top suggestion's "
        f"precision reaches {section['target']:.2f}",
        f"    threshold {_num(section['threshold'])}, precision {_num(section['precision'])}, "
        f"bound {_floor(section['bound'])}, support {section['support']}, live suggestions "
        f"people judged since {section.get('judged_correct', 0)} right of "
        f"{section.get('judged', 0)}, needs {_needs(section['needed'])}: {section['reason']}",
        f"    calibrated {section['calibrated_at']} on {seen.get('issues', 0)} issues and "
        f"{seen.get('pairs', 0)} known duplicates ({seen.get('with_earlier_duplicate', 0)} "
        f"asked with an earlier one: recall@1 {_num(seen.get('recall@1'))}, recall@3 "
        f"{_num(seen.get('recall@3'))}), {seen.get('corrections', 0)} correction(s)",
        said,
    ]


def matching_report(row: Mapping[str, Any] | None, *, changes_now: int) -> dict[str, Any]:
    """The matching section: the load discount in use and where it came from, each
    task's chosen encoder feature and regularisation, the numbers behind the choice
    beside the fixed policy's, its size and date, and whether a new choice is due."""
    from models.reviewers.calibrate import MatchingChoice, effective_load, needs_rechoice

    raw = (row or {}).get("choice")
    choice = MatchingChoice.from_json(str(raw)) if raw else None
    config_load = (row or {}).get("config_load") or None
    try:
        used = effective_load(config_load, choice)
    except ValueError:
        used = effective_load(None, choice)
    return {
        "load": {
            "source": used.source,
            "per_request": used.policy.per_request,
            "free_load": used.policy.free_load,
            "config": config_load,
        },
        "chosen_at": str((row or {}).get("chosen_at") or "")[:19] or None,
        "n_changes": choice.n_changes if choice else 0,
        "changes_now": changes_now,
        "rechoice_due": needs_rechoice(choice, changes_now),
        "tasks": {t.task: _task_section(t) for t in (choice.reviewers, choice.people)}
        if choice
        else {},
    }


def _task_section(task: Any) -> dict[str, Any]:
    """One task's choice: encoder and C, its reason, the load numbers behind it."""

    def outcome(found: Any) -> dict[str, Any] | None:
        if found is None:
            return None
        return {
            "per_request": found.per_request,
            "mrr": found.mrr,
            "share": found.share,
            "history_share": found.history_share,
        }

    return {
        "encoder": task.encoder,
        "regularization": task.regularization,
        "reason": task.reason,
        "load_reason": task.load_reason,
        "chosen": outcome(task.load),
        "fixed": outcome(task.fixed),
    }


def render_matching(section: Mapping[str, Any] | None) -> list[str]:
    """The matching lines of the text report."""
    if not section:
        return []
    load = section["load"]
    lines = [
        f"  review load discount: per_request {load['per_request']:g}, free_load "
        f"{load['free_load']:g} ({load['source']})",
    ]
    if section["chosen_at"]:
        due = "a new choice is due" if section["rechoice_due"] else "no new choice due"
        lines.append(
            f"  matching chosen {section['chosen_at']} from {section['n_changes']} changes "
            f"(now {section['changes_now']}): {due}"
        )
    else:
        lines.append(f"  matching not chosen yet ({section['changes_now']} changes stored)")
    for name, task in section["tasks"].items():
        lines.append(
            f"    {name}: encoder {'on' if task['encoder'] else 'off'}, C "
            f"{task['regularization']:g}: {task['reason']}"
        )
        chosen, fixed = task["chosen"], task["fixed"]
        if chosen and fixed:
            lines.append(
                f"      as run on the tuning window: MRR {chosen['mrr']:.3f}, busiest share "
                f"{chosen['share']:.3f} (history {chosen['history_share']:.3f}); fixed policy "
                f"MRR {fixed['mrr']:.3f}, share {fixed['share']:.3f}: {task['load_reason']}"
            )
    return lines


def _floor(value: float) -> str:
    """A bound rounded down (0.9497 must not read as the bar it missed)."""
    return f"{math.floor(value * 1000) / 1000:.3f}"


def _needs(count: int) -> str:
    from models.triage.gate import MAX_EVIDENCE

    return "-" if count == 0 else ("never" if count >= MAX_EVIDENCE else str(count))


def live_model(settings: Any, store: Any, repo: str) -> dict[str, Any] | None:
    """The live fine-tuned model's version and when it was recorded (None: none)."""
    from workers.modelstore import ModelPaths, live_version, model_dir_of, version_of

    number = live_version(ModelPaths(model_dir_of(settings), repo))
    if number is None:
        return None
    rows = [r for r in store.model_versions_for(repo) if version_of(r) == number]
    created = str(rows[-1]["created_at"])[:19] if rows else None
    return {"version": number, "since": created}


def cmd_status(args: argparse.Namespace) -> int:
    """Print where a repository's triage stands."""
    from core.settings import load_settings_or_exit
    from core.store import open_store
    from workers.records import parse_repo

    try:
        owner, name = parse_repo(args.repo)
    except ValueError as exc:
        print(f"steward status: {exc}", file=sys.stderr)
        return 2
    settings = load_settings_or_exit()
    store = open_store(settings.database_url_or_default)
    repo = f"{owner}/{name}"
    report = status_report(
        repo,
        gates=store.gates_for(repo),
        profile=store.profile_for(repo),
        model=live_model(settings, store, repo),
        duplicates=duplicates_report(store.duplicate_gate(repo), store.duplicate_counts(repo)),
        matching=matching_report(store.matching_choice(repo), changes_now=store.change_count(repo)),
        retraining=store.last_action(repo, feature="retrain"),
    )
    print(json.dumps(report, default=str) if args.json else render(report))
    return 0


def register(subparsers: Any) -> None:
    """Add ``steward status``."""
    parser = subparsers.add_parser(
        "status",
        help="a repository's triage (live and shadow labels, measured precision), possible "
        "duplicates and reviewer matching",
    )
    parser.add_argument("--repo", required=True, metavar="OWNER/NAME")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=cmd_status)
