"""The semantic index of a repository's items, kept in the database.

Every item (``issue:12``, ``pull:34``, ``discussion:5``) is embedded once per encoder
from :func:`models.matching.embedding_text`. The encoder is the repository's fine-tuned
triage encoder when it has a trained model, else the base encoder; its *tag* is stored
with each vector, so a new encoder (a promotion) makes every item embed again on its
next use, and :func:`reindex` re-embeds the history and drops the old encoder's rows.
An item whose text changed (an edit) is embedded again: each row keeps the hash of the
text it was made from. Encoding runs on the inference queue's worker (GPU and bf16
when present, see :mod:`models.encoder`); on a GPU the few texts a task embeds (a new
issue, a newcomer's) join those of the tasks running beside it in the worker's threads,
one forward pass for all of them (:func:`embed_shared`), while a reindex's many texts
go to the encoder in batches of their own.

Matching (work for a returning contributor) and welcomes (good first issues close to a
newcomer's) both read the index through this module; neither imports the other.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.metrics import record_batch
from core.settings import Settings
from core.store import Store
from models.batching import MicroBatcher
from models.matching import embedding_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepoEncoder:
    """The encoder a repository's items are embedded with, and its stored tag."""

    tag: str
    encoder: Any  # models.encoder.TextEncoder


def repo_encoder(settings: Settings, repo: str) -> RepoEncoder:
    """The fine-tuned triage encoder of ``repo`` when it has a model, else the base one."""
    from workers.modelstore import has_model, model_dir_of, model_folder

    model_dir = model_dir_of(settings)
    if has_model(model_dir, repo):
        from models.triage.model import load_cached

        folder = model_folder(model_dir, repo).resolve()
        model = load_cached(folder, precision=settings.precision)
        digest = model.meta.encoder_digest or folder.name
        return RepoEncoder(f"triage:{digest}"[:255], model.encoder)
    return base_encoder(settings)


def base_encoder(settings: Settings) -> RepoEncoder:
    """The deployment's base encoder (``STEWARD_BASE_MODEL`` or the packaged default)."""
    from models.defaults import model_name, packaged_model_path, resolve_model_name
    from models.encoder import get_encoder

    name = resolve_model_name(settings.base_model) if settings.base_model else packaged_model_path()
    encoder = get_encoder(name, precision=settings.precision)
    return RepoEncoder(f"base:{model_name(name)}"[:255], encoder)


