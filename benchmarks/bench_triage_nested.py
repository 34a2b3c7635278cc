"""Nested cross-validation of the whole triage recipe: learning curve and threshold transfer.

Usage: ``python benchmarks/bench_triage_nested.py [--data CSV] [--outer 3] [--inner 3]
[--seed 0] [--epochs 3] [--json FILE] [--plot FILE]``.

Each outer fold holds out a third of every repository. On the rest it runs what
``steward train`` runs (pooled fine-tuning, one head and one TF-IDF channel per repo,
blended) twice: ``--inner`` times on the inner folds, which gives out-of-fold
probabilities to calibrate thresholds on, and once on all of it (the "final" model).
Every model then scores the held-out third, so one run answers three questions:

- **learning curve**: macro F1 of an inner model (trained on (inner-1)/inner of the outer
  training part) against the final model (all of it), and the log-linear extrapolation
  of that slope to the whole file;
- **CV ensemble**: whether averaging the inner models beats the final model;
- **threshold transfer**: applied precision and coverage on the held-out third at the
  thresholds calibrated on the inner out-of-fold predictions, next to the best coverage
  any threshold could have reached there at the target precision (the "oracle").

A run on NLBSE'24's training split (3 × 3 folds) fine-tunes twelve models: about 45
minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")
#: Issue 3's goal for mean macro F1 on NLBSE'24's held-out split, drawn on the plot.
GOAL = 0.85


@dataclass
class Scored:
    """Held-out predictions of one variant: per repo, (probabilities, outer fold) pairs."""

    train_per_repo: float
    probs: dict[str, list[tuple[np.ndarray, int]]] = field(default_factory=dict)

    def add(self, repo: str, probs: np.ndarray, fold: int) -> None:
        """Record one model's probabilities on outer fold ``fold``'s held-out items."""
        self.probs.setdefault(repo, []).append((probs, fold))


def oracle_coverage(probs: np.ndarray, truth: np.ndarray, target: float) -> float:
    """Largest share of items whose top labels reach ``target`` precision, for any threshold."""
    from models.triage.calibration import top_label_candidates

    conf, right = top_label_candidates(probs, truth)
    order = np.argsort(-conf, kind="stable")
    precision = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(precision >= target)
    return float((ok[-1] + 1) / len(order)) if len(ok) else 0.0


def log_linear_extrapolation(
    sizes: tuple[float, float], scores: tuple[float, float], at: float
) -> float:
    """Score at ``at`` items on the line through two (log size, score) points.

    Learning curves flatten, so this is an optimistic forecast.
    """
    slope = (scores[1] - scores[0]) / math.log(sizes[1] / sizes[0])
    return scores[1] + slope * math.log(at / sizes[1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fine-tune every inner and final model and score the variants on each outer fold."""
    from models.defaults import base_model
    from models.triage.calibration import NEVER, applied_stats, calibrate_thresholds
    from models.triage.data import by_repo, labelled_only, load_items
    from models.triage.evaluate import evaluate_repo
    from models.triage.finetune import TrainConfig, fine_tune, make_tasks
    from models.triage.lexical import blend
    from models.triage.train import fit_lexical, stratified_folds

    cfg = TrainConfig(base_model=base_model({}), seed=args.seed, epochs=args.epochs, progress=False)
    groups = by_repo(labelled_only(load_items(args.data)))
    tasks = make_tasks(groups)
    if any(t.multi_label for t in tasks.values()):
        sys.exit("this benchmark measures single-label taxonomies (NLBSE-style files)")
    per_repo = float(np.mean([len(v) for v in groups.values()]))
    outer_size = per_repo * (args.outer - 1) / args.outer
    inner_size = outer_size * (args.inner - 1) / args.inner
    variants = {
        "inner model": Scored(inner_size),
        "CV ensemble": Scored(inner_size),
        "final model": Scored(outer_size),
    }
    truths: dict[str, list[np.ndarray]] = {r: [] for r in groups}
    thresholds: dict[str, list[dict[str, float]]] = {r: [] for r in groups}
    started = time.monotonic()

    def blended(
        tuned: Any, train_items: Sequence[Any], repo: str, *item_sets: Sequence[Any]
    ) -> list[np.ndarray]:
        """Blended probabilities on each item set; the TF-IDF channel is fitted once."""
        lexical = fit_lexical(train_items, tasks[repo], cfg)
        out = []
        for items in item_sets:
            probs = tuned.predict_proba(repo, items)
            if lexical is not None:
                lexical_probs = lexical.predict_proba(tuned.texts(items))
                probs = blend(probs, lexical_probs, cfg.lexical_weight)
            out.append(probs)
        return out

    outer = stratified_folds(groups, args.outer, args.seed)
    for fold, (outer_train, outer_test) in enumerate(outer):
        held_out = {r: [groups[r][i] for i in rows] for r, rows in outer_test.items()}
        oof = {r: np.zeros((len(outer_train[r]), len(tasks[r].labels))) for r in groups}
        inner_probs: dict[str, list[np.ndarray]] = {r: [] for r in groups}
        inner = stratified_folds(outer_train, args.inner, args.seed)
        for k, (inner_train, inner_test) in enumerate(inner):
            tuned = fine_tune(inner_train, tasks, cfg)
            for r in groups:
                rows = inner_test[r]
                inner_oof = [outer_train[r][i] for i in rows]
                oof[r][rows], on_held_out = blended(
                    tuned, inner_train[r], r, inner_oof, held_out[r]
                )
                inner_probs[r].append(on_held_out)
            log(f"outer fold {fold + 1}: inner model {k + 1}/{args.inner}", started)
        final = fine_tune(outer_train, tasks, cfg)
        for r, task in tasks.items():
            truths[r].append(task.targets(held_out[r]))
            thresholds[r].append(
                calibrate_thresholds(
                    oof[r],
                    task.targets(outer_train[r]),
                    task.labels,
                    single_label=True,
                    target=cfg.target_precision,
                )
            )
            for probs in inner_probs[r]:
                variants["inner model"].add(r, probs, fold)
            variants["CV ensemble"].add(r, np.mean(inner_probs[r], axis=0), fold)
            (final_probs,) = blended(final, outer_train[r], r, held_out[r])
            variants["final model"].add(r, final_probs, fold)
        log(f"outer fold {fold + 1}: final model", started)

    table: dict[str, Any] = {}
    for name, scored in variants.items():
        f1s, applied, correct, covered, oracle, n = [], 0, 0, 0, [], 0
        for r, task in tasks.items():
            repo_f1 = []
            for probs, fold in scored.probs[r]:
                truth, th = truths[r][fold], thresholds[r][fold]
                never = dict.fromkeys(task.labels, NEVER)
                report = evaluate_repo(task.labels, truth, probs, never, multi_label=False)
                repo_f1.append(report["macro_f1"])
                stats = applied_stats(probs, truth, task.labels, th, single_label=True)
                applied, correct = applied + stats.applied, correct + stats.correct
                covered += round(stats.coverage * len(probs))
                n += len(probs)
                oracle.append(oracle_coverage(probs, truth, cfg.target_precision))
            f1s.append(float(np.mean(repo_f1)))
        table[name] = {
            "train_items_per_repo": round(scored.train_per_repo),
            "mean_macro_f1": float(np.mean(f1s)),
            "per_repo_macro_f1": dict(zip(tasks, f1s, strict=True)),
            "applied_precision": correct / applied if applied else 1.0,
            "coverage": covered / n,
            "oracle_coverage": float(np.mean(oracle)),
        }
    sizes = (inner_size, outer_size)
    scores = (table["inner model"]["mean_macro_f1"], table["final model"]["mean_macro_f1"])
    return {
        "outer_folds": args.outer,
        "inner_folds": args.inner,
        "seed": args.seed,
        "target_precision": cfg.target_precision,
        "variants": table,
        "extrapolated_macro_f1_at_all_items": log_linear_extrapolation(sizes, scores, per_repo),
        "items_per_repo": per_repo,
        "seconds": round(time.monotonic() - started),
    }


