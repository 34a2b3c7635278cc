"""The micro-batcher groups concurrent requests and returns each caller its own result."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from models.batching import MicroBatcher


def test_concurrent_calls_share_batches_and_get_their_own_results() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(
        lambda xs: [x * 10 for x in xs], max_batch=8, max_wait=0.05
    )
    results: dict[int, int] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, batcher.submit(i)))
        for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i * 10 for i in range(20)}
    assert sum(batcher.batches) == 20 and max(batcher.batches) <= 8
    assert len(batcher.batches) < 20  # some calls really were batched


def test_errors_reach_every_caller_of_the_batch() -> None:
    def broken(xs: Sequence[int]) -> list[int]:
        raise ValueError("model exploded")

    batcher: MicroBatcher[int, int] = MicroBatcher(broken, max_wait=0.001)
    with pytest.raises(ValueError, match="exploded"):
        batcher.submit(1)
    # The batcher recovers for the next call.
    ok: MicroBatcher[int, int] = MicroBatcher(lambda xs: list(xs), max_wait=0.001)
    assert ok.submit(3) == 3


def test_the_micro_batcher_reports_each_batch() -> None:
    seen: list[tuple[int, float]] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(
        lambda xs: [x * 2 for x in xs], max_wait=0.001, on_batch=lambda n, s: seen.append((n, s))
    )
    assert batcher.submit(3) == 6
    assert len(seen) == 1 and seen[0][0] == 1 and seen[0][1] >= 0
