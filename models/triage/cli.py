"""``steward train | evaluate | classify``: the triage command line.

``register(subparsers)`` adds the subcommands; ``app.cli`` composes it with the
other feature modules. Handlers import torch and friends lazily so ``--help`` is fast.
Progress and logs go to stderr; ``evaluate --json`` prints exactly one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.encoder import PRECISIONS
from models.triage.finetune import TrainConfig

#: Repo name given to items when one model is trained on several repositories pooled.
POOLED_REPO = "*"


def log(message: str) -> None:
    """Progress line on stderr (stdout is reserved for results)."""
    print(message, file=sys.stderr, flush=True)


def register(subparsers: Any) -> None:
    """Add the triage subcommands to ``steward``'s sub-parsers action."""
    add_train(subparsers)
    add_evaluate(subparsers)
    add_classify(subparsers)


def add_train(subparsers: Any) -> None:
    """``steward train``."""
    p = subparsers.add_parser("train", help="fine-tune triage models on labelled issues")
    p.add_argument("--data", required=True, help="labelled issues (.csv or .jsonl)")
    p.add_argument("--out", help="output folder (required unless --cv)")
    p.add_argument(
        "--per-repo", action="store_true", help="one model per repository, in OUT/<owner>__<repo>/"
    )
    p.add_argument(
        "--base-model", help="hub id or local path (default: STEWARD_BASE_MODEL or packaged MiniLM)"
    )
    p.add_argument("--epochs", type=int, default=3, help="passes over the data (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--batch-size", type=int, default=16, help="training batch size (default 16)")
    p.add_argument(
        "--max-length", type=int, default=256, help="tokens per issue, head+tail (default 256)"
    )
    p.add_argument("--lr", type=float, default=8e-5, help="encoder learning rate (default 8e-5)")
    p.add_argument(
        "--calibration-folds",
        type=int,
        default=2,
        help="cross-fitting folds for thresholds; 0: no calibration, nothing applied (default 2)",
    )
    p.add_argument(
        "--lexical-weight",
        type=float,
        default=0.5,
        help="weight of the TF-IDF channel blended with the encoder (0: encoder only; default 0.5)",
    )
    p.add_argument(
        "--contrastive-weight",
        type=float,
        default=TrainConfig.contrastive_weight,
        help="weight of the supervised contrastive term added to cross-entropy "
        f"(0: off; default {TrainConfig.contrastive_weight})",
    )
    p.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="only estimate the NLBSE score by K-fold cross-validation",
    )
    p.add_argument(
        "--json", action="store_true", help="with --cv: print the result as one JSON object"
    )
    add_device_options(p)
    p.set_defaults(func=run_train)


