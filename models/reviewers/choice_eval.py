"""``steward eval-reviewers``: the per-repository choice next to the fixed policy, same run.

The choice is made by ``calibrate.choose_settings`` from the older part of the history
only (the changes merged before the first evaluated one); both configurations are then
scored on the evaluated part with the replay's protocol (``variants.replay_variants``, equal
to ``evaluate.replay``): for reviewers as the bot runs them (the fixed ``LOAD_POLICY`` with
the default ranker, against the chosen ranker and discount), with the busiest reviewer's
share beside the history's; for people for an issue, the default ranker against the chosen
one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from models.reviewers.calibrate import MatchingChoice, TaskChoice, choice_as_dict, choose_settings
from models.reviewers.constraints import LOAD_POLICY, Load
from models.reviewers.data import Change
from models.reviewers.index import Target
from models.reviewers.loadsim import LoadOutcome, simulate
from models.reviewers.ranker import RankerConfig
from models.reviewers.variants import Variant, Windows, replay_variants, variant_metrics

Vectors = Mapping[str, np.ndarray]


def evaluate_choice(
    task: str,
    changes: Sequence[Change],
    vectors: Vectors | None,
    *,
    eval_from: float = 0.5,
    eval_to: float = 1.0,
    as_of: str = "merged",
) -> dict[str, Any]:
    """Choose from the changes before ``eval_from``, score on ``[eval_from, eval_to)``.

    ``task`` is ``reviewers`` or ``people``. Returns ``made_from`` and ``scored_on`` (change
    counts), the whole ``choice``, and ``fixed`` and ``per_repository`` metrics on the same
    evaluated changes (for reviewers also the busiest shares and the discount used).
    """
    ordered = sorted(changes, key=lambda c: c.merged_at)
    first, last = int(len(ordered) * eval_from), int(len(ordered) * eval_to)
    choice = choose_settings(ordered[:first], vectors=vectors, as_of=as_of, tasks=(task,))
    chosen = choice.reviewers if task == "reviewers" else choice.people
    variants = _variants(chosen)
    # The replay's own learning window (evaluate.replay): the scores match its numbers.
    learn_from = 0 if task == "people" else max(first - RankerConfig().max_train_changes, 0)
    windows = Windows(learn_from, first, last, last)
    target: Target = "reviewers" if task == "reviewers" else "authors"
    needs = vectors if any(v.encoder for v in variants) else None
    run = replay_variants(ordered, {target: variants}, windows, as_of=as_of, vectors=needs)[target]
    out: dict[str, Any] = {
        "made_from": first,
        "scored_on": len(run.ranked),
        "choice": choice_as_dict(choice),
        "choice_seconds": choice.seconds,
        "settings": settings_summary(choice, task),
    }
    if task == "people":
        out["fixed"] = variant_metrics(run, 0, 0)
        out["per_repository"] = variant_metrics(run, len(variants) - 1, 0)
        return out
    fixed, _ = simulate(run, 0, LOAD_POLICY)
    mine, _ = simulate(run, len(variants) - 1, chosen.policy())
    plain, _ = simulate(run, len(variants) - 1, Load(per_request=0.0))
    out["fixed"] = outcome_row(fixed)
    out["per_repository"] = outcome_row(mine)
    out["per_repository_no_discount"] = outcome_row(plain)
    return out


def attach_choice(result: dict[str, Any], section: dict[str, Any]) -> dict[str, Any]:
    """``result`` (a task's report) with ``section`` as its ``choice``, plus each row's
    distance to the task's baseline on the same changes: MRR above RevFinder for reviewers
    (``over_revfinder``), times the popularity baseline's MRR for people
    (``times_popularity``; absent when popularity scored nothing)."""
    keys = ("fixed", "per_repository", "per_repository_no_discount")
    for row in (section[k] for k in keys if k in section):
        if "revfinder" in result:
            row["over_revfinder"] = round(row["mrr"] - result["revfinder"]["mrr"], 4)
        elif result.get("popularity", {}).get("mrr"):
            row["times_popularity"] = round(row["mrr"] / result["popularity"]["mrr"], 3)
    return {**result, "choice": section}


def _variants(chosen: TaskChoice) -> list[Variant]:
    """The default variant first, then the chosen one when it differs."""
    variant = Variant(chosen.encoder, chosen.regularization)
    return [Variant()] if variant == Variant() else [Variant(), variant]


def outcome_row(outcome: LoadOutcome) -> dict[str, Any]:
    """Metrics plus ``busiest_share`` and the history's ``history_share`` on one window."""
    return {
        **outcome.metrics,
        "busiest_share": outcome.share,
        "history_share": outcome.history_share,
        "per_request": outcome.per_request,
        "free_load": outcome.free_load,
    }


def settings_summary(choice: MatchingChoice, task: str) -> dict[str, Any]:
    """What was chosen for ``task``, in a few fields (the whole choice is beside it)."""
    chosen = choice.reviewers if task == "reviewers" else choice.people
    summary: dict[str, Any] = {
        "encoder": chosen.encoder,
        "regularization": chosen.regularization,
        "reason": chosen.reason,
    }
    if task == "reviewers":
        policy = chosen.policy()
        summary.update(
            per_request=policy.per_request,
            free_load=policy.free_load,
            load_reason=chosen.load_reason or "defaults",
        )
    return summary


def format_choice(result: Mapping[str, Any]) -> list[str]:
    """Table lines for the ``choice`` section of an ``eval-reviewers`` result."""
    section = result["choice"]
    settings = section["settings"]
    lines = [
        "",
        f"per-repository choice (chosen from the older {section['made_from']} changes in "
        f"{section['choice_seconds']:.1f}s; scored on the {section['scored_on']} evaluated):",
        f"  encoder {'on' if settings['encoder'] else 'off'}, C={settings['regularization']:g}:"
        f" {settings['reason']}",
    ]
    if "per_request" in settings:
        lines.append(
            f"  load per_request={settings['per_request']:g} free_load="
            f"{settings['free_load']:g}: {settings['load_reason']}"
        )
    rows = {"fixed policy": section["fixed"], "per-repository": section["per_repository"]}
    if "per_repository_no_discount" in section:
        rows["per-repository, no discount"] = section["per_repository_no_discount"]
    fixed = section["fixed"]
    columns = [k for k in fixed if k.startswith("top")] + ["mrr"]
    extra = next((k for k in ("over_revfinder", "times_popularity") if k in fixed), "")
    share = "busiest_share" in fixed
    header = "".join(f"{c:>8}" for c in columns) + (f"{_EXTRA[extra]:>16}" if extra else "")
    lines.append("  " + "ranker".ljust(30) + header + ("   busiest (history)" if share else ""))
    for name, row in rows.items():
        cells = "".join(f"{row[c]:>8.3f}" for c in columns)
        cells += f"{row[extra]:>16.3f}" if extra else ""
        if share:
            cells += f"   {row['busiest_share']:.3f} ({row['history_share']:.3f})"
        lines.append("  " + name.ljust(30) + cells)
    return lines


#: Column titles of the baseline distances (``attach_choice``).
_EXTRA = {"over_revfinder": "MRR-RevFinder", "times_popularity": "x popularity"}
