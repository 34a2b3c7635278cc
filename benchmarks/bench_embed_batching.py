"""Embedding across tasks: items/s of a worker's threads embedding one issue per task,
each task on its own (before) or through the shared batcher (``workers.semantic.embed_shared``,
after).

A worker runs ``--threads`` tasks at once (``steward worker --concurrency``, 4 by
default); each task embeds one issue (title and body from NLBSE'24, as the semantic
index's ``embedding_text`` builds it), as a duplicates check, a welcome or an index of
a new issue does. Before, each task ran its own forward pass of one text; after, the
texts of the tasks waiting together go through one pass. The two are measured in
interleaved rounds, each keeping its fastest (on a shared machine the slower rounds
measure the neighbours), with the encoder the deployment would use
(``STEWARD_PRECISION``, the packaged MiniLM or ``STEWARD_BASE_MODEL``, on the GPU when
there is one). The tasks here do nothing but embed; real tasks also wait on GitHub and
the database, so fewer of them meet in one batch than here.

On two shared CPU cores (bf16) the shared pass was no faster: tasks' own passes run
side by side in the threads there, and a shared pass pads every text to its longest,
so ``embed_shared`` shares passes only on a GPU.

    .venv/bin/python benchmarks/bench_embed_batching.py [--threads 4] [--items 128]
        [--rounds 2] [--torch-threads N]
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from models.matching import embedding_text  # noqa: E402
from models.triage.data import parse_csv  # noqa: E402

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")


def texts_of(count: int) -> list[str]:
    """``count`` issue texts, as the semantic index embeds them."""
    items = parse_csv(DATA.read_text(encoding="utf-8"))[:count]
    return [embedding_text(it.title, it.body) for it in items]


def run_tasks(texts: Sequence[str], threads: int, embed: Callable[[str], Any]) -> float:
    """Items/s of ``threads`` workers taking one text at a time from a shared queue."""
    todo: queue.Queue[str] = queue.Queue()
    for text in texts:
        todo.put(text)

    def work() -> None:
        while True:
            try:
                text = todo.get_nowait()
            except queue.Empty:
                return
            embed(text)

    started = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return len(texts) / (time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both ways and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="tasks at once (worker threads)")
    parser.add_argument("--items", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    from core.settings import load_settings
    from models.matching.vectors import embed_in_batches
    from workers import semantic

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    settings = load_settings({**os.environ}, env_file=Path("/nonexistent"), receiver=False)
    encoder = semantic.base_encoder(settings)
    texts = texts_of(args.items)
    embed_in_batches(encoder.encoder, texts[:8])  # warm-up (kernels, allocator)
    ways: dict[str, Callable[[str], Any]] = {
        "each task alone": lambda text: embed_in_batches(encoder.encoder, [text]),
        "shared batcher": lambda text: semantic.embed_shared(encoder, [text], shared=True),
    }
    best = dict.fromkeys(ways, 0.0)
    for _ in range(args.rounds):
        for name, embed in ways.items():
            best[name] = max(best[name], run_tasks(texts, args.threads, embed))
    batches = semantic._embedder(encoder).batches
    print(f"{encoder.tag}, precision {settings.precision}, {torch.get_num_threads()} torch threads")
    print(f"{args.threads} tasks at once, {len(texts)} issues, best of {args.rounds} rounds")
    for name, rate in best.items():
        print(f"  {name:<16} {rate:7.1f} items/s")
    print(
        f"  speed-up {best['shared batcher'] / best['each task alone']:.2f}x; shared batches "
        f"held {sum(batches) / len(batches):.1f} texts on average"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