def add_device_options(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--precision``, shared by every command that runs the encoder."""
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="autocast dtype: auto = bf16 on GPUs and on CPUs with native bf16 "
        "(AVX512-BF16/AMX), fp32 elsewhere (default auto)",
    )


def add_evaluate(subparsers: Any) -> None:
    """``steward evaluate``."""
    p = subparsers.add_parser("evaluate", help="score triage models on labelled issues")
    p.add_argument(
        "--model", required=True, help="a model folder, or a folder of <owner>__<repo> models"
    )
    p.add_argument("--data", required=True, help="labelled issues (.csv or .jsonl)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--report", help="report folder (default: MODEL/report)")
    p.add_argument("--batch-size", type=int, default=32, help="inference batch size (default 32)")
    add_device_options(p)
    p.set_defaults(func=run_evaluate)


def add_classify(subparsers: Any) -> None:
    """``steward classify``."""
    p = subparsers.add_parser("classify", help="label one issue with a trained model")
    p.add_argument("--repo", required=True, help="owner/name")
    p.add_argument("--model", help="model folder (default: STEWARD_MODEL_DIR/<owner>__<repo>)")
    p.add_argument("title")
    p.add_argument("body", nargs="?", default="")
    add_device_options(p)
    p.set_defaults(func=run_classify)


def train_config(args: argparse.Namespace) -> Any:
    """``TrainConfig`` from the command line and the environment."""
    from models.defaults import base_model, resolve_model_name
    from models.triage.finetune import TrainConfig

    return TrainConfig(
        base_model=resolve_model_name(args.base_model)
        if args.base_model
        else base_model(os.environ),
        epochs=args.epochs,
        batch_size=args.batch_size,
        max_length=args.max_length,
        lr=args.lr,
        seed=args.seed,
        calibration_folds=args.calibration_folds,
        lexical_weight=args.lexical_weight,
        contrastive_weight=args.contrastive_weight,
        device=args.device,
        precision=args.precision,
    )


def run_train(args: argparse.Namespace) -> int:
    """Train (or cross-validate) and save models."""
    from models.triage.data import DatasetError, load_dataset, repo_dirname
    from models.triage.train import cross_validate, train_models

    if not args.cv and not args.out:
        log("error: --out is required (or use --cv K)")
        return 2
    cfg = train_config(args)
    started = time.monotonic()
    try:
        dataset = load_dataset(args.data)
        items = labelled_items(dataset.items)
        if args.cv:
            result = cross_validate(items, cfg, args.cv, log=log)
            result["seconds"] = round(time.monotonic() - started, 1)
            print_cv(result, as_json=args.json)
            return 0
        if not args.per_repo:
            items = [dataclasses.replace(it, repo=POOLED_REPO) for it in items]
        models = train_models(items, cfg, dataset.fingerprint, log=log)
    except DatasetError as exc:
        log(f"error: {exc}")
        return 2
    saved = {}
    for repo, model in models.items():
        saved[repo] = Path(args.out) / repo_dirname(repo) if args.per_repo else Path(args.out)
        model.save(saved[repo])
    print(train_summary(models, saved))
    log(f"trained {len(models)} model(s) in {time.monotonic() - started:.0f}s")
    return 0


def train_summary(models: Mapping[str, Any], saved: Mapping[str, Path]) -> str:
    """What was trained: each repository's cross-fitted scores and where its model went."""
    from models.triage.evaluate import describe_precision

    lines = [f"{'repository':28} {'macro F1':>8}  {'applied precision':21} coverage  saved to"]
    for repo, model in models.items():
        scores = model.meta.metrics.get("cross_fitted") or {}
        f1, coverage = scores.get("macro_f1"), scores.get("coverage")
        lines.append(
            f"{repo:28} {f'{f1:.3f}' if f1 is not None else '-':>8}  "
            f"{describe_precision(scores.get('applied_precision')) if scores else '-':21} "
            f"{f'{coverage:.3f}' if coverage is not None else '-':8}  {saved[repo]}"
        )
    if not any(m.meta.metrics.get("cross_fitted") for m in models.values()):
        lines.append("(no calibration folds: no cross-fitted scores, and no label is applied)")
    return "\n".join(lines)


def labelled_items(items: Sequence[Any]) -> list[Any]:
    """The labelled items of a file, saying on stderr how many unlabelled ones are skipped."""
    from models.triage.data import DatasetError, labelled_only

    kept = labelled_only(items)
    if len(kept) < len(items):
        log(f"skipping {len(items) - len(kept)} unlabelled issue(s) of {len(items)}")
    if not kept:
        raise DatasetError("no labelled issues: every row's label is empty")
    return kept


def print_cv(result: dict[str, Any], *, as_json: bool) -> None:
    """Cross-validation result as a table (or JSON) on stdout."""
    from models.triage.evaluate import describe_precision
    from models.triage.model import to_builtin

    if as_json:
        print(json.dumps(result, sort_keys=True, default=to_builtin))
        return
    print(f"{result['folds']}-fold CV   macro F1   applied precision   coverage")
    for repo, r in result["repos"].items():
        precision, coverage = describe_precision(r["applied_precision"]), r["coverage"]
        print(f"{repo:24s} {r['macro_f1']:.3f}      {precision:21s} {coverage:.3f}")
    print(f"mean macro F1 (NLBSE score): {result['mean_macro_f1']:.4f}   ({result['seconds']}s)")


def model_dirs(root: Path, repos: Sequence[str]) -> dict[str, Path]:
    """Model folder per repo: ``root`` if it is one model, else ``root/<owner>__<repo>``."""
    from models.triage.data import repo_dirname
    from models.triage.model import META_FILE

    if (root / META_FILE).is_file():
        return dict.fromkeys(repos, root)
    found = {repo: root / repo_dirname(repo) for repo in repos}
    missing = [repo for repo, path in found.items() if not (path / META_FILE).is_file()]
    for repo in missing:
        log(f"warning: no model for {repo} under {root}; skipped")
    return {repo: path for repo, path in found.items() if repo not in missing}


def run_evaluate(args: argparse.Namespace) -> int:
    """Score models on a labelled file, write the report, print a summary."""
    from models.triage.data import DatasetError, by_repo, load_dataset
    from models.triage.evaluate import describe_precision, evaluate_repo, summarise, write_report
    from models.triage.finetune import Task
    from models.triage.model import load_cached, to_builtin

    try:
        groups = by_repo(labelled_items(load_dataset(args.data).items))
    except DatasetError as exc:
        log(f"error: {exc}")
        return 2
    dirs = model_dirs(Path(args.model), list(groups))
    if not dirs:
        log(f"error: no triage model found in {args.model}")
        return 1
    repos, curves = {}, {}
    for repo, path in dirs.items():
        started = time.monotonic()
        model = load_cached(path, device=args.device, precision=args.precision)
        probs = model.predict_proba(groups[repo], batch_size=args.batch_size)
        truth = Task(repo, model.labels, model.meta.multi_label).targets(groups[repo])
        repos[repo] = evaluate_repo(
            model.labels, truth, probs, model.meta.thresholds, multi_label=model.meta.multi_label
        )
        curves[repo] = (model.labels, truth, probs)
        log(f"{repo}: macro F1 {repos[repo]['macro_f1']:.3f} ({time.monotonic() - started:.0f}s)")
    summary = summarise(repos)
    report = write_report(args.report or Path(args.model) / "report", summary, curves)
    summary["report"] = str(report)
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=to_builtin))
    else:
        for repo, r in repos.items():
            print(
                f"{repo:24s} macro F1 {r['macro_f1']:.3f}  applied precision "
                f"{describe_precision(r['applied_precision'])}  coverage {r['coverage']:.3f}"
            )
        print(f"mean macro F1: {summary['mean_macro_f1']:.4f}   report: {report}")
    return 0


