"""Transformer text encoder: tokenizer + ``AutoModel`` + mean pooling.

Inference sorts texts by length and pads per batch (dynamic padding), so a batch of
short issues costs little even when one issue is huge. Long texts keep their head and
their tail: an issue's title and summary are at the start, the error is often last.
A process-wide cache (``get_encoder``) makes a worker load each model once.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

#: Share of the token budget given to the start of a truncated text; the rest goes to its end.
HEAD_SHARE = 0.75
#: Accepted values of ``precision`` (``STEWARD_PRECISION``).
PRECISIONS = ("auto", "bf16", "fp32")


class TextEncoder(Protocol):
    """Anything that turns texts into one vector each (the real encoder or a test double)."""

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Return an array of shape ``(len(texts), dim)``."""
        ...


@contextlib.contextmanager
def quiet_progress() -> Iterator[None]:
    """Transformers' own progress bars off for a moment (loading or writing weights)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def pick_device(prefer: str | None = None) -> str:
    """``prefer`` if given, else ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if prefer:
        return prefer
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX): there, autocast
    roughly doubles inference speed; elsewhere bf16 is emulated and slower than fp32."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def autocast_dtype(device: str, precision: str = "auto") -> torch.dtype | None:
    """Autocast dtype for ``device``: ``precision`` is ``auto``, ``bf16`` or ``fp32``.

    ``auto``: bf16 on GPUs that support it (fp16 on older ones) and on CPUs with native
    bf16 arithmetic; fp32 elsewhere. Weights stay fp32 either way.
    """
    import torch

    if precision == "fp32":
        return None
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "bf16" or (device == "cpu" and cpu_has_native_bf16()):
        return torch.bfloat16
    return None


def head_tail(ids: Sequence[int], budget: int, head_share: float = HEAD_SHARE) -> list[int]:
    """Keep at most ``budget`` ids: the first ``head_share`` of them and the last of the rest."""
    if len(ids) <= budget:
        return list(ids)
    head = max(1, round(budget * head_share))
    tail = budget - head
    return list(ids[:head]) + (list(ids[len(ids) - tail :]) if tail else [])


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors where ``mask`` is 1 (the sentence-transformers pooling)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


@dataclass(frozen=True)
class Batch:
    """One padded batch and the positions of its rows in the caller's list."""

    index: list[int]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class Encoder:
    """A tokenizer and encoder pair with head+tail truncation and dynamic padding."""

    def __init__(
        self,
        tokenizer: Any,
        model: Any,
        *,
        device: str | None = None,
        max_length: int = 256,
        precision: str = "auto",
    ) -> None:
        """Wrap an already loaded ``tokenizer`` and ``model`` and move the model to ``device``.

        ``precision`` (``auto``, ``bf16``, ``fp32``) picks the autocast dtype; see
        ``autocast_dtype``.
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.tokenizer = tokenizer
        self.device = pick_device(device)
        self.model = model.to(self.device)
        self.max_length = max_length
        self.precision = precision

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        device: str | None = None,
        max_length: int = 256,
        precision: str = "auto",
    ) -> Encoder:
        """Load tokenizer and ``AutoModel`` from a hub id or a local folder."""
        from transformers import AutoModel, AutoTokenizer

        from models.defaults import resolve_model_name

        path = resolve_model_name(name_or_path)
        with quiet_progress():  # a second's "Loading weights" bar per load is noise in logs
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
        model.eval()
        return cls(tokenizer, model, device=device, max_length=max_length, precision=precision)

    @property
    def dim(self) -> int:
        """Width of the pooled embedding."""
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> list[list[int]]:
        """Token ids with special tokens, head+tail truncated to ``max_length``."""
        limit = max_length or self.max_length
        prefix, suffix = self.special_tokens()
        budget = limit - len(prefix) - len(suffix)
        raw = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)
        return [prefix + head_tail(ids, budget) + suffix for ids in raw["input_ids"]]

    def special_tokens(self) -> tuple[list[int], list[int]]:
        """Ids the tokenizer puts before and after a single text (e.g. [CLS] and [SEP])."""
        # Found by probing, because tokenizers differ ([CLS]/[SEP], <s>/</s>, none).
        plain = self.tokenizer("x", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("x", add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return list(full[:start]), list(full[start + len(plain) :])
        return [], []

    def batches(
        self, ids: Sequence[Sequence[int]], batch_size: int, order: Sequence[int] | None = None
    ) -> Iterator[Batch]:
        """Pad ``ids`` per batch, in ``order`` (default: by length, so padding stays small)."""
        import torch

        if order is None:
            order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        pad = int(self.tokenizer.pad_token_id or 0)
        for start in range(0, len(order), batch_size):
            index = list(order[start : start + batch_size])
            width = max(len(ids[i]) for i in index)
            input_ids = torch.full((len(index), width), pad, dtype=torch.long)
            mask = torch.zeros((len(index), width), dtype=torch.long)
            for row, i in enumerate(index):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                mask[row, : len(ids[i])] = 1
            yield Batch(index, input_ids.to(self.device), mask.to(self.device))

    def embed(self, batch: Batch) -> torch.Tensor:
        """Pooled embeddings of one batch (keeps the autograd graph; callers choose no_grad)."""
        import torch

        dtype = autocast_dtype(self.device, self.precision)
        with torch.autocast(self.device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            hidden = self.model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask
            ).last_hidden_state
        return mean_pool(hidden.float(), batch.attention_mask)

    def encode_ids(self, ids: Sequence[Sequence[int]], batch_size: int = 32) -> np.ndarray:
        """Embeddings of already tokenized texts, in input order."""
        import torch

        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        self.model.eval()
        with torch.inference_mode():
            for batch in self.batches(ids, batch_size):
                out[batch.index] = self.embed(batch).cpu().numpy()
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Mean-pooled embeddings of ``texts``, shape ``(len(texts), dim)``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_ids(self.tokenize(texts), batch_size)


_CACHE: dict[tuple[str, str | None, str], Encoder] = {}
_CACHE_LOCK = threading.Lock()


def get_encoder(
    name_or_path: str, *, device: str | None = None, precision: str = "auto"
) -> Encoder:
    """The process-wide encoder for ``name_or_path``, loaded on first use."""
    key = (name_or_path, device, precision)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Encoder.from_pretrained(name_or_path, device=device, precision=precision)
        return _CACHE[key]
