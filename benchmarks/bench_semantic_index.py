"""Measure the semantic index: embedding throughput, query latency, memory, recall.

(a) Embeds ``--items`` real item texts (issues from the NLBSE'24 set, changes from
golang.org/x/net, each through ``embedding_text``; repeated if there are fewer) with the
default encoder on this CPU, fp32 and, where the CPU multiplies bf16 natively, bf16.
(b) Builds an index of ``--index-size`` vectors, the embedded real vectors tiled with small
Gaussian noise (random unit vectors with ``--random``), and times ``--queries`` single
queries (top 10) for plain numpy float32, ``VectorIndex`` (the default) and the installed
libraries among ``--libraries``; recall@10 is measured against exact float32 search.
(c) Reports the memory of the vectors per 100,000 items.

    nice .venv/bin/python benchmarks/bench_semantic_index.py [--items 10000]
        [--index-size 100000] [--queries 1000] [--libraries usearch,faiss] [--json FILE]
        [--vectors FILE.npy]
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
ISSUES = Path("/work/shared/data/issues/nlbse24-train.csv")
CHANGES = Path("/work/shared/data/reviews/golang-net.jsonl")
PER = 100_000  # memory is reported per this many items
K = 10


@dataclass
class Row:
    """One index variant's numbers."""

    name: str
    build_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mb_per_100k: float
    recall_at_10: float


def _issue_texts(path: Path) -> Iterator[str]:
    """Issue texts (title + body) from the NLBSE'24 CSV."""
    from models.matching.texts import embedding_text

    csv.field_size_limit(1 << 30)  # some bodies are far longer than csv's default limit
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield embedding_text(row["title"], row["body"])


def _change_texts(path: Path) -> Iterator[str]:
    """Change texts (title + body + changed paths) from a review history."""
    from models.matching.texts import embedding_text

    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                yield embedding_text(row["title"], row.get("body", ""), row.get("files", []))


def load_texts(count: int) -> list[str]:
    """``count`` real item texts: every change, then issues; repeated if too few."""
    changes = list(_change_texts(CHANGES))
    texts = changes[:count]
    for text in _issue_texts(ISSUES):
        if len(texts) >= count:
            break
        texts.append(text)
    while len(texts) < count:  # fewer real texts than asked: repeat them
        texts += texts[: count - len(texts)]
    return texts


def embed_throughput(texts: list[str], batch_size: int, precision: str) -> tuple[float, Any]:
    """Items per second embedding ``texts`` with the default encoder, and the vectors."""
    from models.defaults import base_model
    from models.encoder import get_encoder
    from models.matching.vectors import embed_in_batches

    encoder = get_encoder(base_model(os.environ), device="cpu", precision=precision)
    encoder.encode(texts[:batch_size], batch_size=batch_size)  # warm-up: first-call costs
    started = time.perf_counter()
    vectors = embed_in_batches(encoder, texts, batch_size=batch_size, progress=True)
    return len(texts) / (time.perf_counter() - started), vectors


def index_vectors(seed_vectors: np.ndarray | None, size: int, dim: int) -> np.ndarray:
    """``size`` unit vectors: real ones tiled with noise, or random when none are given."""
    rng = np.random.default_rng(0)
    if seed_vectors is None or len(seed_vectors) == 0:
        matrix = rng.standard_normal((size, dim), dtype=np.float32)
    else:
        reps = -(-size // len(seed_vectors))
        matrix = np.tile(seed_vectors.astype(np.float32), (reps, 1))[:size]
        # Noise of norm about 0.4 against unit vectors: copies stay near their original
        # (cosine about 0.9) without being exact duplicates that would tie.
        matrix += rng.standard_normal(matrix.shape, dtype=np.float32) * 0.02
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def query_vectors(matrix: np.ndarray, count: int) -> np.ndarray:
    """Queries near indexed vectors (a new item resembling existing ones)."""
    rng = np.random.default_rng(1)
    picked = matrix[rng.choice(len(matrix), count, replace=False)]
    queries = picked + rng.standard_normal(picked.shape, dtype=np.float32) * 0.03
    return np.asarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), np.float32)


