"""Autocast precision of the encoder: which dtype each setting picks, and that bf16 on a
CPU gives the same embeddings as fp32 up to rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import encoder as encoder_module
from models.defaults import base_model
from models.encoder import Encoder, autocast_dtype


@pytest.mark.parametrize(
    ("device", "precision", "native_bf16", "expected"),
    [
        ("cpu", "fp32", True, None),
        ("cpu", "auto", True, torch.bfloat16),
        ("cpu", "auto", False, None),
        ("cpu", "bf16", False, torch.bfloat16),
    ],
)
def test_autocast_dtype_on_cpu(
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    precision: str,
    native_bf16: bool,
    expected: torch.dtype | None,
) -> None:
    monkeypatch.setattr(encoder_module, "cpu_has_native_bf16", lambda: native_bf16)
    assert autocast_dtype(device, precision) is expected


def test_unknown_precision_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="precision must be one of auto, bf16, fp32"):
        Encoder(object(), torch.nn.Linear(1, 1), device="cpu", precision="fp8")


def test_bf16_embeddings_match_fp32() -> None:
    texts = [
        "App crashes on startup after upgrading to 1.2",
        "Feature request: allow configuring the retry count",
        "How do I build this on Windows?",
    ]
    fp32 = Encoder.from_pretrained(base_model({}), device="cpu", precision="fp32").encode(texts)
    bf16 = Encoder.from_pretrained(base_model({}), device="cpu", precision="bf16").encode(texts)
    cosine = (fp32 * bf16).sum(axis=1) / (
        np.linalg.norm(fp32, axis=1) * np.linalg.norm(bf16, axis=1)
    )
    assert cosine.min() > 0.99
