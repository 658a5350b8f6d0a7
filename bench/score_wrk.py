"""``/api/v1/score`` against the bare aiohttp handler, driven by wrk, side by side in one run.

    .venv/bin/python -m bench.score_wrk [--connections 16,64] [--seconds 15] [--workers 1,2]

Each server runs pinned to core 0 (``taskset``), wrk on core 1 with a Lua script that cycles 64 one-row
bodies, so the figures are one core's worth of service against one core's worth of ceiling. The ceiling
is ``bench.bare_app`` (a JSON ``{"status": "ok"}`` handler, no middleware) under the same gunicorn and
aiohttp worker as the service. Two service workers run unpinned (both cores, wrk sharing them), to show how
the service scales with workers.

Per run it prints requests/s, p50/p99 from wrk's latency distribution, non-2xx answers, CPU-ms per request
of the server's workers (utime + stime from /proc), and the event-loop stalls the service counted
(``creditscore_event_loop_lag_seconds``, read from its ``/metrics`` before and after the run): the longest
lag bucket reached and how many checks lagged more than 20 ms.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from bench.service import (
    HOST,
    Bodies,
    Server,
    _clean_env,
    cpu_seconds,
    publish_small_models,
    service_env,
    start_server,
    stop,
)
from creditscore.config import load_settings
from creditscore.local_aws import LocalAws, free_port
from server.auth import new_key

BODIES: Final = 64
SERVER_CORE: Final = "0"
CLIENT_CORE: Final = "1"
STALL_SECONDS: Final = 0.02
_LAG_BUCKET: Final = re.compile(r'^creditscore_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', re.M)
_UNITS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    server: str
    workers: int
    connections: int
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    cpu_ms: float
    #: Loop-lag checks over 20 ms during the run, and the upper edge of the worst bucket (None: bare).
    stalls: int | None = None
    worst_lag_ms: float | None = None


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> tuple[int, float, float, float, int]:
    """Requests, requests/s, p50 and p99 in ms, and non-2xx answers, from ``wrk --latency``'s report."""
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return requests, rate, p50, p99, int(errors.group(1)) if errors else 0


def lag_buckets(base: str) -> dict[float, float]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:  # noqa: S310 (loopback)
        text = response.read().decode()
    return {float(edge): float(count) for edge, count in _LAG_BUCKET.findall(text)}


def lua_script(path: Path, method: str, url_path: str, bodies: list[str], key: str) -> None:
    quoted = ",\n".join(json.dumps(body) for body in bodies) if bodies else ""
    path.write_text(
        f"""local bodies = {{{quoted}}}
local headers = {{["Content-Type"] = "application/json", ["X-API-Key"] = "{key}"}}
local i = 0
request = function()
  if #bodies == 0 then return wrk.format("{method}", "{url_path}") end
  i = i % #bodies + 1
  return wrk.format("{method}", "{url_path}", headers, bodies[i])
end
"""
    )


def run_wrk(
    server: Server, name: str, workers: int, connections: int, seconds: int, script: Path, pin: bool
) -> Result:
    pids = server.workers()
    lag_before = lag_buckets(server.base) if name != "bare" else {}
    cpu_before = {pid: cpu_seconds(pid) or 0.0 for pid in pids}
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), server.base]
    if pin:
        command = ["taskset", "-c", CLIENT_CORE, *command]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = sum((cpu_seconds(pid) or 0.0) - cpu_before[pid] for pid in pids)
    requests, rate, p50, p99, non_2xx = parse_wrk(output)
    result = Result(name, workers, connections, requests, rate, p50, p99, non_2xx, 1000 * cpu / requests)
    if name != "bare":
        after = lag_buckets(server.base)
        grew = {edge: after[edge] - lag_before.get(edge, 0.0) for edge in after}
        total = grew.get(float("inf"), 0.0)
        result.stalls = int(total - max((c for e, c in grew.items() if e <= STALL_SECONDS), default=0.0))
        # The smallest bucket holding every check of the run: the worst lag is at most its edge.
        result.worst_lag_ms = 1000 * (min(e for e in grew if grew[e] >= total) if total else 0.0)
    return result


def _pinned(command: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", SERVER_CORE, *command] if pin else command


def start_bare(workers: int, pin: bool, log: Path) -> Server:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "bench.bare_app:app", "-k", "aiohttp.GunicornUVLoopWebWorker",
        "-w", str(workers), "-b", f"{HOST}:{port}", "--keep-alive", "75", "--log-level", "warning",
    ]  # fmt: skip
    return start_server("bare gunicorn", _pinned(command, pin), _clean_env(), port, "/", log)


