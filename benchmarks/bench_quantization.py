"""int8 inference on the CPU against fp32 and bf16: is it worth becoming the default?

The rule (issue 26): int8 becomes the CPU default only if it is at least twice as fast
as the current default with no loss of applied precision and at most 0.005 of macro F1.

Protocol (the held-out style the shared data allows): each NLBSE'24 repository's issues
are split by a seeded stratified draw into a training part (2/3) and a held-out third;
one model is trained with the product's recipe (``steward train``'s: pooled encoder, a
head per repository, thresholds calibrated on out-of-fold predictions) on the training
parts, saved, and loaded three times: fp32, bf16 autocast, and int8 (PyTorch dynamic
quantisation of every ``nn.Linear`` of the encoder). Each scores the held-out thirds
in a fresh process (nothing cached from another precision): throughput (items/s over
the whole ``predict_proba``, TF-IDF blend included, after a warm-up), the encoder's
weight bytes, the resident memory the loaded models add and the peak while scoring
(above the process with torch and transformers imported), mean macro F1 over the
repositories, and applied precision and coverage at the model's thresholds. The
precisions are measured ``--rounds`` times, interleaved, and each keeps its fastest
round (on a shared machine the slower rounds measure the neighbours); the scores must
be the same in every round.

    .venv/bin/python benchmarks/bench_quantization.py [--model DIR] [--threads N]
        [--rounds 3] [--json FILE]

``--model DIR`` reuses a model trained by an earlier run (it is written to
``/tmp/steward-bench-quantization`` by default: training took about an hour on two
shared cores).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from models.triage.data import LabelledItem, by_repo, parse_csv  # noqa: E402

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")
OUT = Path("/tmp/steward-bench-quantization")
PRECISIONS = ("fp32", "bf16", "int8")
#: Encoders already quantised (by ``id``): the repositories share one.
QUANTISED: set[int] = set()
START = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.monotonic() - START:6.0f}s] {message}", file=sys.stderr, flush=True)


def split(
    items: Sequence[LabelledItem], seed: int = 0
) -> tuple[list[LabelledItem], list[LabelledItem]]:
    """Per repository and label, a seeded third held out."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for rows in by_repo(items).values():
        for label in sorted({it.labels[0] for it in rows}):
            mine = [it for it in rows if it.labels[0] == label]
            order = rng.permutation(len(mine))
            cut = len(mine) // 3
            held += [mine[i] for i in order[:cut]]
            train += [mine[i] for i in order[cut:]]
    return train, held


def train(items: list[LabelledItem], out: Path) -> None:
    """Train with the product's recipe and save one model folder per repository."""
    from models.defaults import base_model
    from models.triage.finetune import TrainConfig
    from models.triage.train import train_models

    cfg = TrainConfig(base_model=base_model(os.environ), progress=False, precision="fp32")
    models = train_models(items, cfg, log=say)
    for repo, model in models.items():
        model.save(out / repo.replace("/", "__"))


def load(folder: Path, precision: str) -> Any:
    """A saved model, its encoder quantised to int8 for ``int8``.

    The five repositories share one encoder (loaded once per digest), so it is
    quantised once: a second ``quantize_dynamic`` would find no ``nn.Linear`` left.
    """
    import torch

    from models.triage.model import TriageModel

    model = TriageModel.load(
        folder, device="cpu", precision="fp32" if precision == "int8" else precision
    )
    if precision == "int8" and id(model.encoder) not in QUANTISED:
        model.encoder.model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model.encoder.model, {torch.nn.Linear}, dtype=torch.qint8
        )
        QUANTISED.add(id(model.encoder))
    return model


def weight_bytes(model: Any) -> int:
    """Bytes of the encoder's weights as loaded (packed int8 weights included)."""
    total = 0
    for value in model.encoder.model.state_dict().values():
        for tensor in value if isinstance(value, tuple) else (value,):
            if hasattr(tensor, "element_size"):
                total += tensor.numel() * tensor.element_size()
    return total


def rss_bytes() -> int:
    """The process's resident memory now (not its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def score(model: Any, items: list[LabelledItem]) -> dict[str, Any]:
    """Macro F1, applied precision and coverage at the model's thresholds."""
    from models.triage.evaluate import evaluate_repo
    from models.triage.finetune import Task

    probs = model.predict_proba(items)
    truth = Task("", model.labels, model.meta.multi_label).targets(items)
    return evaluate_repo(
        model.labels, truth, probs, model.meta.thresholds, multi_label=model.meta.multi_label
    )


