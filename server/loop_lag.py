"""A watch on the worker's event loop: how late a timer fires is how long every request on the worker
stood still (a model call on the loop, a garbage collection, anything that blocks), measured where it
happens instead of guessed from latency percentiles. Each check lands in
``creditscore_event_loop_lag_seconds``; the alert rules and the benchmark read the same histogram.
"""

from __future__ import annotations

import asyncio

from server import metrics


async def watch(interval: float) -> None:
    """Sleep ``interval`` over and over and record how much longer each sleep took; runs until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval)
        metrics.EVENT_LOOP_LAG.observe(max(loop.time() - started - interval, 0.0))
