"""``/metrics``' pure parts: where the multiprocess directory and the token come from,
and the live-precision cache (an injected clock, a computation that can fail). The
scrape itself, over real processes and Redis: tests/integration/test_metrics.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.settings import load_settings


def test_the_metrics_directory_and_token_come_from_settings(tmp_path: Path) -> None:
    none = Path("/nonexistent.env")
    default = load_settings({"STEWARD_DATA_DIR": str(tmp_path)}, env_file=none)
    assert default.metrics_dir_or_default == tmp_path / "metrics"
    assert default.metrics_token is None
    given = {"PROMETHEUS_MULTIPROC_DIR": "/m", "STEWARD_METRICS_TOKEN": "t"}
    assert load_settings(given, env_file=none).metrics_dir_or_default == Path("/m")
    assert "'t'" not in repr(load_settings(given, env_file=none))
    ours = {**given, "STEWARD_METRICS_DIR": "/s"}
    assert load_settings(ours, env_file=none).metrics_dir_or_default == Path("/s")


async def test_the_precision_is_cached_and_refreshed_in_the_background() -> None:
    from app.metrics import PrecisionCache

    now = [0.0]
    calls: list[int] = []

    def compute() -> dict[str, dict[str, Any]]:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("database down")
        return {"o/r": {"n": len(calls)}}

    cache = PrecisionCache(compute, ttl=60, clock=lambda: now[0])
    assert await cache.get() == {"o/r": {"n": 1}}  # the first scrape waits for it
    now[0] = 59
    assert await cache.get() == {"o/r": {"n": 1}} and len(calls) == 1
    now[0] = 61
    assert await cache.get() == {"o/r": {"n": 1}}  # stale: served, refresh started
    await cache.warm()  # joins the refresh get() started (it runs already)
    assert await cache.get() == {"o/r": {"n": 2}} and len(calls) == 2
    now[0] = 200
    await cache.get()
    await cache.warm()
    assert len(calls) == 3  # the refresh ran, and failed
    assert await cache.get() == {"o/r": {"n": 2}}  # a failed refresh keeps the last value
    assert len(calls) == 3  # and waits a ttl before trying again
