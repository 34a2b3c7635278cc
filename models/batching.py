"""Micro-batching of inference requests from many threads into one forward pass.

A worker running several tasks at once (Celery's thread pool) submits items one by
one; the first caller to arrive waits up to ``max_wait`` seconds for others, runs one
batch for all of them, and hands each caller its own result. No background thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Slot(Generic[T, R]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    result: R | None = None
    error: BaseException | None = None


class MicroBatcher(Generic[T, R]):
    """Collects concurrent ``submit`` calls into batches for ``fn``."""

    def __init__(
        self,
        fn: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 32,
        max_wait: float = 0.01,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        """``fn`` maps a batch of items to one result per item, in order; ``on_batch``
        hears the size and seconds of each batch run (a metrics hook).
        """
        self._fn = fn
        self._on_batch = on_batch
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._lock = threading.Lock()
        self._pending: list[_Slot[T, R]] = []
        self._leader_active = False
        self.batches: list[int] = []  # sizes of the batches run (for benchmarks and tests)

    def submit(self, item: T) -> R:
        """The result for ``item``, computed in a batch with whatever else is waiting."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._pending.append(slot)
            lead = not self._leader_active
            if lead:
                self._leader_active = True
        if lead:
            self._lead()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self) -> None:
        deadline = time.monotonic() + self._max_wait
        while time.monotonic() < deadline:
            with self._lock:
                if len(self._pending) >= self._max_batch:
                    break
            time.sleep(self._max_wait / 10)
        while True:
            with self._lock:
                batch, self._pending = (
                    self._pending[: self._max_batch],
                    self._pending[self._max_batch :],
                )
                if not batch:
                    self._leader_active = False
                    return
            self._run(batch)

    def _run(self, batch: list[_Slot[T, R]]) -> None:
        self.batches.append(len(batch))
        started = time.perf_counter()
        try:
            results = list(self._fn([slot.item for slot in batch]))
            if self._on_batch is not None:
                self._on_batch(len(batch), time.perf_counter() - started)
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} for {len(batch)}")
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as exc:  # every waiting caller must learn of the failure
            for slot in batch:
                slot.error = exc
        finally:
            for slot in batch:
                slot.done.set()
