"""Soak: the seed's mixed workload for minutes at a steady share of the measured peak, watching for errors,
a p99 that drifts and memory that grows.

    .venv/bin/python -m bench.soak [--minutes 10] [--share 0.8] [--workers 2] [--out .bench/soak.json]

Run it as a module from the repository root (see bench/load_customers.py for why).

1. Starts its own local endpoints (DynamoDB Local, moto), publishes the three built-in models (trained small)
   and stores ``--stored-customers`` customers, then ``creditscore serve`` with ``--workers`` workers.
2. Peak: the mix, closed loop at ``--peak-concurrency`` connections for ``--peak-seconds``: requests/s.
3. Soak: the mix, open loop at ``--share`` of that rate (a request every 1/rate seconds, whatever the
   answers do, as real clients behave) for ``--minutes``. Each minute prints requests, errors by status,
   p50/p99 and the resident memory of each worker and of DynamoDB Local.

The mix (weights): a new applicant 20, an existing customer by national ID 30, by email 10, by phone 10, the
score history 10, one stateless row (new segment) 20. Pass: 0 errors, the p99 of every minute within 2x of
the first full minute's, every worker's resident memory grown under 10 % from the end of the first minute
(after warm-up) to the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp

from bench.load_client import percentile
from bench.service import Bodies, Server, publish_small_models, start_service, stop, store_customers
from creditscore.config import load_settings
from creditscore.local_aws import LocalAws
from server.auth import new_key

# (name, weight, method, path): the seed's clients mostly score stored customers.
MIX: Final = (
    ("new-customer", 20, "POST", "/api/v1/predict-new-customer"),
    ("existing-by-id", 30, "POST", "/api/v1/predict-existing-customer"),
    ("existing-by-email", 10, "POST", "/api/v1/predict-existing-customer"),
    ("existing-by-phone", 10, "POST", "/api/v1/predict-existing-customer"),
    ("history", 10, "GET", "/api/v1/customers/{national_id}/scores"),
    ("score-new", 20, "POST", "/api/v1/score"),
)
# Open-loop requests outstanding at most: beyond it the service is not keeping up and the soak says so.
MAX_OUTSTANDING: Final = 1024
WINDOW_SECONDS: Final = 60.0


@dataclass
class Window:
    started: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    rss_mb: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "requests": len(ordered),
            "errors": dict(self.errors),
            "p50_ms": round(percentile(ordered, 0.5), 1),
            "p99_ms": round(percentile(ordered, 0.99), 1),
            "rss_mb": self.rss_mb,
        }


class Mix:
    """Request makers for the mix, drawing stored customers and rows from ``Bodies``."""

    def __init__(self, bodies: Bodies, stored: list[str], seed: int) -> None:
        self.rng = random.Random(seed)
        self.bodies = bodies
        self.stored = stored
        self.new_pool: list[str] = []
        self.rows = bodies.score_new(0)
        self.names = [name for name, _, _, _ in MIX]
        self.weights = [weight for _, weight, _, _ in MIX]
        self.routes = {name: (method, path) for name, _, method, path in MIX}

    def next(self) -> tuple[str, str, str, bytes | None]:
        name = self.rng.choices(self.names, self.weights)[0]
        method, path = self.routes[name]
        index = self.rng.randrange(len(self.stored))
        national_id = self.stored[index]
        body: Any
        if name == "new-customer":
            if not self.new_pool:
                self.new_pool = self.bodies.new_customer(500)
            return name, method, path, self.new_pool.pop().encode()
        if name == "history":
            return name, method, path.format(national_id=national_id), None
        if name == "score-new":
            return name, method, path, self.rng.choice(self.rows).encode()
        body = {
            "existing-by-id": {"national_id": national_id},
            "existing-by-email": {"email": f"stored{index}@example.com"},
            "existing-by-phone": {"phone_number": f"09{index:08d}"},
        }[name]
        return name, method, path, json.dumps(body).encode()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _send(
    session: aiohttp.ClientSession,
    base: str,
    request: tuple[str, str, str, bytes | None],
    record: Callable[..., None],
) -> None:
    _, method, path, body = request
    started = time.perf_counter()
    try:
        async with session.request(method, base + path, data=body) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        record(time.perf_counter() - started, type(error).__name__)
        return
    record(time.perf_counter() - started, None if status < 400 else str(status))


async def peak(base: str, headers: dict[str, str], mix: Mix, concurrency: int, seconds: float) -> float:
    """Requests/s of the mix, closed loop at ``concurrency`` connections."""
    done = 0
    deadline = time.monotonic() + seconds
    errors: Counter[str] = Counter()

    def record(_: float, error: str | None) -> None:
        nonlocal done
        done += 1
        if error:
            errors[error] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:

        async def loop() -> None:
            while time.monotonic() < deadline:
                await _send(session, "", mix.next(), record)

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
    rate = done / (time.monotonic() - started)
    print(f"peak: {rate:,.0f} requests/s at {concurrency} connections ({done:,} requests)")
    print(f"  errors during the peak run (it may push past the cap): {dict(errors)}")
    return rate


async def soak(
    base: str, headers: dict[str, str], mix: Mix, rate: float, minutes: float, pids: dict[str, int]
) -> list[Window]:
    windows: list[Window] = []
    outstanding: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    end = started + minutes * 60

    def record(latency: float, error: str | None) -> None:
        window = windows[-1]
        window.latencies.append(latency * 1000)
        if error:
            window.errors[error] += 1

    connector = aiohttp.TCPConnector(limit=MAX_OUTSTANDING)
    async with aiohttp.ClientSession(base, headers=headers, connector=connector) as session:
        windows.append(Window(started))
        sent = 0
        while (now := time.monotonic()) < end:
            if now - windows[-1].started >= WINDOW_SECONDS:
                windows[-1].rss_mb = {name: round(rss_mb(pid), 1) for name, pid in pids.items()}
                print(f"  minute {len(windows):>2}: {json.dumps(windows[-1].summary())}", flush=True)
                windows.append(Window(now))
            due = started + sent / rate
            if due > now:
                await asyncio.sleep(due - now)
                continue
            if len(outstanding) >= MAX_OUTSTANDING:
                windows[-1].errors["client-backlog"] += 1
            else:
                task = asyncio.create_task(_send(session, "", mix.next(), record))
                outstanding.add(task)
                task.add_done_callback(outstanding.discard)
            sent += 1
        await asyncio.gather(*outstanding)
    windows[-1].rss_mb = {name: round(rss_mb(pid), 1) for name, pid in pids.items()}
    print(f"  minute {len(windows):>2}: {json.dumps(windows[-1].summary())}", flush=True)
    return windows


def verdict(windows: list[Window]) -> dict[str, Any]:
    full = [w for w in windows if len(w.latencies) > 0]
    errors = sum(sum(w.errors.values()) for w in full)
    first, last = full[0], full[-1]
    p99s = [w.summary()["p99_ms"] for w in full[:-1] or full]
    growth = {
        name: round(100 * (last.rss_mb[name] / first.rss_mb[name] - 1), 1)
        for name in first.rss_mb
        if first.rss_mb.get(name)
    }
    workers_ok = all(value < 10 for name, value in growth.items() if name.startswith("worker"))
    return {
        "errors": errors,
        "p99_ms_first_last_max": [p99s[0], p99s[-1], max(p99s)],
        "p99_steady": max(p99s) <= 2 * p99s[0],
        "rss_growth_percent": growth,
        # DynamoDB Local holds the data in memory: it grows with every customer and record the soak writes.
        "workers_rss_under_10_percent": workers_ok,
        "passed": errors == 0 and max(p99s) <= 2 * p99s[0] and workers_ok,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--share", type=float, default=0.8, help="share of the measured peak to hold")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-batch-rows", type=int, default=256)
    parser.add_argument("--inline-rows", type=int, default=8)
    parser.add_argument("--stored-customers", type=int, default=2000)
    parser.add_argument("--peak-concurrency", type=int, default=64)
    parser.add_argument("--peak-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(".bench/soak.json"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    key, key_entry = new_key(["score"])
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    local = LocalAws.on_free_ports(load_settings())
    service: Server | None = None
    try:
        local.start()
        settings = publish_small_models(local)
        stored = store_customers(settings, args.stored_customers, args.seed)
        service = start_service(settings, args, key_entry, args.out.with_suffix(".serve.log"))
        pids = {f"worker-{n}": pid for n, pid in enumerate(sorted(service.workers()))}
        pids["dynamodb-local"] = local.dynamodb.process.pid
        mix = Mix(Bodies(settings, stored, args.seed), stored, args.seed)
        rate = asyncio.run(peak(service.base, headers, mix, args.peak_concurrency, args.peak_seconds))
        target = args.share * rate
        print(f"soak: {target:,.0f} requests/s ({args.share:.0%} of the peak) for {args.minutes:g} minutes")
        windows = asyncio.run(soak(service.base, headers, mix, target, args.minutes, pids))
        if sorted(service.workers()) != sorted(
            pid for name, pid in pids.items() if name.startswith("worker")
        ):
            print("a worker was replaced during the soak", file=sys.stderr)
    finally:
        if service is not None:
            stop(service)
        local.stop()
    result = verdict(windows)
    print(json.dumps(result, indent=2))
    args.out.write_text(
        json.dumps(
            {"peak_rps": rate, "target_rps": target, "windows": [w.summary() for w in windows], **result},
            indent=2,
        )
    )
    print(f"Written to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
