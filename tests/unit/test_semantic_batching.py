"""Embedding across tasks (``workers.semantic.embed_shared``): on a GPU the few texts of
tasks running at once in a worker's threads go through one forward pass, each task gets
its own rows back in its own order, a reindex's many texts do not wait for anyone, and a
reloaded encoder gets a batcher of its own; on a CPU each task runs its own pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from workers import semantic
from workers.semantic import SHARED_TEXTS, RepoEncoder, embed_shared


class CountingEncoder:
    """Embeds a text as (its length, its first character's code); records each call."""

    def __init__(self, pause: float = 0.0, device: str = "cuda") -> None:
        self.device = device
        self.calls: list[int] = []
        self.pause = pause
        self.lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        with self.lock:
            self.calls.append(len(texts))
        time.sleep(self.pause)  # a forward pass takes time: others queue meanwhile
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def expected(texts: Sequence[str]) -> np.ndarray:
    return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def test_concurrent_tasks_share_forward_passes_and_get_their_own_rows() -> None:
    model = CountingEncoder(pause=0.02)
    encoder = RepoEncoder("test:shared", model)
    asks = {
        i: [f"{chr(97 + i % 26)}{'x' * i}", f"{chr(65 + i % 26)}{'y' * (40 - i)}"]
        for i in range(12)
    }
    got: dict[int, np.ndarray] = {}
    threads = [
        threading.Thread(target=lambda i=i: got.__setitem__(i, embed_shared(encoder, asks[i])))
        for i in asks
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, texts in asks.items():
        np.testing.assert_array_equal(got[i], expected(texts))
    assert sum(model.calls) == 24
    assert len(model.calls) < len(asks)  # tasks' texts really went through shared passes


def test_many_texts_are_embedded_on_their_own() -> None:
    model = CountingEncoder()
    texts = [f"t{'z' * i}" for i in range(SHARED_TEXTS + 1)]
    got = embed_shared(RepoEncoder("test:many", model), texts)
    np.testing.assert_array_equal(got, expected(texts))
    assert "test:many" not in semantic._embedders  # no batcher, no wait for others
    embed_shared(RepoEncoder("test:many", model), texts[:SHARED_TEXTS])
    assert "test:many" in semantic._embedders


def test_a_reloaded_encoder_under_the_same_tag_is_the_one_used() -> None:
    first, second = CountingEncoder(), CountingEncoder()
    embed_shared(RepoEncoder("test:reloaded", first), ["a"])
    embed_shared(RepoEncoder("test:reloaded", second), ["b"])
    assert first.calls == [1] and second.calls == [1]


def test_on_a_cpu_each_task_runs_its_own_pass() -> None:
    model = CountingEncoder(pause=0.02, device="cpu")
    encoder = RepoEncoder("test:cpu", model)
    threads = [threading.Thread(target=embed_shared, args=(encoder, ["abc"])) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert model.calls == [1] * 6
    assert "test:cpu" not in semantic._embedders
