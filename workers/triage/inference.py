"""Model access inside a worker process: loaded once, micro-batched across threads.

Trained models live in ``<model dir>/<owner>__<repo>/``; a repository without one is
classified by nearest neighbours over the history its bootstrap collected (label
names, descriptions and the labelled issues). Both are cached per process; the
nearest-neighbour classifier is rebuilt when the repository is bootstrapped again.
The model folder is usually a symlink to the live version (``workers.retrain.flow``);
it is resolved on every call, so a promotion or rollback takes effect at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.metrics import record_batch
from models.batching import MicroBatcher
from models.triage.calibration import NEVER
from workers.modelstore import model_folder
from workers.triage.decide import Prediction

_lock = threading.Lock()
_build_lock = threading.Lock()
_batchers: dict[str, MicroBatcher[Any, dict[str, float]]] = {}
_live: dict[str, str] = {}  # repository → the version folder its batcher serves
_nearest: dict[tuple[str, tuple[str, ...], str], Any] = {}


@dataclass(frozen=True)
class ItemText:
    """What the classifier reads of one item."""

    repo: str
    title: str
    body: str


def _batcher(folder: Path, precision: str) -> MicroBatcher[Any, dict[str, float]]:
    # ``folder`` is resolved by the caller: a promotion re-points the live symlink to
    # another (immutable) version folder, so the key and the loaded model change with it.
    key = str(folder)
    with _lock:
        if key not in _batchers:
            from models.triage.model import load_cached

            model = load_cached(folder, precision=precision)
            _batchers[key] = MicroBatcher(
                model.predict, max_batch=32, max_wait=0.01, on_batch=_model_batch
            )
        return _batchers[key]


def _forget_replaced(repo: str, folder: Path) -> None:
    """Drop the previous version's model when a repository's live model moved."""
    from models.triage.model import evict

    with _lock:
        previous = _live.get(repo)
        _live[repo] = str(folder)
        if previous is None or previous == str(folder):
            return
        _batchers.pop(previous, None)
    evict(previous)


def _model_batch(size: int, seconds: float) -> None:
    record_batch("model", size, seconds)


def predict_with_model(model_dir: Path, item: ItemText, precision: str = "auto") -> Prediction:
    """The repository's trained model's probabilities for one item (batched with others).

    ``precision`` is the deployment's ``STEWARD_PRECISION`` (encoder autocast).
    """
    from models.triage.data import LabelledItem
    from models.triage.model import load_cached

    # Resolved once, so probabilities and thresholds come from the same version.
    folder = model_folder(model_dir, item.repo).resolve()
    _forget_replaced(item.repo, folder)
    item_in = LabelledItem(repo=item.repo, title=item.title, body=item.body)
    probs = _batcher(folder, precision).submit(item_in)
    meta = load_cached(folder, precision=precision).meta
    return Prediction(
        probs=probs,
        thresholds=dict(meta.thresholds),
        single_label=not meta.multi_label,
        source="model",
    )


def predict_nearest(
    item: ItemText,
    labels: Sequence[tuple[str, str]],
    *,
    load_examples: Callable[[], Sequence[Any]],
    version: str,
    base_model: str | None,
    precision: str = "auto",
) -> Prediction:
    """The nearest-neighbour classifier's probabilities over the gated labels.

    The classifier is built once per repository, label set and ``version``
    (``<scope>@<time of the last bootstrap>``) from ``load_examples()`` (the history),
    and kept for the process. Thresholds come from the gates, not from here: every
    threshold is "never" until the flow applies them.
    """
    from models.triage.data import LabelledItem

    key = (item.repo, tuple(sorted(name for name, _ in labels)), version)
    # One build at a time: concurrent first tasks wait for it instead of each embedding
    # the whole history again.
    with _build_lock:
        with _lock:
            cached = _nearest.get(key)
        if cached is None:
            cached = _build_nearest(
                labels, load_examples(), base_model=base_model, precision=precision
            )
            with _lock:
                # One classifier per repository and scope: an older version's is dropped.
                scope = version.split("@", 1)[0]
                for old in [k for k in _nearest if k[0] == item.repo and k[2].startswith(scope)]:
                    _nearest.pop(old, None)
                _nearest[key] = cached
    started = time.perf_counter()
    (probs,) = cached.predict([LabelledItem(repo=item.repo, title=item.title, body=item.body)])
    record_batch("nearest", 1, time.perf_counter() - started)
    return Prediction(
        probs=probs,
        thresholds=dict.fromkeys(probs, NEVER),
        single_label=True,
        source="nearest-neighbour",
    )


def _build_nearest(
    labels: Sequence[tuple[str, str]],
    examples: Sequence[Any],
    *,
    base_model: str | None,
    precision: str,
) -> Any:
    from models.triage.data import LabelInfo
    from models.triage.zeroshot import ZeroShotClassifier

    infos = [LabelInfo(name=n, description=d) for n, d in labels]
    encoder = _encoder(base_model, precision)
    return ZeroShotClassifier(infos, list(examples), encoder=encoder).fit()


def _encoder(base_model: str | None, precision: str) -> Any:
    from models.defaults import packaged_model_path, resolve_model_name
    from models.encoder import get_encoder

    name = resolve_model_name(base_model) if base_model else packaged_model_path()
    return get_encoder(name, precision=precision)