def start_service(env: dict[str, str], workers: int, pin: bool, log: Path) -> Server:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "creditscore.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return start_server("creditscore serve", _pinned(command, pin), env, port, "/ready", log)


def table(results: list[Result]) -> str:
    bare = {(r.workers, r.connections): r.rate for r in results if r.server == "bare"}
    lines = [
        "server    workers  conns    req/s  of bare  p50 ms  p99 ms  CPU-ms/req  non-2xx  loop stalls >20ms"
        "  worst lag ms",
    ]
    for r in results:
        ceiling = bare.get((r.workers, r.connections))
        share = f"{100 * r.rate / ceiling:5.0f} %" if ceiling else "    –  "
        stalls = "–" if r.stalls is None else str(r.stalls)
        worst = "–" if r.worst_lag_ms is None else f"≤{r.worst_lag_ms:g}"
        lines.append(
            f"{r.server:<9} {r.workers:>7} {r.connections:>6} {r.rate:>8,.0f}  {share}  {r.p50_ms:>6.1f}"
            f"  {r.p99_ms:>6.1f}  {r.cpu_ms:>10.3f}  {r.non_2xx:>7}  {stalls:>17}  {worst:>12}"
        )
    return "\n".join(lines)


def scaling(results: list[Result]) -> str:
    """Requests/s of the most workers over one worker's, per connection count, for the service."""
    rates = {(r.workers, r.connections): r.rate for r in results if r.server == "service"}
    most = max((workers for workers, _ in rates), default=1)
    return "\n".join(
        f"service, {most} workers over 1 at {conns} connections: {rates[most, conns] / rates[1, conns]:.2f}x"
        for workers, conns in sorted(rates)
        if workers == 1 and most > 1 and (most, conns) in rates
    )


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=_ints, default=[16, 64])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=_ints, default=[1, 2], help="1 = pinned; more = unpinned")
    parser.add_argument(
        "--log-level", default="WARNING", help="the service's; INFO logs a line per request (default: off)"
    )
    parser.add_argument("--access-log-sample", default="1", help="CREDITSCORE_ACCESS_LOG_SAMPLE")
    parser.add_argument("--max-batch-rows", type=int, default=256, help="CREDITSCORE_MAX_BATCH_ROWS")
    parser.add_argument("--inline-rows", type=int, default=8, help="CREDITSCORE_INLINE_ROWS")
    parser.add_argument(
        "--servers",
        default="bare,service",
        help="of bare, service (POST /api/v1/score), health (its GET /health)",
    )
    parser.add_argument("--out", type=Path, default=Path(".bench/score-wrk.json"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stem = args.out.with_suffix("")
    key, entry = new_key(["score"])
    local = LocalAws.on_free_ports(load_settings())
    results: list[Result] = []
    servers: list[Server] = []
    work = Path(tempfile.mkdtemp(prefix="score-wrk-"))
    try:
        local.start()
        settings = publish_small_models(local)
        bodies = Bodies(settings, [], seed=7).score_new(0)[:BODIES]
        lua_script(work / "bare.lua", "GET", "/", [], key)
        lua_script(work / "service.lua", "POST", "/api/v1/score", bodies, key)
        # The service's fixed cost alone: every middleware, metric and log line, no body, no model.
        lua_script(work / "health.lua", "GET", "/health", [], key)
        env = service_env(settings, entry, args.max_batch_rows, args.inline_rows) | {
            "CREDITSCORE_LOG_LEVEL": args.log_level,
            "CREDITSCORE_ACCESS_LOG_SAMPLE": args.access_log_sample,
        }
        for workers in args.workers:
            pin = workers == 1
            for name in args.servers.split(","):
                if name == "bare":
                    server = start_bare(workers, pin, Path(f"{stem}-bare.log"))
                else:
                    server = start_service(env, workers, pin, Path(f"{stem}-{name}.log"))
                servers.append(server)
                script = work / f"{name}.lua"
                # A short warm-up: the first requests pay for lazy imports and allocations.
                run_wrk(server, name, workers, 16, 2, script, pin)
                for connections in args.connections:
                    result = run_wrk(server, name, workers, connections, args.seconds, script, pin)
                    print(table([result]).splitlines()[1], flush=True)
                    results.append(result)
                stop(server)
    finally:
        for server in servers:
            stop(server)
        local.stop()
    print()
    print(table(results))
    print(scaling(results))
    args.out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(f"\nWritten to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