def text_digest(text: str) -> str:
    """A short hash of the text an embedding was made from."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def ensure_vectors(
    store: Store, repo: str, encoder: RepoEncoder, *, texts: Mapping[str, str]
) -> dict[str, np.ndarray]:
    """Unit vectors of ``texts`` (``key → text``), embedding only what is new or changed."""
    stored = store.vectors_for(repo, encoder.tag, texts)
    out: dict[str, np.ndarray] = {}
    todo: list[str] = []
    for key, text in texts.items():
        found = stored.get(key)
        if found is not None and found[0] == text_digest(text):
            out[key] = np.frombuffer(found[1], dtype=np.float32)
        else:
            todo.append(key)
    if todo:
        matrix = unit_rows(embed_shared(encoder, [texts[k] for k in todo]))
        store.upsert_vectors(
            repo,
            encoder.tag,
            [
                (k, text_digest(texts[k]), row.tobytes())
                for k, row in zip(todo, matrix, strict=True)
            ],
        )
        out.update(zip(todo, matrix, strict=True))
        log.info("embedded %d items of %s with %s", len(todo), repo, encoder.tag)
    return out


#: Texts one call embeds through the shared batcher at most; a call with more (a
#: reindex, a backfill) embeds them in batches of its own.
SHARED_TEXTS = 16
#: How long the first of several concurrent calls waits for others to join its batch.
SHARED_WAIT = 0.01

_embedders: dict[str, tuple[Any, MicroBatcher[tuple[str, ...], np.ndarray]]] = {}
_embedders_lock = threading.Lock()


def embed_shared(
    encoder: RepoEncoder, texts: list[str], *, shared: bool | None = None
) -> np.ndarray:
    """Embeddings of ``texts`` (input order).

    ``shared`` (default: when the encoder runs on a GPU): a few texts wait up to
    ``SHARED_WAIT`` for the calls of other tasks in this process and go through one
    forward pass with theirs. On a CPU each call runs its own pass: tasks' passes run
    side by side in the worker's threads there, and one shared pass measured no faster
    (``benchmarks/bench_embed_batching.py``). Many texts are embedded in batches of
    their own either way.
    """
    from models.matching.vectors import embed_in_batches

    if shared is None:
        shared = not str(getattr(encoder.encoder, "device", "cpu")).startswith("cpu")
    if not shared or len(texts) > SHARED_TEXTS:
        return embed_in_batches(encoder.encoder, texts)
    return _embedder(encoder).submit(tuple(texts))


def _embedder(encoder: RepoEncoder) -> MicroBatcher[tuple[str, ...], np.ndarray]:
    """The batcher of ``encoder`` (a new one when its tag now names another encoder,
    as after a promotion's reload)."""
    with _embedders_lock:
        found = _embedders.get(encoder.tag)
        if found is None or found[0] is not encoder.encoder:
            batcher = MicroBatcher(
                _embed_requests(encoder.encoder),
                max_batch=32,
                max_wait=SHARED_WAIT,
                on_batch=lambda size, seconds: record_batch("embed", size, seconds),
            )
            found = _embedders[encoder.tag] = (encoder.encoder, batcher)
        return found[1]


def _embed_requests(model: Any) -> Any:
    """A batch function: several calls' texts embedded in one pass, split back per call."""
    from models.matching.vectors import embed_in_batches

    def run(requests: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
        matrix = embed_in_batches(model, [text for request in requests for text in request])
        return np.split(matrix, np.cumsum([len(r) for r in requests])[:-1])

    return run


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as float32 (a zero row stays zero)."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    scaled: np.ndarray = rows / np.maximum(norms, 1e-12)
    return scaled


#: A similarity floor for repositories too small to calibrate one (cosine, base encoder).
MIN_SIMILARITY_FLOOR = 0.35


#: Stored vectors needed before the repository's own calibration is trusted.
CALIBRATION_MIN_ITEMS = 30


#: Stored vectors read at most to calibrate (random pairs among them).
CALIBRATION_SAMPLE = 2000


_lock = threading.Lock()


#: ``(repo, encoder tag) → (index size when calibrated, minimum similarity)``.
_thresholds: dict[tuple[str, str], tuple[int, float]] = {}


def min_similarity(store: Store, repo: str, encoder: RepoEncoder) -> float:
    """The least similarity worth showing, calibrated on the repository's own items.

    Random pairs of up to 2,000 stored items give the similarity of unrelated items; the
    result is cached per repository and encoder until the index has grown by a quarter. A
    small index uses the floor alone.
    """
    from models.reviewers.work import calibrate_min_similarity

    count = store.vector_count(repo, encoder.tag)
    with _lock:
        cached = _thresholds.get((repo, encoder.tag))
    if cached is not None and count <= cached[0] * 1.25:
        return cached[1]
    value = MIN_SIMILARITY_FLOOR
    if count >= CALIBRATION_MIN_ITEMS:
        rows = store.sample_vectors(repo, encoder.tag, limit=CALIBRATION_SAMPLE)
        matrix = np.stack([np.frombuffer(row, dtype=np.float32) for row in rows])
        value = max(value, float(calibrate_min_similarity(matrix)))
    with _lock:
        _thresholds[(repo, encoder.tag)] = (max(count, 1), value)
    return value


#: Item kinds in the index, as the keys spell them.
KEY_KINDS = {"issue": "issue", "pull_request": "pull", "discussion": "discussion"}


def item_key(kind: str, number: int) -> str:
    """The index key of an item: ``issue:12``, ``pull:34``, ``discussion:5``."""
    return f"{KEY_KINDS.get(kind, kind)}:{number}"


def issue_text(issue: Mapping[str, Any]) -> str:
    """The text an issue is embedded from."""
    return embedding_text(str(issue.get("title") or ""), str(issue.get("body") or ""))