def exact_top(matrix: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Exact float32 top-10 row ids for each query (the recall reference)."""
    out = np.zeros((len(queries), K), dtype=np.int64)
    for start in range(0, len(queries), 100):
        scores = queries[start : start + 100] @ matrix.T
        part = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        out[start : start + 100] = np.take_along_axis(part, order, axis=1)
    return out


def time_queries(
    search: Callable[[np.ndarray], list[int]], queries: np.ndarray, truth: np.ndarray
) -> tuple[np.ndarray, float]:
    """Latencies (ms) of one search per query, and recall@10 against ``truth``."""
    latencies = np.zeros(len(queries))
    hits = 0
    for i, query in enumerate(queries):
        started = time.perf_counter()
        found = search(query)
        latencies[i] = (time.perf_counter() - started) * 1000
        hits += len(set(found) & set(truth[i].tolist()))
    return latencies, hits / truth.size


def measure(
    name: str,
    build: Callable[[], tuple[Callable[[np.ndarray], list[int]], int]],
    queries: np.ndarray,
    truth: np.ndarray,
    size: int,
) -> Row:
    """Build one variant, time its queries and size its memory."""
    started = time.perf_counter()
    search, nbytes = build()
    build_s = time.perf_counter() - started
    search(queries[0])  # warm-up: lazy imports and first-call allocations are not queries
    latencies, recall = time_queries(search, queries, truth)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    mb = nbytes / size * PER / 1e6
    return Row(name, build_s, float(p50), float(p95), float(p99), mb, recall)


def numpy_float32(matrix: np.ndarray) -> tuple[Callable[[np.ndarray], list[int]], int]:
    """Plain float32 brute force: the baseline the default is compared with."""
    stored = matrix.copy()

    def search(query: np.ndarray) -> list[int]:
        scores = stored @ query
        part = np.argpartition(-scores, K)[:K]
        return [int(i) for i in part[np.argsort(-scores[part])]]

    return search, stored.nbytes


def vector_index(matrix: np.ndarray) -> tuple[Callable[[np.ndarray], list[int]], int]:
    """``VectorIndex`` as the bot builds it from database rows."""
    from models.matching.vectors import VectorIndex

    index = VectorIndex.from_arrays([f"issue:{i}" for i in range(len(matrix))], matrix, model="m")

    def search(query: np.ndarray) -> list[int]:
        return [int(key[6:]) for key, _ in index.search(query, K)]

    return search, index.nbytes


def usearch_hnsw(matrix: np.ndarray) -> tuple[Callable[[np.ndarray], list[int]], int]:
    """usearch's HNSW graph, float16 vectors, its default connectivity."""
    from usearch.index import Index

    index = Index(ndim=matrix.shape[1], metric="ip", dtype="f16")
    index.add(np.arange(len(matrix)), matrix)

    def search(query: np.ndarray) -> list[int]:
        return [int(key) for key in index.search(query, K).keys]

    return search, int(index.memory_usage)


def faiss_fp16_flat(matrix: np.ndarray) -> tuple[Callable[[np.ndarray], list[int]], int]:
    """faiss exact search over float16-coded vectors (IndexScalarQuantizer QT_fp16)."""
    import faiss

    index = faiss.IndexScalarQuantizer(
        matrix.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
    )
    index.train(matrix)
    index.add(matrix)

    def search(query: np.ndarray) -> list[int]:
        return [int(i) for i in index.search(query[None, :], K)[1][0]]

    return search, int(index.sa_code_size()) * len(matrix)


def faiss_hnsw(matrix: np.ndarray) -> tuple[Callable[[np.ndarray], list[int]], int]:
    """faiss HNSW (M=32) over float32 vectors; memory counts vectors and graph links."""
    import faiss

    index = faiss.IndexHNSWFlat(matrix.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.add(matrix)
    graph: Any = index  # faiss's stubs, when installed, do not declare ``hnsw``
    links = graph.hnsw.neighbors.size() * 4

    def search(query: np.ndarray) -> list[int]:
        return [int(i) for i in index.search(query[None, :], K)[1][0]]

    return search, matrix.nbytes + int(links)


def hnswlib_hnsw(matrix: np.ndarray) -> tuple[Callable[[np.ndarray], list[int]], int]:
    """hnswlib HNSW (M=16, ef_construction=200, ef=64) over float32 vectors."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=matrix.shape[1])
    index.init_index(max_elements=len(matrix), M=16, ef_construction=200)
    index.add_items(matrix, np.arange(len(matrix)))
    index.set_ef(64)
    # hnswlib reports no size: vectors plus 2*M links of 4 bytes on level 0, plus labels.
    nbytes = matrix.nbytes + len(matrix) * (2 * 16 * 4 + 4 + 8)

    def search(query: np.ndarray) -> list[int]:
        return [int(i) for i in index.knn_query(query, k=K)[0][0]]

    return search, nbytes


LIBRARIES: dict[str, list[tuple[str, Any]]] = {
    "usearch": [("usearch HNSW f16 (ANN)", usearch_hnsw)],
    "faiss": [("faiss fp16 flat (exact)", faiss_fp16_flat), ("faiss HNSW32 (ANN)", faiss_hnsw)],
    "hnswlib": [("hnswlib HNSW16 (ANN)", hnswlib_hnsw)],
}


def compare_indexes(matrix: np.ndarray, queries: np.ndarray, libraries: list[str]) -> list[Row]:
    """Rows for numpy float32, VectorIndex and each installed library asked for."""
    from models.matching.vectors import STORAGE_DTYPE

    truth = exact_top(matrix, queries)
    variants: list[tuple[str, Any]] = [
        ("numpy float32 (exact)", numpy_float32),
        (f"VectorIndex {np.dtype(STORAGE_DTYPE).name} (default)", vector_index),
    ]
    for library in libraries:
        variants += LIBRARIES.get(library, [])
    rows = []
    for name, build in variants:
        try:
            rows.append(
                measure(name, functools.partial(build, matrix), queries, truth, len(matrix))
            )
        except ImportError:
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        print(f"measured {name}", file=sys.stderr)
    return rows


def print_table(rows: list[Row]) -> None:
    """The comparison as an aligned text table."""
    print(
        f"{'index':32s} {'build s':>8s} {'p50 ms':>7s} {'p95 ms':>7s} {'p99 ms':>7s} "
        f"{'MB/100k':>8s} {'recall@10':>9s}"
    )
    for r in rows:
        print(
            f"{r.name:32s} {r.build_s:8.2f} {r.p50_ms:7.2f} {r.p95_ms:7.2f} {r.p99_ms:7.2f} "
            f"{r.mb_per_100k:8.1f} {r.recall_at_10:9.3f}"
        )


def run_embedding(args: argparse.Namespace) -> tuple[dict[str, Any], np.ndarray | None]:
    """Part (a): throughput in fp32, and bf16 where the CPU has it natively."""
    from models.encoder import cpu_has_native_bf16

    if args.items <= 0:
        return {"note": "embedding skipped (--items 0)"}, None
    if args.vectors and args.vectors.exists():
        return {"note": f"embedding skipped: vectors read from {args.vectors}"}, np.load(
            args.vectors, allow_pickle=False
        )
    texts = load_texts(args.items)
    rate, vectors = embed_throughput(texts, args.batch_size, "fp32")
    if args.vectors:
        np.save(args.vectors, vectors)
    result: dict[str, Any] = {
        "items": len(texts),
        "batch_size": args.batch_size,
        "fp32_items_per_s": rate,
        "threads": _torch_threads(),
    }
    if cpu_has_native_bf16():
        result["bf16_items_per_s"], _ = embed_throughput(texts, args.batch_size, "bf16")
    else:
        result["bf16_note"] = "CPU has no native bf16 (AVX512-BF16/AMX): bf16 not measured"
    return result, vectors


def _torch_threads() -> int:
    """Threads torch uses for inference here."""
    import torch

    return int(torch.get_num_threads())


def main() -> int:
    """Run the three measurements, print them, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="texts to embed (0: skip)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--index-size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--random", action="store_true", help="random unit vectors")
    parser.add_argument("--libraries", default="usearch,faiss", help="comma-separated")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument(
        "--vectors",
        type=Path,
        help=".npy cache of the embedded texts: read if present, else written",
    )
    args = parser.parse_args()

    embedding, vectors = run_embedding(args)
    print("embedding:", json.dumps(embedding))
    dim = 384 if vectors is None else int(vectors.shape[1])
    matrix = index_vectors(None if args.random else vectors, args.index_size, dim)
    source = "random unit vectors" if args.random or vectors is None else "real vectors tiled"
    print(f"index: {args.index_size} vectors ({source}), {args.queries} queries, top {K}")
    rows = compare_indexes(matrix, query_vectors(matrix, args.queries), args.libraries.split(","))
    print_table(rows)
    if args.json:
        report = {
            "embedding": embedding,
            "index_size": args.index_size,
            "vectors": source,
            "queries": args.queries,
            "indexes": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
