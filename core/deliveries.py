"""Which webhook deliveries Steward accepted, remembered in Redis by delivery id.

The receiver (``app/web.py``) sets :func:`delivery_key` with ``SET NX`` when it queues
a delivery's jobs, and forgets it again when the broker refuses them; the recovery of
missed deliveries (``workers/deliveries``) reads the same keys through
:func:`accepted` to tell a delivery Steward has from one it never got.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis


def delivery_key(delivery_id: str) -> str:
    """Redis key remembering a delivery id (``X-GitHub-Delivery``)."""
    return f"steward:delivery:{delivery_id}"


async def accepted(redis: aioredis.Redis, delivery_ids: Sequence[str]) -> set[str]:
    """The ids among ``delivery_ids`` whose jobs Steward queued (one round trip)."""
    if not delivery_ids:
        return set()
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in delivery_ids:
            pipe.exists(delivery_key(delivery_id))
        found = await pipe.execute()
    return {d for d, exists in zip(delivery_ids, found, strict=True) if exists}
