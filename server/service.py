"""What a worker process holds while it serves: settings, the model registry, the DynamoDB repository, the
scoring rules, the dashboard's score counts and the stability monitor, built by the app's cleanup context
and reached by handlers through ``request.app``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

from creditscore.config import Settings
from server.model_registry import ModelRegistry
from server.repository import CustomerRepository, RepositoryError
from server.score_stats import ScoreStats
from server.scoring import Scoring
from server.stability import StabilityMonitor


@dataclass
class Service:
    settings: Settings
    registry: ModelRegistry
    repository: CustomerRepository
    scoring: Scoring
    stats: ScoreStats
    #: Each served version's live population against its training reference (PSI and CSI).
    stability: StabilityMonitor
    # (monotonic time, answer) of the last DynamoDB probe: readiness is polled by every load balancer
    # target check, and DescribeTable is a rate-limited control-plane call.
    _probe: tuple[float, str] = field(default=(-1e9, ""), repr=False)

    async def dynamodb_status(self) -> str:
        """ "ok", or why DynamoDB does not answer; probed at most once per :data:`PROBE_SECONDS`."""
        checked_at, answer = self._probe
        if time.monotonic() - checked_at < PROBE_SECONDS:
            return answer
        try:
            # A load balancer's health check gives up after seconds: so does the probe.
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                await self.repository.ping()
            answer = "ok"
        except RepositoryError as error:
            answer = str(error)
        except TimeoutError:
            answer = f"DynamoDB did not answer within {PROBE_TIMEOUT_SECONDS:g} s"
        self._probe = (time.monotonic(), answer)
        return answer


PROBE_SECONDS: Final = 2.0
PROBE_TIMEOUT_SECONDS: Final = 2.0
SERVICE: Final = web.AppKey("service", Service)


def service(request: web.Request) -> Service:
    return request.app[SERVICE]