def threshold_note(threshold: float) -> str:
    """A label's threshold as a person reads it (above 1: this model never applies it)."""
    if threshold > 1.0:
        return "(never applied: no threshold reached the target precision)"
    return f"(threshold {threshold:.3f})"


def run_classify(args: argparse.Namespace) -> int:
    """Print label probabilities for one issue and the labels that would be applied."""
    from models.defaults import model_dir
    from models.triage.data import LabelledItem, repo_dirname
    from models.triage.model import load_cached

    path = Path(args.model) if args.model else model_dir(os.environ) / repo_dirname(args.repo)
    try:
        model = load_cached(path, device=args.device, precision=args.precision)
    except FileNotFoundError as exc:
        log(f"error: {exc}")
        return 1
    if model.meta.repo and model.meta.repo != args.repo:
        log(
            f"error: {path} is {model.meta.repo}'s model, not {args.repo}'s; "
            f"pass --repo {model.meta.repo} or that repository's model"
        )
        return 2
    probs = model.predict([LabelledItem(repo=args.repo, title=args.title, body=args.body)])[0]
    applied = model.apply(probs)
    for label, p in sorted(probs.items(), key=lambda kv: -kv[1]):
        note = threshold_note(model.meta.thresholds.get(label, 1.01))
        mark = "apply" if label in applied else ""
        print(f"{label:20s} {p:.3f}  {note} {mark}".rstrip())
    print(f"applied: {', '.join(applied) if applied else '(none)'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the triage commands alone: ``python -m models.triage.cli train ...``."""
    parser = argparse.ArgumentParser(prog="steward")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
