"""The trained triage classifier: encoder + linear head + calibrated thresholds.

A model folder holds the head in ``head.safetensors``, ``triage.json`` (labels,
thresholds, metrics, data fingerprint, base model, the encoder's digest, version) and
the lexical channel, and either

* the encoder and tokenizer themselves (``save_pretrained``, safetensors, with
  ``label2id``/``id2label`` in ``config.json``): a *standalone* folder, what
  ``steward train --out`` writes and what can be copied anywhere; or
* nothing more: the encoder lives once in an *encoder store*,
  ``<model dir>/.encoders/<digest>/``, shared by every repository whose model was
  fine-tuned with it (an org's repositories are trained together on one encoder).
  The loader finds it by digest in the ``.encoders`` folder of the model folder's
  nearest ancestor that has one.

No pickles. ``triage.json`` records the encoder's digest, so a process loads an
encoder once for all the models that share it, whichever layout they use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.triage.calibration import labels_to_apply
from models.triage.data import LabelledItem
from models.triage.lexical import LexicalModel, blend
from models.triage.text import TextOptions, prepare_text

if TYPE_CHECKING:
    import torch

    from models.encoder import Encoder

#: Version of the folder layout below; bump when it changes incompatibly.
FORMAT_VERSION = "steward-triage/1"
META_FILE = "triage.json"
HEAD_FILE = "head.safetensors"
#: The encoder store's folder name, inside a model dir (one sub-folder per digest).
ENCODERS_DIR = ".encoders"


@dataclass
class TriageMeta:
    """Everything about a model except its weights (``triage.json``)."""

    labels: list[str]
    multi_label: bool
    thresholds: dict[str, float]
    base_model: str
    max_length: int = 256
    text: dict[str, Any] = field(default_factory=lambda: TextOptions().to_dict())
    repo: str | None = None
    fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    encoder_digest: str = ""
    #: Weight of the TF-IDF channel (``lexical.*`` files) in the blended probabilities.
    lexical_weight: float = 0.0
    format: str = FORMAT_VERSION
    version: str = "0.1.0"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriageMeta:
        """Read ``triage.json``; fail clearly on a layout this code does not know."""
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"unsupported model format {data.get('format')!r}; expected {FORMAT_VERSION}"
            )
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def to_builtin(value: Any) -> Any:
    """JSON fallback for numpy scalars and arrays found in metrics."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def state_digest(module: torch.nn.Module) -> str:
    """sha256 over a module's tensors: equal digests mean identical weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TriageModel:
    """Encoder + one linear head over mean-pooled embeddings, for one repository."""

    def __init__(self, encoder: Encoder, head: torch.nn.Linear, meta: TriageMeta) -> None:
        """Assemble from parts (training builds them; ``load`` reads them)."""
        self.encoder = encoder
        self.head = head.to(encoder.device)
        self.meta = meta
        self.text_options = TextOptions.from_dict(meta.text)
        self.lexical: LexicalModel | None = None

    def attach_lexical(self, lexical: LexicalModel | None, weight: float) -> None:
        """Blend a TF-IDF channel into this model's probabilities (None: encoder only)."""
        self.lexical = lexical
        self.meta.lexical_weight = weight if lexical is not None else 0.0

    @property
    def labels(self) -> list[str]:
        """Label names in head order."""
        return self.meta.labels

    def texts(self, items: Sequence[LabelledItem]) -> list[str]:
        """Model inputs of ``items``."""
        return [prepare_text(it.title, it.body, self.text_options) for it in items]

    def logits_to_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid for independent labels, softmax for one label per item."""
        return logits.sigmoid() if self.meta.multi_label else logits.softmax(dim=-1)

    def predict_proba(self, items: Sequence[LabelledItem], batch_size: int = 32) -> np.ndarray:
        """Probabilities, shape ``(len(items), len(labels))``, batched with dynamic padding."""
        import torch

        if not items:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        texts = self.texts(items)
        emb = self.encoder.encode(texts, batch_size=batch_size)
        with torch.inference_mode():
            logits = self.head(torch.from_numpy(emb).to(self.encoder.device))
            probs = self.logits_to_probs(logits).float().cpu().numpy()
        if self.lexical is not None and self.meta.lexical_weight > 0:
            probs = blend(probs, self.lexical.predict_proba(texts), self.meta.lexical_weight)
        return probs

    def predict(
        self, items: Sequence[LabelledItem], batch_size: int = 32
    ) -> list[dict[str, float]]:
        """One ``{label: probability}`` per item."""
        probs = self.predict_proba(items, batch_size)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probs]

    def apply(
        self, probs: Mapping[str, float], min_confidence: Mapping[str, float] | float | None = None
    ) -> list[str]:
        """Labels to apply at this model's calibrated thresholds (see ``labels_to_apply``)."""
        return labels_to_apply(
            probs, self.meta.thresholds, min_confidence, single_label=not self.meta.multi_label
        )

    def save(self, directory: str | Path, *, encoders: Path | None = None) -> Path:
        """Write the model folder (safetensors + JSON only).

        With ``encoders`` (an encoder store), the encoder is written there once per
        digest and the folder holds only what is this repository's own.
        """
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        if not self.meta.encoder_digest:
            self.meta.encoder_digest = state_digest(self.encoder.model)
        if encoders is None:
            config = self.encoder.model.config
            config.id2label = dict(enumerate(self.labels))
            config.label2id = {lab: i for i, lab in enumerate(self.labels)}
            save_encoder(self.encoder, out)
        else:
            store_encoder(self.encoder, encoders, self.meta.encoder_digest)
        head = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        save_file(head, str(out / HEAD_FILE), metadata={"format": FORMAT_VERSION})
        if self.lexical is not None:
            self.lexical.save(out)
        text = json.dumps(asdict(self.meta), indent=2, sort_keys=True, default=to_builtin)
        (out / META_FILE).write_text(text + "\n")
        return out

    @classmethod
    def load(
        cls, directory: str | Path, *, device: str | None = None, precision: str = "auto"
    ) -> TriageModel:
        """Read a model folder written by ``save``; the encoder is shared by digest.

        ``precision`` is the encoder's autocast setting (see ``models.encoder``).
        """
        import torch
        from safetensors.torch import load_file

        path = Path(directory)
        if not (path / META_FILE).is_file():
            raise FileNotFoundError(
                f"{path} is not a triage model (no {META_FILE}); train one with `steward train`"
            )
        meta = TriageMeta.from_dict(json.loads((path / META_FILE).read_text()))
        encoder = shared_encoder(encoder_folder(path, meta), meta, device, precision)
        state = load_file(str(path / HEAD_FILE))
        head = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
        head.load_state_dict(state)
        head.eval()
        model = cls(encoder, head, meta)
        model.lexical = LexicalModel.load(path)
        return model