def measure(
    folders: dict[str, Path], held: dict[str, list[LabelledItem]], precision: str
) -> dict[str, Any]:
    """One precision over every repository (in a fresh process: the memory is this
    precision's alone): speed, size, memory and quality."""
    import torch  # noqa: F401  (the libraries a worker has loaded anyway)
    import transformers  # noqa: F401

    base = rss_bytes()
    models = {repo: load(folder, precision) for repo, folder in folders.items()}
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # int8: the fp32 weights it replaced go back
    loaded = rss_bytes()
    first = next(iter(models))
    models[first].predict_proba(held[first][:32])  # warm-up (kernels, allocator)
    seconds, count, reports = 0.0, 0, {}
    for repo, model in models.items():
        started = time.perf_counter()
        reports[repo] = score(model, held[repo])
        seconds += time.perf_counter() - started
        count += len(held[repo])
    applied = sum(r["applied"] for r in reports.values())
    correct = sum(round((r["applied_precision"] or 0) * r["applied"]) for r in reports.values())
    return {
        "precision": precision,
        "items_per_s": count / seconds,
        "encoder_mb": weight_bytes(models[first]) / 2**20,
        "rss_loaded_mb": (loaded - base) / 2**20,
        "rss_peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base) / 2**20,
        "macro_f1": float(np.mean([r["macro_f1"] for r in reports.values()])),
        "applied": applied,
        "applied_precision": correct / applied if applied else None,
        "coverage": float(np.mean([r["coverage"] for r in reports.values()])),
        "repos": {
            repo: {k: r[k] for k in ("macro_f1", "applied", "applied_precision", "coverage")}
            for repo, r in reports.items()
        },
    }


def measure_in_child(model: Path, precision: str, threads: int) -> dict[str, Any]:
    """:func:`measure` in a fresh process (nothing cached from another precision)."""
    command = [sys.executable, __file__, "--model", str(model), "--only", precision]
    command += ["--threads", str(threads)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One precision's rounds as one row: the fastest round's speed (the one least
    slowed by other work on a shared machine), the median memory; the scores must
    agree across rounds (inference is deterministic)."""
    first = runs[0]
    for run in runs[1:]:
        if run["repos"] != first["repos"]:
            raise RuntimeError(f"{first['precision']}: the scores changed between rounds")
    return {
        **first,
        "items_per_s": max(r["items_per_s"] for r in runs),
        "items_per_s_rounds": [round(r["items_per_s"], 2) for r in runs],
        "rss_loaded_mb": float(np.median([r["rss_loaded_mb"] for r in runs])),
        "rss_peak_mb": float(np.median([r["rss_peak_mb"] for r in runs])),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Train (or reuse) the model, measure each precision, print the table and the verdict."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", type=Path, default=OUT)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each precision")
    parser.add_argument("--only", choices=PRECISIONS, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    train_items, held_items = split(parse_csv(args.data.read_text(encoding="utf-8")))
    held = by_repo(held_items)
    folders = {repo: args.model / repo.replace("/", "__") for repo in held}
    if args.only:
        print(json.dumps(measure(folders, held, args.only)))
        return 0
    if not all((f / "triage.json").is_file() for f in folders.values()):
        say(f"training on {len(train_items)} issues (held out: {len(held_items)})")
        train(train_items, args.model)
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PRECISIONS}
    for round_ in range(args.rounds):
        for precision in PRECISIONS:  # interleaved: a burst of load hits every precision
            say(f"round {round_ + 1}: {len(held_items)} held-out issues at {precision}")
            runs[precision].append(measure_in_child(args.model, precision, args.threads))
    rows = [best_of(runs[p]) for p in PRECISIONS]
    print_table(rows, threads=args.threads or torch.get_num_threads())
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def verdict(rows: list[dict[str, Any]], *, native_bf16: bool) -> tuple[bool, str]:
    """The adoption rule: int8 against the current CPU default (bf16 where the CPU has
    native bf16, else fp32): at least twice as fast, applied precision not lower, macro
    F1 at most 0.005 lower."""
    by = {r["precision"]: r for r in rows}
    default = by["bf16"] if native_bf16 else by["fp32"]
    int8 = by["int8"]
    faster = int8["items_per_s"] / default["items_per_s"]
    f1_loss = default["macro_f1"] - int8["macro_f1"]
    precise = (int8["applied_precision"] or 1.0) >= (default["applied_precision"] or 1.0)
    adopt = faster >= 2.0 and f1_loss <= 0.005 and precise
    return adopt, (
        f"int8 against the current CPU default ({default['precision']}): {faster:.2f}x the "
        f"speed, macro F1 {-f1_loss:+.3f}, applied precision "
        f"{'held' if precise else 'fell'}: {'adopt' if adopt else 'keep the default'}"
    )


def print_table(rows: list[dict[str, Any]], *, threads: int) -> None:
    """The table and the adoption rule's verdict for int8."""
    from models.encoder import cpu_has_native_bf16

    print(
        f"{'precision':>9} {'items/s':>8} {'encoder MB':>10} {'RSS +MB':>8} {'peak +MB':>8} "
        f"{'macro F1':>8} {'applied':>7} {'precision':>9} {'coverage':>8}"
    )
    for r in rows:
        shown = "-" if r["applied_precision"] is None else f"{r['applied_precision']:.3f}"
        print(
            f"{r['precision']:>9} {r['items_per_s']:>8.1f} {r['encoder_mb']:>10.1f} "
            f"{r['rss_loaded_mb']:>8.0f} {r['rss_peak_mb']:>8.0f} {r['macro_f1']:>8.3f} "
            f"{r['applied']:>7} {shown:>9} {r['coverage']:>8.3f}"
        )
    native = cpu_has_native_bf16()
    print(f"\n{threads} torch thread(s); native bf16 on this CPU: {'yes' if native else 'no'}")
    print(verdict(rows, native_bf16=native)[1])


if __name__ == "__main__":
    sys.exit(main())
