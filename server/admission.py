"""Who gets in: a cap on the requests a worker holds at once, and a token bucket per API key.

Overload is shed, not queued into timeouts: past ``CREDITSCORE_MAX_IN_FLIGHT`` scoring requests in a
worker, the next is answered 503 with ``Retry-After`` at once, while it costs next to nothing, instead of
joining a queue whose every member will miss its deadline. Liveness, readiness and the metrics are never
shed: a busy host is still alive, and the load balancer and Prometheus must be able to see it.

A key whose configuration gives it a rate (``sha256:scopes:name:RATE[/BURST]``, requests per second per
worker) draws a token per request from its own bucket; an empty bucket is 429 with ``Retry-After``. One
client's burst so spends only that client's tokens, and the others are served as before.

Both run on the event loop without awaiting between reading and updating their counts, so no lock is
needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from creditscore.config import ApiKey


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class Admission:
    max_in_flight: int
    clock: Callable[[], float] = time.monotonic
    in_flight: int = 0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def enter(self) -> bool:
        """Take a place among the requests in flight; False (take nothing) when none is left."""
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def wait_for_token(self, key: ApiKey) -> float:
        """Take one of ``key``'s tokens: 0 when taken (or the key has no rate), else the seconds until
        one is there (nothing taken)."""
        if key.rate <= 0:
            return 0.0
        now = self.clock()
        bucket = self._buckets.setdefault(key.key_id, _Bucket(key.burst, now))
        bucket.tokens = min(key.burst, bucket.tokens + (now - bucket.stamp) * key.rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / key.rate


def retry_after(seconds: float) -> dict[str, str]:
    """The ``Retry-After`` header for a wait of ``seconds`` (whole seconds, at least 1)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
