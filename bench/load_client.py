"""The load generator of ``bench.service``: one run of one endpoint at one concurrency, in its own process.

    .venv/bin/python -m bench.load_client    # started by bench.service, not by hand

It runs apart from the server so that the server's CPU figures are the server's alone, and apart from the
benchmark's driver so that the driver's own work (sampling /proc, printing) never delays a request.

The driver talks to it over stdin/stdout, one JSON line at a time:

1. the driver writes the :class:`Plan`;
2. the client sends the warm-up requests (not counted) over a keep-alive pool of up to ``concurrency``
   connections (the warm-up opens ``min(concurrency, warmup)`` of them) and writes ``{"event": "warm"}``;
3. the driver samples the server's CPU and writes ``go``;
4. the client sends the measured requests and writes ``{"event": "done", ...}`` with the :class:`Outcome`;
5. the driver samples the CPU again, counts each worker's connections and writes ``bye``; the client exits.

A run ends after ``requests`` requests or ``max_seconds``, whichever comes first: against a slow DynamoDB
stand-in a fixed count could take tens of minutes. Requests still in flight at the deadline get
``grace_seconds`` to finish; those that do not are reported as unfinished.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import cycle
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Plan:
    url: str
    method: str
    headers: dict[str, str]
    #: Request bodies, used in order: the first ``warmup`` for the warm-up. Empty: requests without a body.
    bodies: list[str]
    concurrency: int
    requests: int
    warmup: int
    max_seconds: float
    warmup_seconds: float
    grace_seconds: float


@dataclass
class Outcome:
    """What the measured part of a run gave (the warm-up is left out)."""

    requests: int = 0
    seconds: float = 0.0
    #: Non-2xx answers by status, and exceptions by type name.
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    #: The run hit ``max_seconds`` before sending every request.
    stopped_at_deadline: bool = False
    #: Requests still unanswered ``grace_seconds`` after the deadline, abandoned.
    unfinished: int = 0
    #: This process's CPU seconds over the measured part: the load generator shares the machine's cores.
    client_cpu_seconds: float = 0.0


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    last_answer: float = 0.0


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def _one(session: aiohttp.ClientSession, plan: Plan, body: bytes | None, tally: _Tally) -> None:
    started = time.perf_counter()
    outcome: str | None
    try:
        async with session.request(plan.method, plan.url, data=body, headers=plan.headers) as response:
            await response.read()
            outcome = None if 200 <= response.status < 300 else str(response.status)
    except (aiohttp.ClientError, TimeoutError) as error:
        outcome = type(error).__name__
    tally.last_answer = time.perf_counter()
    tally.latencies.append(tally.last_answer - started)
    if outcome is not None:
        tally.errors[outcome] += 1


async def _drive(
    session: aiohttp.ClientSession,
    plan: Plan,
    bodies: Iterator[bytes | None],
    count: int,
    seconds: float,
    concurrency: int,
) -> tuple[_Tally, bool, int]:
    """Send ``count`` requests from ``concurrency`` loops, stopping new ones after ``seconds``.

    Returns the tally, whether the deadline stopped it, and how many requests were abandoned in flight.
    """
    tally = _Tally()
    deadline = time.perf_counter() + seconds
    remaining = count

    async def loop() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            await _one(session, plan, next(bodies), tally)

    tasks = [asyncio.create_task(loop()) for _ in range(concurrency)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + plan.grace_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    # Each loop still pending was waiting on exactly one request.
    return tally, remaining > 0, len(pending)


def _outcome(tally: _Tally, started: float, stopped: bool, unfinished: int, cpu: float) -> Outcome:
    ordered = sorted(tally.latencies)
    seconds = (tally.last_answer or started) - started
    return Outcome(
        requests=len(ordered),
        seconds=seconds,
        errors=dict(tally.errors),
        latency_ms={
            "p50": 1000 * percentile(ordered, 0.50),
            "p95": 1000 * percentile(ordered, 0.95),
            "p99": 1000 * percentile(ordered, 0.99),
            "max": 1000 * (ordered[-1] if ordered else 0.0),
            "mean": 1000 * sum(ordered) / len(ordered) if ordered else 0.0,
        },
        stopped_at_deadline=stopped,
        unfinished=unfinished,
        client_cpu_seconds=cpu,
    )


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def run(plan: Plan) -> None:
    encoded = [body.encode() for body in plan.bodies]
    bodies: Iterator[bytes | None] = cycle(encoded) if encoded else cycle([None])
    connector = aiohttp.TCPConnector(limit=plan.concurrency, limit_per_host=plan.concurrency)
    # Generous: a request slower than this is a failure worth seeing, not a hang of the benchmark.
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        warm, _, _ = await _drive(
            session, plan, bodies, plan.warmup, plan.warmup_seconds, min(plan.concurrency, plan.warmup)
        )
        _say({"event": "warm", "requests": len(warm.latencies), "errors": dict(warm.errors)})
        # The connections stay open (keep-alive) while the driver samples the CPU counters.
        if sys.stdin.readline().strip() != "go":
            return
        cpu, started = time.process_time(), time.perf_counter()
        tally, stopped, unfinished = await _drive(
            session, plan, bodies, plan.requests, plan.max_seconds, plan.concurrency
        )
        cpu = time.process_time() - cpu
        _say({"event": "done", **asdict(_outcome(tally, started, stopped, unfinished, cpu))})
        # The pool stays open until the driver has counted each worker's connections.
        sys.stdin.readline()


def main() -> None:
    plan = Plan(**json.loads(sys.stdin.readline()))
    asyncio.run(run(plan))


if __name__ == "__main__":
    main()