def save_encoder(encoder: Encoder, folder: Path) -> None:
    """The encoder's weights, config and tokenizer, in ``folder``.

    Without transformers' "Writing model shards" bar: a second's write, repeated for
    every repository of a ``--per-repo`` run, is noise in the training's own progress.
    """
    from models.encoder import quiet_progress

    with quiet_progress():
        encoder.model.save_pretrained(folder, safe_serialization=True)
        encoder.tokenizer.save_pretrained(folder)


def store_encoder(encoder: Encoder, encoders: Path, digest: str) -> Path:
    """``encoders/<digest>``, written once: atomically, and skipped when present (its
    modification time is then renewed: retention deletes only unnamed encoders that are
    old enough, and the version that will name this one is not published yet).

    Two processes saving the same encoder at once both write a temporary folder;
    the first rename wins and the other's copy is thrown away.
    """
    target = encoders / digest
    if (target / "config.json").is_file():
        try:  # reused: young again, so retention leaves it until a version names it
            os.utime(target)
            return target
        except FileNotFoundError:  # retention took it a moment ago: store it again
            pass
    encoders.mkdir(parents=True, exist_ok=True)
    tmp = encoders / f".tmp-{uuid.uuid4().hex}"
    save_encoder(encoder, tmp)
    try:
        os.rename(tmp, target)
    except OSError:  # another process stored the same digest first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def encoder_folder(path: Path, meta: TriageMeta) -> Path:
    """Where a model folder's encoder is: the folder itself, or the store by digest."""
    if (path / "config.json").is_file():
        return path
    for parent in path.resolve().parents:
        candidate = parent / ENCODERS_DIR / meta.encoder_digest
        if meta.encoder_digest and (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"{path} holds no encoder and no {ENCODERS_DIR}/{meta.encoder_digest[:12] or '?'}"
        " was found above it; copy the model dir whole, or save it standalone"
    )


_ENCODERS: dict[tuple[str, str | None, str], Encoder] = {}
_MODELS: dict[tuple[str, str | None, str], TriageModel] = {}
_LOCK = threading.RLock()


def shared_encoder(
    path: Path, meta: TriageMeta, device: str | None, precision: str = "auto"
) -> Encoder:
    """Encoder of a model folder, reused across folders holding the same weights."""
    from models.encoder import Encoder

    key = (meta.encoder_digest or str(path.resolve()), device, precision)
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = Encoder.from_pretrained(
                str(path), device=device, max_length=meta.max_length, precision=precision
            )
        return _ENCODERS[key]


def evict(directory: str | Path) -> None:
    """Forget a cached model folder, and its encoder once no cached model shares it.

    Workers call this when a repository's live model moves to another version, so memory
    does not grow with every promotion.
    """
    resolved = str(Path(directory).resolve())
    with _LOCK:
        for key in [k for k in _MODELS if k[0] == resolved]:
            model = _MODELS.pop(key)
            in_use = any(m.encoder is model.encoder for m in _MODELS.values())
            if not in_use:
                for enc_key in [k for k, e in _ENCODERS.items() if e is model.encoder]:
                    del _ENCODERS[enc_key]


def load_cached(
    directory: str | Path, *, device: str | None = None, precision: str = "auto"
) -> TriageModel:
    """``TriageModel.load`` once per folder per process (what workers call)."""
    key = (str(Path(directory).resolve()), device, precision)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = TriageModel.load(directory, device=device, precision=precision)
        return _MODELS[key]
