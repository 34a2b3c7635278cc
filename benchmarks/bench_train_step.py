"""Fine-tuning step benchmark: seconds per training step at each autocast precision.

Usage: ``python benchmarks/bench_train_step.py [--data CSV] [--steps N] [--batch-size B]``.
Times the same real issues through the step ``steward train`` takes (its optimizer and
loss: forward, mean pooling, a head, cross-entropy plus the contrastive term, backward,
AdamW with frozen word embeddings), in fp32 and, where the device has it, bf16, under the
same load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")


def time_steps(
    precision: str, texts: list[str], labels: list[str], steps: int, batch_size: int
) -> list[float]:
    """Seconds of each of ``steps`` training steps (after one warm-up step)."""
    import torch

    from models.defaults import base_model
    from models.encoder import Encoder
    from models.triage.finetune import Task, TrainConfig, optimizer_for, training_loss

    cfg = TrainConfig(base_model=base_model({}), precision=precision, progress=False)
    torch.manual_seed(0)
    encoder = Encoder.from_pretrained(
        cfg.base_model, max_length=cfg.max_length, precision=precision
    )
    task = Task("o/r", sorted(set(labels)), multi_label=False)
    heads = {task.repo: torch.nn.Linear(encoder.dim, len(task.labels)).to(encoder.device)}
    optimizer = optimizer_for(encoder, list(heads.values()), cfg)
    ids = encoder.tokenize(texts)
    batches = list(encoder.batches(ids, batch_size, order=list(range(len(ids)))))
    encoder.model.train()
    seconds = []
    for n in range(steps + 1):
        batch = batches[n % len(batches)]
        targets = torch.zeros((len(batch.index), len(task.labels)), device=encoder.device)
        for row, i in enumerate(batch.index):
            targets[row, task.labels.index(labels[i])] = 1.0
        start = time.perf_counter()
        loss = training_loss(
            encoder.embed(batch),
            [task.repo] * len(batch.index),
            targets,
            [labels[i] for i in batch.index],
            heads,
            {task.repo: task},
            cfg,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if encoder.device.startswith("cuda"):
            torch.cuda.synchronize()
        if n:  # the first step pays for kernel selection and allocation
            seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print one line per precision."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATA), help="issues CSV whose texts are used")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per precision")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)

    from models.encoder import autocast_dtype, pick_device
    from models.triage.data import load_items
    from models.triage.text import prepare_text

    items = load_items(args.data)
    step = max(1, len(items) // (args.steps * args.batch_size + args.batch_size))
    sample = [it for it in items[::step] if it.labels]
    texts = [prepare_text(it.title, it.body) for it in sample]
    labels = [it.labels[0] for it in sample]
    device = pick_device()
    precisions = ["fp32"] + (["bf16"] if autocast_dtype(device, "auto") is not None else [])
    results = {}
    for precision in precisions:
        seconds = time_steps(precision, texts, labels, args.steps, args.batch_size)
        results[precision] = statistics.mean(seconds)
        print(
            f"{device} {precision}: {results[precision]:.2f} s/step "
            f"(median {statistics.median(seconds):.2f}, {len(seconds)} steps of "
            f"{args.batch_size} issues, 256 tokens max)",
            flush=True,
        )
    if "bf16" in results:
        print(f"bf16 speed-up: {results['fp32'] / results['bf16']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