def log(message: str, started: float) -> None:
    """Progress line on stderr with the elapsed time."""
    print(f"[{time.monotonic() - started:6.0f}s] {message}", file=sys.stderr, flush=True)


def print_table(result: Mapping[str, Any]) -> None:
    """The result as a table on stdout."""
    target = result["target_precision"]
    print(
        f"{'variant':12s} {'items/repo':>10s} {'macro F1':>9s} {'applied prec':>13s} "
        f"{'coverage':>9s} {f'oracle cov @{target:.2f}':>18s}"
    )
    for name, row in result["variants"].items():
        print(
            f"{name:12s} {row['train_items_per_repo']:10d} {row['mean_macro_f1']:9.4f} "
            f"{row['applied_precision']:13.3f} {row['coverage']:9.3f} "
            f"{row['oracle_coverage']:18.3f}"
        )
    print(
        f"log-linear extrapolation to {result['items_per_repo']:.0f} items per repository: "
        f"macro F1 {result['extrapolated_macro_f1_at_all_items']:.4f} (optimistic)"
    )
    print(f"{result['seconds']} s")


def plot(result: Mapping[str, Any], path: Path) -> None:
    """Learning curve: macro F1 of the inner and final models and the extrapolation."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["variants"]
    xs = [rows["inner model"]["train_items_per_repo"], rows["final model"]["train_items_per_repo"]]
    ys = [rows["inner model"]["mean_macro_f1"], rows["final model"]["mean_macro_f1"]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(xs, ys, "o-", label="measured (held-out thirds)")
    ax.plot(
        [xs[1], result["items_per_repo"]],
        [ys[1], result["extrapolated_macro_f1_at_all_items"]],
        "o--",
        label="log-linear extrapolation",
    )
    ax.axhline(GOAL, color="grey", linestyle=":", label=f"goal {GOAL}")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks([*xs, result["items_per_repo"]])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
    ax.set_xlabel("labelled issues per repository (log scale)")
    ax.set_ylabel("mean macro F1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run, print (and optionally save) the result."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help=f"labelled issues (default {DATA})")
    p.add_argument("--outer", type=int, default=3, help="outer folds (default 3)")
    p.add_argument("--inner", type=int, default=3, help="inner (calibration) folds (default 3)")
    p.add_argument("--seed", type=int, default=0, help="fold and training seed (default 0)")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (default 3)")
    p.add_argument("--json", type=Path, help="also write the result as JSON here")
    p.add_argument("--plot", type=Path, help="also draw the learning curve as a PNG here")
    args = p.parse_args(argv)
    result = run(args)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.plot:
        plot(result, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
