"""The semantic index of a repository's items, kept in the database.

Every item (``issue:12``, ``pull:34``, ``discussion:5``) is embedded once per encoder
from :func:`models.matching.embedding_text`. The encoder is the repository's fine-tuned
triage encoder when it has a trained model, else the base encoder; its *tag* is stored
with each vector, so a new encoder (a promotion) makes every item embed again on its
next use, and :func:`reindex` re-embeds the history and drops the old encoder's rows.
An item whose text changed (an edit) is embedded again: each row keeps the hash of the
text it was made from. Encoding runs in one batch per call, on the inference queue's
worker (GPU and bf16 when present, see :mod:`models.encoder`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.settings import Settings
from core.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RepoEncoder:
    """The encoder a repository's items are embedded with, and its stored tag."""

    tag: str
    encoder: Any  # models.encoder.TextEncoder


def repo_encoder(settings: Settings, repo: str) -> RepoEncoder:
    """The fine-tuned triage encoder of ``repo`` when it has a model, else the base one."""
    from workers.retrain.flow import model_dir_of
    from workers.triage.inference import has_model, model_folder

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
    from models.matching.vectors import embed_in_batches

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
        matrix = embed_in_batches(encoder.encoder, [texts[k] for k in todo])
        matrix = unit_rows(matrix)
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


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as float32 (a zero row stays zero)."""
    rows = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    scaled: np.ndarray = rows / np.maximum(norms, 1e-12)
    return scaled
