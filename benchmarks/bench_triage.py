"""Triage inference benchmark: throughput, latency, peak memory and achieved FLOP/s.

Usage: ``python benchmarks/bench_triage.py [--model DIR] [--data CSV] [--items N]``.
Without ``--model`` it times the default base encoder (what a zero-shot or freshly
trained model costs: the head is negligible). Prints a table; ``--json`` adds one
JSON line for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATA = Path("/work/shared/data/issues/nlbse24-train.csv")

# VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child would report the parent's peak.
RSS_PROBE = """
import re, sys
from models.triage.data import LabelledItem
item = LabelledItem(repo="o/r", title="Crash on start", body="Stack trace ...")
if sys.argv[1]:
    from models.triage.model import load_cached
    load_cached(sys.argv[1]).predict([item] * 8)
else:
    from models.defaults import base_model
    from models.encoder import get_encoder
    get_encoder(base_model({})).encode(["Crash on start"] * 8)
print(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1))
"""


def peak_rss_mib(model: str | None) -> float:
    """Peak RSS (MiB) of a fresh process that loads the model and classifies a few items."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, model or ""],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=root,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # Linux reports KiB


def forward_flops(lengths: Sequence[int], config: Any) -> float:
    """Approximate FLOPs of a BERT-style forward pass over sequences of these lengths."""
    h, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    total = 0.0
    for t in lengths:
        dense = 2 * t * (4 * h * h + 2 * h * ff)  # QKV + output projection, feed-forward
        attention = 4 * t * t * h  # QK^T and attention × V
        total += layers * (dense + attention)
    return total


def matmul_peak(device: str, dtype_name: str) -> float:
    """Achieved FLOP/s of a large square matmul: the practical arithmetic limit."""
    import torch

    dtype = getattr(torch, dtype_name)
    n = 2048 if device == "cpu" else 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    runs = 3 if device == "cpu" else 20
    torch.matmul(a, b)
    sync(device)
    start = time.perf_counter()
    for _ in range(runs):
        torch.matmul(a, b)
    sync(device)
    return 2 * n**3 * runs / (time.perf_counter() - start)


def cpu_theoretical_peak() -> tuple[float, str]:
    """Cores × clock × fp32 FLOPs per cycle (FMA width from the CPU flags)."""
    info = Path("/proc/cpuinfo").read_text()
    mhz = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", info)] or [2000.0]
    found = re.search(r"flags\s*:\s*(.*)", info)
    flags = set(found.group(1).split()) if found else set()
    per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 8
    cores = len(os.sched_getaffinity(0))
    return cores * max(mhz) * 1e6 * per_cycle, f"{cores} cores × {max(mhz):.0f} MHz × {per_cycle}"


def sync(device: str) -> None:
    """Wait for queued GPU work (timings must include it)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_batches(encoder: Any, ids: list[list[int]], batch_size: int) -> tuple[float, list[float]]:
    """Total seconds and per-batch seconds of encoding ``ids`` in batches of ``batch_size``."""
    import torch

    per_batch = []
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in encoder.batches(ids, batch_size):
            t0 = time.perf_counter()
            encoder.embed(batch)
            sync(encoder.device)
            per_batch.append(time.perf_counter() - t0)
    return time.perf_counter() - start, per_batch


def bench_device(
    device: str,
    texts: list[str],
    model_dir: str | None,
    sizes: Sequence[int],
    precision: str = "auto",
) -> list[dict[str, Any]]:
    """Rows of the result table for one device at one autocast precision."""
    from models.defaults import base_model
    from models.encoder import Encoder, autocast_dtype

    encoder = Encoder.from_pretrained(
        model_dir or base_model({}), device=device, max_length=256, precision=precision
    )
    dtype = autocast_dtype(encoder.device, precision)
    dtype_name = str(dtype).removeprefix("torch.") if dtype is not None else "float32"
    ids = encoder.tokenize(texts)
    time_batches(encoder, ids[:16], 8)  # warm-up: kernels, allocator, thread pool
    rows = []
    for size in sizes:
        # Batch 1 is slow on CPU: 64 items give a stable median without waiting minutes.
        subset = ids[:64] if size == 1 else ids
        total, per_batch = time_batches(encoder, subset, size)
        flops = forward_flops([len(x) for x in subset], encoder.model.config)
        rows.append(
            {
                "device": device,
                "dtype": dtype_name,
                "batch": size,
                "items": len(subset),
                "items_per_s": len(subset) / total,
                "latency_ms_p50": 1000 * statistics.median(per_batch),
                "ms_per_item": 1000 * total / len(subset),
                "gflops_per_s": flops / total / 1e9,
                "mean_tokens": sum(map(len, subset)) / len(subset),
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="a trained triage model folder (default: base encoder)")
    parser.add_argument("--data", default=str(DATA), help="issues CSV whose texts are used")
    parser.add_argument("--items", type=int, default=512, help="items for the large-batch runs")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)

    import torch

    from models.triage.data import load_items
    from models.triage.text import prepare_text

    items = load_items(args.data)[:: max(1, len(load_items(args.data)) // args.items)][: args.items]
    texts = [prepare_text(it.title, it.body) for it in items]
    from models.encoder import cpu_has_native_bf16

    rows = bench_device("cpu", texts, args.model, (1, 32, 128), precision="fp32")
    peaks = {"cpu/float32": matmul_peak("cpu", "float32")}
    if cpu_has_native_bf16():
        # What workers use by default on this CPU (see models.encoder.autocast_dtype).
        rows += bench_device("cpu", texts, args.model, (1, 32, 128), precision="bf16")
        peaks["cpu/bfloat16"] = matmul_peak("cpu", "bfloat16")
    theory, how = cpu_theoretical_peak()
    if torch.cuda.is_available():
        rows += bench_device("cuda", texts, args.model, (1, 32, 128, 512))
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        peaks[f"cuda/{dtype}"] = matmul_peak("cuda", dtype)
    rss = peak_rss_mib(args.model)

    print(
        f"{'device':6} {'dtype':8} {'batch':>5} {'items':>5} {'tok/item':>8} {'items/s':>8} "
        f"{'ms/item':>8} {'p50 batch ms':>12} {'GFLOP/s':>8} {'% matmul peak':>13}"
    )
    for r in rows:
        share = 100 * r["gflops_per_s"] * 1e9 / peaks[f"{r['device']}/{r['dtype']}"]
        print(
            f"{r['device']:6} {r['dtype']:8} {r['batch']:5d} {r['items']:5d} "
            f"{r['mean_tokens']:8.0f} "
            f"{r['items_per_s']:8.1f} {r['ms_per_item']:8.1f} {r['latency_ms_p50']:12.1f} "
            f"{r['gflops_per_s']:8.1f} {share:12.0f}%"
        )
    print(
        f"CPU fp32 matmul peak (achieved): {peaks['cpu/float32'] / 1e9:.0f} GFLOP/s; "
        f"theoretical {theory / 1e9:.0f} GFLOP/s ({how})"
    )
    if "cpu/bfloat16" in peaks:
        print(f"CPU bf16 matmul peak (achieved): {peaks['cpu/bfloat16'] / 1e9:.0f} GFLOP/s")
    for key, peak in peaks.items():
        if key.startswith("cuda/"):
            print(f"CUDA matmul peak (achieved, {key[5:]}): {peak / 1e12:.1f} TFLOP/s")
    print(f"peak RSS, fresh process with the model loaded: {rss:.0f} MiB")
    if args.json:
        print(
            json.dumps(
                {"rows": rows, "matmul_peak": peaks, "cpu_theoretical": theory, "peak_rss_mib": rss}
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
