"""Heads alone against the fine-tuned heads, on the same encoder and the same new
issues: what a repository loses when a retrain gives it a new head alone on the org's
encoder instead of fine-tuning the encoder again, and what it saves.

It reuses the model ``benchmarks/bench_quantization.py`` trains (the product's recipe on
a seeded 2/3 of each NLBSE'24 repository, pooled: one encoder, a head per repository,
thresholds calibrated out of fold) and its split. The held-out third plays the issues
that arrive after the encoder was fine-tuned: each repository's half of it (every other
issue of each label) is *new* labelled data, the other half the *test*. Heads alone
(:func:`models.triage.heads.train_heads`: the encoder frozen, a logistic head and the
TF-IDF channel) are fitted on the training part and the new half, with thresholds
calibrated out of fold either on every item or, as the product does, on the items the
encoder never trained on (the new half). All are scored on the test half: mean macro
F1, applied precision and coverage at each model's thresholds. Training seconds are
the heads' (embedding included); the fine-tuning took about an hour on the same machine.

    .venv/bin/python benchmarks/bench_heads_alone.py [--model DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from benchmarks.bench_quantization import DATA, OUT, score, split  # noqa: E402
from models.triage.data import LabelledItem, by_repo, parse_csv  # noqa: E402


def summarise(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean macro F1 over the repositories, applied precision over every applied label."""
    applied = sum(r["applied"] for r in reports.values())
    correct = sum(round((r["applied_precision"] or 0) * r["applied"]) for r in reports.values())
    return {
        "macro_f1": sum(r["macro_f1"] for r in reports.values()) / len(reports),
        "applied": applied,
        "applied_precision": correct / applied if applied else None,
        "coverage": sum(r["coverage"] for r in reports.values()) / len(reports),
        "repos": {repo: round(r["macro_f1"], 4) for repo, r in reports.items()},
    }


def halves(held: list[LabelledItem]) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """Every other issue of each label: (the new half, the test half)."""
    new, test = [], []
    for label in sorted({it.labels[0] for it in held}):
        mine = [it for it in held if it.labels[0] == label]
        new += mine[0::2]
        test += mine[1::2]
    return new, test


def main(argv: Sequence[str] | None = None) -> int:
    """Fit heads alone on the trained encoder, score every way, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", type=Path, default=OUT)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from models.triage.finetune import TrainConfig
    from models.triage.heads import train_heads
    from models.triage.model import TriageModel
    from models.triage.train import item_key

    train_items, held_items = split(parse_csv(args.data.read_text(encoding="utf-8")))
    parts = {repo: halves(items) for repo, items in by_repo(held_items).items()}
    new = [it for part in parts.values() for it in part[0]]
    test = {repo: part[1] for repo, part in parts.items()}
    tuned = {r: TriageModel.load(args.model / r.replace("/", "__"), device="cpu") for r in test}
    first = next(iter(tuned.values()))
    cfg = TrainConfig(**{**first.meta.train_config, "progress": False, "text": first.text_options})
    unseen_keys = {item_key(it) for it in new}
    rows = {"fine-tuned heads": summarise({r: score(m, test[r]) for r, m in tuned.items()})}
    for name, unseen in (
        ("heads, every item", None),
        ("heads, unseen only", lambda it: item_key(it) in unseen_keys),
    ):
        started = time.perf_counter()
        heads, _ = train_heads(
            [*train_items, *new], first.encoder, cfg, digest="bench", unseen=unseen, log=print
        )
        rows[name] = summarise({r: score(m, test[r]) for r, m in heads.items()})
        rows[name]["train_seconds"] = round(time.perf_counter() - started, 1)
    print_rows(rows, items=len(train_items) + len(new))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def print_rows(rows: dict[str, dict[str, Any]], *, items: int) -> None:
    """The table."""
    print(
        f"{'':<19} {'macro F1':>8} {'applied':>7} {'precision':>9} {'coverage':>8} {'train s':>7}"
    )
    for name, row in rows.items():
        shown = "-" if row["applied_precision"] is None else f"{row['applied_precision']:.3f}"
        seconds = row.get("train_seconds", "-")
        print(
            f"{name:<19} {row['macro_f1']:>8.3f} {row['applied']:>7} {shown:>9} "
            f"{row['coverage']:>8.3f} {seconds:>7}"
        )
    print(f"heads trained on {items} issues of 5 repositories")


if __name__ == "__main__":
    sys.exit(main())
