"""Benchmark the scoring service as operators run it: requests/s, latency, errors and CPU per endpoint.

    .venv/bin/python -m bench.service [--workers 2] [--max-batch-rows 256] [--concurrency 1,16,64,256]
                                      [--requests 2000] [--out .bench/service.json]

Run it as a module from the repository root (see bench/load_customers.py for why).

1. Starts its own local endpoints on free ports (DynamoDB Local, moto for S3), creates the buckets and
   tables, publishes the three built-in models (trained small, as the tests do) and stores
   ``--stored-customers`` existing customers.
2. The ceiling: a bare aiohttp handler (``bench.bare_app``) under gunicorn with the same worker class and
   count, driven like the service. It runs first, while nothing else is busy.
3. Starts ``creditscore serve`` and drives each scoring endpoint at each concurrency.
4. Prints a table per endpoint and writes every figure to ``--out``; stops every process it started.

The load comes from ``bench.load_client``, a process of its own with a pool of ``concurrency`` keep-alive
connections and a warm-up that is not counted. A run sends ``--requests`` requests (at most 500 at
concurrency 1) or stops sending after ``--max-seconds``, whichever comes first. Before each run the
benchmark waits (up to ``--settle-seconds``) for an idle machine, and runs again (``--busy-retries``) when
other processes kept the cores busy meanwhile, keeping the least disturbed attempt.

CPU is read from /proc (utime + stime) before and after each measured part: the service's figure sums the
gunicorn master's worker processes, ``ddb`` is the DynamoDB Local process (it shares the cores), the client
reports its own. ``cores busy``: ``ours`` adds the three up per second of the run
(near the machine's core count, the run was CPU-bound); ``other`` is what the rest of the machine used
meanwhile (/proc/stat), kernel network work and other people's processes alike: a run where it is high
(marked ``~``) says more about the neighbours than about the service. ``workers`` shows how the service CPU
and the client's connections split over the workers, which share one listening socket.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from boto3.dynamodb.types import TypeSerializer

from bench.load_client import Plan
from creditscore import aws
from creditscore.config import Settings, endpoint_environment, load_settings
from creditscore.domain.features import GROUPS, names
from creditscore.local_aws import ChildServer, LocalAws, LocalAwsError, free_port
from plugins.artifacts import code_version
from plugins.manager import scorer
from server.auth import new_key
from server.repository import decimals
from tests.factories import customers, publish_builtins

HOST: Final = "127.0.0.1"
ENV: Final = "bench"
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
#: Stored customers' national IDs start with 9; new applicants' never do (see Bodies.new_customer).
STORED_ID: Final = "9{:011d}"
# At concurrency 1 a run is latency-bound: 500 requests give stable percentiles in a fraction of the time.
SERIAL_REQUESTS: Final = 500
# DynamoDB's limit for one BatchWriteItem call.
BATCH_WRITE_ITEMS: Final = 25
ROW_POOL: Final = 500
WARMUP_SECONDS: Final = 10.0
GRACE_SECONDS: Final = 10.0
READY_SECONDS: Final = 120.0
# The service's own graceful stop waits up to CREDITSCORE_SHUTDOWN_SECONDS (30 s) for requests in flight.
STOP_SECONDS: Final = 45.0
# Idle: the watched processes used less than this share of one core over IDLE_WINDOW seconds.
IDLE_SHARE: Final = 0.2
IDLE_WINDOW: Final = 0.5
# Other processes keeping more than this many cores busy during a run make its figures suspect (marked ~).
BUSY_OTHERS: Final = 0.25
ALL_ENDPOINTS: Final = (
    "bare",
    "score-new",
    "score-existing",
    "new-customer",
    "existing-customer",
    "existing-by-email",
    "existing-by-phone",
    "history",
)
PEER: Final = "peer:"
#: The seed's endpoints, which the Flask + boto3 peer (--peer) serves too.
PEER_ENDPOINTS: Final = ("new-customer", "existing-customer", "existing-by-email", "existing-by-phone")


# --- options ---------------------------------------------------------------------------------------------


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _endpoint_list(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = set(chosen) - set(ALL_ENDPOINTS)
    if not chosen or unknown:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(ALL_ENDPOINTS)}, got {text!r}")
    return chosen


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--max-batch-rows", type=int, default=256, help="CREDITSCORE_MAX_BATCH_ROWS; 1 = no grouping"
    )
    parser.add_argument(
        "--inline-rows", type=int, default=8, help="CREDITSCORE_INLINE_ROWS; 0 = every call in the thread"
    )
    parser.add_argument("--concurrency", type=_int_list, default=[1, 16, 64, 256], help="e.g. 1,16,64,256")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per run")
    parser.add_argument("--warmup", type=int, default=50, help="uncounted requests before each run")
    parser.add_argument(
        "--max-seconds", type=float, default=20.0, help="a run stops sending after this many seconds"
    )
    parser.add_argument(
        "--settle-seconds", type=float, default=10.0, help="longest wait for an idle machine before a run"
    )
    parser.add_argument(
        "--busy-retries",
        type=int,
        default=1,
        help="run again when other processes kept more than a quarter core busy during a run",
    )
    parser.add_argument("--stored-customers", type=int, default=2000)
    parser.add_argument(
        "--endpoints", type=_endpoint_list, default=list(ALL_ENDPOINTS), help=",".join(ALL_ENDPOINTS)
    )
    parser.add_argument(
        "--peer", action="store_true", help="also drive the seed's endpoints on the Flask + boto3 peer"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(".bench/service.json"))
    return parser.parse_args(argv)


# --- processes and their CPU -----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in path.read_text().split()]
    except FileNotFoundError:
        return []


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (all its threads), None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    # The command name, in parentheses, may hold spaces: count fields after its closing one.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def sample(pids: Iterable[int]) -> dict[int, float]:
    return {pid: seconds for pid in pids if (seconds := cpu_seconds(pid)) is not None}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before[pid] for pid in before if pid in after)


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat: all but idle, iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user/nice]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        entries = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def connections(pids: Sequence[int], port: int) -> list[int]:
    """Established TCP connections to ``port`` that each process holds.

    Workers share one listening socket and each accepts what it can: the count tells how evenly the
    client's keep-alive connections, and so the load, spread over them.
    """
    established: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
            established.add(inode)
    return [len(_socket_inodes(pid) & established) for pid in pids]


def wait_idle(limit: float) -> float | None:
    """Wait until the whole machine is idle; the seconds waited, or None if it never was within ``limit``.

    The whole machine, not only our processes: DynamoDB Local works through requests a previous run
    abandoned, and other people's jobs may share the cores.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = machine_busy_seconds()
        time.sleep(IDLE_WINDOW)
        if machine_busy_seconds() - before < IDLE_SHARE * IDLE_WINDOW:
            return time.monotonic() - started
    return None


@dataclass
class Server:
    """A gunicorn master the benchmark started, and every worker pid it was seen with."""

    child: ChildServer
    port: int
    seen_workers: set[int] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def workers(self) -> list[int]:
        current = children(self.child.process.pid)
        self.seen_workers.update(current)
        return current


def start_server(
    what: str, command: list[str], env: dict[str, str], port: int, probe_path: str, log_path: Path
) -> Server:
    """Start a gunicorn master and wait until ``probe_path`` answers 200 (models loaded, for the service)."""
    log_path.unlink(missing_ok=True)
    child = ChildServer(what, command, f"http://{HOST}:{port}{probe_path}", log_path, env, READY_SECONDS)
    child.start()
    server = Server(child, port)
    server.workers()
    return server


def stop(server: Server) -> None:
    """SIGTERM (gunicorn's graceful stop), then wait; SIGKILL only if it does not end in time."""
    try:
        server.workers()
    except LocalAwsError:
        return  # already stopped
    server.child.stop(STOP_SECONDS)


# --- setup -----------------------------------------------------------------------------------------------


def bench_settings(local: LocalAws) -> Settings:
    return local.settings(load_settings({"CREDITSCORE_ENV": ENV}))


def publish_small_models(local: LocalAws) -> Settings:
    """What every benchmark starts from: the bench's tables and buckets on ``local``'s endpoints, and the
    three built-in models trained small (3,000 synthetic customers) and made current."""
    settings = bench_settings(local)
    aws.bootstrap(settings)
    print("Training the three built-in models small (3,000 synthetic customers) and publishing", flush=True)
    publish_builtins(settings, customers(3000, seed=5))
    return settings


def _batch_write(dynamodb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending = {table: requests}
    for attempt in range(10):
        pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(0.05 * 2**attempt)
    raise RuntimeError(f"BatchWriteItem kept leaving items unprocessed in {table}")


def store_customers(settings: Settings, count: int, seed: int) -> list[str]:
    """``count`` customers as ``load-customers`` writes them (identity plus one map per feature group)."""
    frame = customers(count, seed=seed)
    groups = {group: frame[names(group)].to_dict("records") for group in GROUPS}
    serializer = TypeSerializer()
    dynamodb = aws.client("dynamodb", settings)
    ids = [STORED_ID.format(n) for n in range(count)]
    for start in range(0, count, BATCH_WRITE_ITEMS):
        requests = []
        for n in range(start, min(start + BATCH_WRITE_ITEMS, count)):
            item = {
                "national_id": ids[n],
                "full_name": f"Stored Customer {n}",
                "email": f"stored{n}@example.com",
                "phone_number": f"09{n:08d}",
                **{group: groups[group][n] for group in GROUPS},
                "features_as_of": "2026-09-30",
                "snapshot": "2026-10-01",
            }
            serialized = {key: serializer.serialize(value) for key, value in decimals(item).items()}
            requests.append({"PutRequest": {"Item": serialized}})
        _batch_write(dynamodb, settings.customers_table, requests)
        if (start + BATCH_WRITE_ITEMS) % 500 == 0 or start + BATCH_WRITE_ITEMS >= count:
            print(f"  stored {min(start + BATCH_WRITE_ITEMS, count):,} / {count:,}", flush=True)
    return ids


class Bodies:
    """Request bodies for each endpoint: new applicants never seen before, stored customers at random,
    feature rows from a synthetic table."""

    def __init__(self, settings: Settings, stored_ids: Sequence[str], seed: int) -> None:
        self.rng = random.Random(seed)
        self.stored_ids = list(stored_ids)
        self.batches = itertools.count(1)
        frame = customers(ROW_POOL, seed=seed + 1)
        new_features = scorer(settings.new_customer_model).features
        existing_features = sorted(
            {name for model, _ in settings.existing_customer_models for name in scorer(model).features}
        )
        self.new_rows = frame[list(new_features)].to_dict("records")
        self.existing_rows = frame[existing_features].to_dict("records")

    def new_customer(self, count: int) -> list[str]:
        # A batch number in the first four digits keeps national IDs distinct across runs (and off 9...).
        batch = next(self.batches)
        return [
            json.dumps(
                {
                    "full_name": f"Applicant {batch}-{n}",
                    "national_id": f"{batch:04d}{n:08d}",
                    "email": f"applicant{batch}.{n}@example.com",
                    "phone_number": f"08{(batch * 10**6 + n) % 10**8:08d}",
                    "income": round(self.rng.lognormvariate(16.5, 0.6)),
                    "savings": round(self.rng.lognormvariate(16.0, 1.0)),
                    "debt": round(self.rng.lognormvariate(15.5, 1.2)),
                    "cat_dependents": self.rng.choice(["Yes", "No"]),
                    "cat_mortgage": self.rng.choice(["Yes", "No"]),
                    "cat_savings_account": self.rng.random() < 0.5,
                    "cat_credit_card": self.rng.random() < 0.5,
                }
            )
            for n in range(count)
        ]

    def existing_customer(self, count: int) -> list[str]:
        return [json.dumps({"national_id": self.rng.choice(self.stored_ids)}) for _ in range(count)]

    def existing_by_email(self, count: int) -> list[str]:
        picks = (self.rng.randrange(len(self.stored_ids)) for _ in range(count))
        return [json.dumps({"email": f"stored{n}@example.com"}) for n in picks]

    def existing_by_phone(self, count: int) -> list[str]:
        picks = (self.rng.randrange(len(self.stored_ids)) for _ in range(count))
        return [json.dumps({"phone_number": f"09{n:08d}"}) for n in picks]

    def score_new(self, _count: int) -> list[str]:
        # The client cycles through the pool: score requests store nothing, repeating a row is fine.
        return [json.dumps({"segment": "new", "rows": [row]}) for row in self.new_rows]

    def score_existing(self, _count: int) -> list[str]:
        return [json.dumps({"segment": "existing", "rows": [row]}) for row in self.existing_rows]

    def none(self, _count: int) -> list[str]:
        return []


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    bodies: Callable[[int], list[str]]


def endpoints(bodies: Bodies) -> dict[str, Endpoint]:
    return {
        "bare": Endpoint("bare", "GET", "/", bodies.none),
        "score-new": Endpoint("score-new", "POST", "/api/v1/score", bodies.score_new),
        "score-existing": Endpoint("score-existing", "POST", "/api/v1/score", bodies.score_existing),
        "existing-customer": Endpoint(
            "existing-customer", "POST", "/api/v1/predict-existing-customer", bodies.existing_customer
        ),
        "existing-by-email": Endpoint(
            "existing-by-email", "POST", "/api/v1/predict-existing-customer", bodies.existing_by_email
        ),
        "existing-by-phone": Endpoint(
            "existing-by-phone", "POST", "/api/v1/predict-existing-customer", bodies.existing_by_phone
        ),
        "new-customer": Endpoint("new-customer", "POST", "/api/v1/predict-new-customer", bodies.new_customer),
        # One stored customer's first page: its records grow as the other runs score it.
        "history": Endpoint(
            "history", "GET", f"/api/v1/customers/{bodies.stored_ids[0]}/scores?limit=20", bodies.none
        ),
    }


# --- runs ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    endpoint: str
    method: str
    path: str
    concurrency: int
    planned_requests: int
    #: What the load client measured (bench.load_client.Outcome as a dict).
    outcome: dict[str, Any]
    warmup: dict[str, Any]
    service_cpu_seconds: float
    dynamodb_cpu_seconds: float
    #: CPU seconds the whole machine spent busy, whoever spent them: the rest is other processes' load.
    machine_cpu_seconds: float
    #: Each worker's CPU seconds and the client connections it held at the end, in the same order.
    worker_cpu_seconds: list[float]
    worker_connections: list[int]
    #: Seconds waited for the machine to go idle before the run; None: it did not within --settle-seconds.
    settled_after: float | None
    #: A worker was replaced during the run: its CPU is missing from the figure.
    workers_changed: bool

    def per_thousand(self, seconds: float) -> float | None:
        requests = int(self.outcome["requests"])
        return 1000 * seconds / requests if requests else None

    @property
    def ours_cpu_seconds(self) -> float:
        return (
            self.service_cpu_seconds + self.dynamodb_cpu_seconds + float(self.outcome["client_cpu_seconds"])
        )

    @property
    def cores_busy(self) -> float | None:
        """Cores the service, DynamoDB Local and the client kept busy on average during the run."""
        elapsed = float(self.outcome["seconds"])
        return self.ours_cpu_seconds / elapsed if elapsed > 0 else None

    @property
    def others_busy(self) -> float | None:
        """Cores that other processes on the machine kept busy meanwhile (they skew every figure)."""
        elapsed = float(self.outcome["seconds"])
        return max(0.0, self.machine_cpu_seconds - self.ours_cpu_seconds) / elapsed if elapsed > 0 else None


def _read_event(client: subprocess.Popen[str], expected: str) -> dict[str, Any]:
    assert client.stdout is not None
    line = client.stdout.readline()
    if not line:
        raise RuntimeError(f"the load client exited with code {client.wait()} before {expected!r}")
    message: dict[str, Any] = json.loads(line)
    if message.get("event") != expected:
        raise RuntimeError(f"the load client said {message!r}, expected {expected!r}")
    return message


def _tell(client: subprocess.Popen[str], text: str) -> None:
    assert client.stdin is not None
    client.stdin.write(text + "\n")
    client.stdin.flush()


def run_once(
    server: Server,
    endpoint: Endpoint,
    concurrency: int,
    requests: int,
    args: argparse.Namespace,
    dynamodb_pid: int,
) -> Run:
    # The bare handler takes no key; every route of the service but the open ones needs one.
    headers = {} if endpoint.name == "bare" else {"X-API-Key": args.api_key}
    if endpoint.method == "POST":
        headers["Content-Type"] = "application/json"
    plan = Plan(
        url=server.base + endpoint.path,
        method=endpoint.method,
        headers=headers,
        bodies=endpoint.bodies(args.warmup + requests),
        concurrency=concurrency,
        requests=requests,
        warmup=args.warmup,
        max_seconds=args.max_seconds,
        warmup_seconds=WARMUP_SECONDS,
        grace_seconds=GRACE_SECONDS,
    )
    settled = wait_idle(args.settle_seconds)
    client = subprocess.Popen(
        [sys.executable, "-m", "bench.load_client"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        _tell(client, json.dumps(asdict(plan)))
        warm = _read_event(client, "warm")
        workers = server.workers()
        before, machine_before = sample([*workers, dynamodb_pid]), machine_busy_seconds()
        _tell(client, "go")
        done = _read_event(client, "done")
        after, machine_after = sample([*workers, dynamodb_pid]), machine_busy_seconds()
        held = connections(workers, server.port)
        _tell(client, "bye")
        client.wait(30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    dynamodb_before = {dynamodb_pid: before.pop(dynamodb_pid, 0.0)}
    dynamodb_after = {dynamodb_pid: after.pop(dynamodb_pid, 0.0)}
    return Run(
        endpoint=endpoint.name,
        method=endpoint.method,
        path=endpoint.path,
        concurrency=concurrency,
        planned_requests=requests,
        outcome={key: value for key, value in done.items() if key != "event"},
        warmup={key: value for key, value in warm.items() if key != "event"},
        service_cpu_seconds=spent(before, after),
        dynamodb_cpu_seconds=spent(dynamodb_before, dynamodb_after),
        machine_cpu_seconds=machine_after - machine_before,
        worker_cpu_seconds=[after.get(pid, before[pid]) - before[pid] for pid in workers if pid in before],
        worker_connections=held,
        settled_after=settled,
        workers_changed=sorted(server.workers()) != sorted(workers) or set(before) != set(after),
    )


def run_endpoint(
    server: Server, endpoint: Endpoint, args: argparse.Namespace, dynamodb_pid: int
) -> list[Run]:
    runs = []
    for concurrency in args.concurrency:
        requests = min(args.requests, SERIAL_REQUESTS) if concurrency == 1 else args.requests
        print(
            f"  {endpoint.name:<17} concurrency {concurrency:>3}: {requests:,} requests…", end="", flush=True
        )
        runs.append(_least_disturbed(server, endpoint, concurrency, requests, args, dynamodb_pid))
    return runs


def _least_disturbed(
    server: Server,
    endpoint: Endpoint,
    concurrency: int,
    requests: int,
    args: argparse.Namespace,
    dynamodb_pid: int,
) -> Run:
    """Run once, and again (up to ``--busy-retries`` times) while other processes kept cores busy meanwhile;
    the attempt they disturbed least."""
    best: Run | None = None
    for attempt in range(args.busy_retries + 1):
        if attempt:
            print(f"  {'':<17} other processes were busy; again…", end="", flush=True)
        run = run_once(server, endpoint, concurrency, requests, args, dynamodb_pid)
        out = run.outcome
        print(
            f" {out['requests']:,} in {out['seconds']:.1f} s, {_rate(run)} req/s, "
            f"p99 {out['latency_ms']['p99']:.1f} ms, errors {_errors(run)}, "
            f"other processes {_number(run.others_busy, 2)} cores",
            flush=True,
        )
        if best is None or (run.others_busy or 0.0) < (best.others_busy or 0.0):
            best = run
        if (run.others_busy or 0.0) <= BUSY_OTHERS:
            break
    assert best is not None
    return best


# --- report ----------------------------------------------------------------------------------------------


def _rate(run: Run) -> str:
    seconds = float(run.outcome["seconds"])
    return f"{run.outcome['requests'] / seconds:,.0f}" if seconds > 0 else "-"


def _errors(run: Run) -> str:
    errors = dict(run.outcome["errors"])
    if run.outcome["unfinished"]:
        errors["unfinished"] = run.outcome["unfinished"]
    return ", ".join(f"{kind}×{count}" for kind, count in sorted(errors.items())) or "0"


def _split(run: Run) -> str:
    """Each worker's share of the service CPU in %, then the connections each held: "52/48 9/7"."""
    total = sum(run.worker_cpu_seconds)
    shares = "/".join(f"{100 * seconds / total:.0f}" if total else "-" for seconds in run.worker_cpu_seconds)
    return f"{shares} {'/'.join(map(str, run.worker_connections))}"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(runs: Sequence[Run]) -> str:
    header = (
        f"{'conc':>5} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'service':>8} {'ddb':>7} {'client':>7} {'ours':>5} {'other':>5} {'workers':>13}  errors"
    )
    units = f"{'':>56}{'CPU-s per 1,000 requests':^24}{'cores busy':>12} {'CPU% conns':>13}"
    lines = [units, header]
    for run in runs:
        out = run.outcome
        latency = out["latency_ms"]
        # * : the run stopped at --max-seconds before sending every request; ! : a worker was replaced;
        # ~ : other processes on the machine were busy meanwhile.
        marks = (
            ("*" if out["stopped_at_deadline"] else "")
            + ("!" if run.workers_changed else "")
            + ("~" if (run.others_busy or 0.0) > BUSY_OTHERS else "")
        )
        lines.append(
            f"{run.concurrency:>5} {str(out['requests']) + marks:>9} {_rate(run):>7} "
            f"{latency['p50']:>8.1f} {latency['p95']:>8.1f} {latency['p99']:>8.1f} "
            f"{_number(run.per_thousand(run.service_cpu_seconds), 2):>8} "
            f"{_number(run.per_thousand(run.dynamodb_cpu_seconds), 2):>7} "
            f"{_number(run.per_thousand(float(out['client_cpu_seconds'])), 2):>7} "
            f"{_number(run.cores_busy, 2):>5} {_number(run.others_busy, 2):>5} "
            f"{_split(run):>13}  {_errors(run)}"
        )
    return "\n".join(lines)


def versus_peer(runs: Sequence[Run]) -> str:
    """Ours beside the peer's, endpoint by endpoint and concurrency by concurrency: requests/s, p99, the
    server's CPU per request, and how many more requests a server core serves with ours."""
    lines = []
    for run in runs:
        peer = next(
            (p for p in runs if p.endpoint == PEER + run.endpoint and p.concurrency == run.concurrency), None
        )
        if peer is None:
            continue
        ours_ms, peer_ms = (
            run.per_thousand(run.service_cpu_seconds),
            peer.per_thousand(peer.service_cpu_seconds),
        )
        ratio = "-" if not ours_ms or peer_ms is None else f"{peer_ms / ours_ms:.1f}x"
        lines.append(
            f"{run.endpoint:<18} {run.concurrency:>5} {_rate(run):>7} {_rate(peer):>7} "
            f"{run.outcome['latency_ms']['p99']:>8.1f} {peer.outcome['latency_ms']['p99']:>8.1f} "
            f"{_number(ours_ms, 2):>7} {_number(peer_ms, 2):>7} {ratio:>9}  {_errors(run)} / {_errors(peer)}"
        )
    if not lines:
        return ""
    header = (
        f"{'versus the peer':<18} {'conc':>5} {'req/s':>7} {'peer':>7} {'p99 ms':>8} {'peer':>8} "
        f"{'CPU-ms':>7} {'peer':>7} {'per core':>9}  errors (ours / peer)"
    )
    return "\n".join([header, *lines])


def report(runs: Sequence[Run], args: argparse.Namespace) -> str:
    blocks = []
    for name in [*args.endpoints, *(PEER + name for name in PEER_ENDPOINTS)]:
        mine = [run for run in runs if run.endpoint == name]
        if not mine:
            continue
        what = (
            "bare aiohttp handler (the ceiling)"
            if name == "bare"
            else "Flask + boto3, sync workers (the seed's design)"
            if name.startswith(PEER)
            else f"max batch rows {args.max_batch_rows}"
        )
        blocks.append(
            f"{name}: {mine[0].method} {mine[0].path} — {args.workers} workers, {what}\n{table(mine)}"
        )
    if comparison := versus_peer(runs):
        blocks.append(comparison)
    notes = (
        f"Requests per run: {args.requests:,} (at concurrency 1: {min(args.requests, SERIAL_REQUESTS):,}), "
        f"after {args.warmup} uncounted warm-up requests; latency over every answered request.\n"
        f"* the run stopped sending after --max-seconds {args.max_seconds:g}; ! a worker was replaced; "
        f"~ other processes kept more than {BUSY_OTHERS} core busy.\n"
        "cores busy: ours = service + DynamoDB Local + client CPU per second of the run; other = the rest "
        "of the machine's.\n"
        "workers: each worker's share of the service CPU (%), then the client connections each held.\n"
        f"Machine: {os.cpu_count()} cores; service, DynamoDB Local and the load client all share them."
    )
    return "\n\n".join([*blocks, notes])


def write_json(path: Path, runs: Sequence[Run], args: argparse.Namespace, setup_seconds: float) -> None:
    options = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    options.pop("api_key", None)
    document = {
        "benchmark": "bench.service",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "options": options,
        "setup_seconds": setup_seconds,
        "runs": [
            {
                **asdict(run),
                "requests_per_second": run.outcome["requests"] / run.outcome["seconds"]
                if run.outcome["seconds"]
                else None,
                "cpu_seconds_per_1000": {
                    "service": run.per_thousand(run.service_cpu_seconds),
                    "dynamodb": run.per_thousand(run.dynamodb_cpu_seconds),
                    "client": run.per_thousand(float(run.outcome["client_cpu_seconds"])),
                },
                "cores_busy": run.cores_busy,
                "other_processes_cores_busy": run.others_busy,
            }
            for run in runs
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


# --- the servers -----------------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    # A caller's CREDITSCORE_* or Prometheus directory must not leak into the servers.
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CREDITSCORE_") and key != "PROMETHEUS_MULTIPROC_DIR"
    }


def service_env(
    settings: Settings, key_entry: str, max_batch_rows: int, inline_rows: int = 8
) -> dict[str, str]:
    return {
        **_clean_env(),
        "CREDITSCORE_PROJECT": settings.project,
        "CREDITSCORE_ENV": settings.env,
        **endpoint_environment(settings),
        "CREDITSCORE_AWS_REGION": settings.aws_region,
        "CREDITSCORE_MODELS_BUCKET": settings.models_bucket,
        "CREDITSCORE_CUSTOMERS_TABLE": settings.customers_table,
        "CREDITSCORE_SCORE_HISTORY_TABLE": settings.score_history_table,
        "CREDITSCORE_API_KEYS": key_entry,
        # One log line per request at INFO would make the benchmark measure logging.
        "CREDITSCORE_LOG_LEVEL": "WARNING",
        "CREDITSCORE_MAX_BATCH_ROWS": str(max_batch_rows),
        "CREDITSCORE_INLINE_ROWS": str(inline_rows),
    }


def start_service(settings: Settings, args: argparse.Namespace, key_entry: str, log_path: Path) -> Server:
    port = free_port()
    command = [
        sys.executable, "-m", "creditscore.cli", "serve", "--port", str(port), "--workers", str(args.workers)
    ]  # fmt: skip
    env = service_env(settings, key_entry, args.max_batch_rows, args.inline_rows)
    return start_server("creditscore serve", command, env, port, "/ready", log_path)


def start_bare(args: argparse.Namespace, log_path: Path) -> Server:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "bench.bare_app:app", "-k", "aiohttp.GunicornWebWorker",
        "-w", str(args.workers), "-b", f"{HOST}:{port}", "--keep-alive", "75", "--log-level", "warning",
    ]  # fmt: skip
    return start_server("bare gunicorn", command, _clean_env(), port, "/", log_path)


def start_peer(settings: Settings, args: argparse.Namespace, log_path: Path) -> Server:
    """The seed-style peer (bench.flask_peer): Flask + boto3 in gunicorn's sync workers, as many as ours."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "bench.flask_peer:app", "-k", "sync",
        "-w", str(args.workers), "-b", f"{HOST}:{port}", "--log-level", "warning",
    ]  # fmt: skip
    return start_server("Flask peer", command, service_env(settings, "", 1), port, "/health", log_path)


def drive(
    server: Server,
    chosen: Sequence[str],
    table_of: dict[str, Endpoint],
    args: argparse.Namespace,
    dynamodb_pid: int,
) -> list[Run]:
    runs = []
    for name in chosen:
        runs += run_endpoint(server, table_of[name], args, dynamodb_pid)
    return runs


def left_running(servers: Sequence[Server]) -> list[int]:
    """Every process this benchmark started that still exists: its own children, and every worker seen."""
    alive = set(children(os.getpid()))
    alive |= {pid for server in servers for pid in server.seen_workers if Path(f"/proc/{pid}").exists()}
    return sorted(alive)


def _exit_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit: by default they end Python without running the ``finally``
    that stops the servers (``timeout``, a closed terminal)."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    _exit_on_sigterm()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stem = args.out.with_suffix("")
    key, key_entry = new_key(["score"])
    args.api_key = key
    started = time.monotonic()
    local = LocalAws.on_free_ports(load_settings())
    servers: list[Server] = []
    runs: list[Run] = []
    try:
        local.start()
        dynamodb_pid = local.dynamodb.process.pid
        print(f"[1/5] DynamoDB Local on {local.dynamodb_endpoint_url} (pid {dynamodb_pid})", flush=True)
        print("[2/5] The bench's tables and buckets, and the built-in models", flush=True)
        settings = publish_small_models(local)
        print(f"[3/5] Storing {args.stored_customers:,} existing customers in {settings.customers_table}")
        stored = store_customers(settings, args.stored_customers, args.seed)
        table_of = endpoints(Bodies(settings, stored, args.seed))
        setup_seconds = time.monotonic() - started
        print(f"  setup took {setup_seconds:.0f} s", flush=True)
        if "bare" in args.endpoints:
            print(
                f"[4/5] The ceiling: bench.bare_app under gunicorn, {args.workers} aiohttp workers",
                flush=True,
            )
            bare = start_bare(args, Path(f"{stem}-bare.log"))
            servers.append(bare)
            runs += drive(bare, ["bare"], table_of, args, dynamodb_pid)
            stop(bare)
        chosen = [name for name in args.endpoints if name != "bare"]
        if chosen:
            print(
                f"[5/5] creditscore serve: {args.workers} workers, max batch rows {args.max_batch_rows}",
                flush=True,
            )
            service = start_service(settings, args, key_entry, Path(f"{stem}-serve.log"))
            servers.append(service)
            runs += drive(service, chosen, table_of, args, dynamodb_pid)
            stop(service)
        against = [name for name in chosen if name in PEER_ENDPOINTS] if args.peer else []
        if against:
            print(f"[peer] Flask + boto3, {args.workers} gunicorn sync workers, the same models and tables")
            peer = start_peer(settings, args, Path(f"{stem}-peer.log"))
            servers.append(peer)
            table_of |= {PEER + name: replace(table_of[name], name=PEER + name) for name in against}
            runs += drive(peer, [PEER + name for name in against], table_of, args, dynamodb_pid)
            stop(peer)
    finally:
        for server in servers:
            stop(server)
        local.stop()
        left = left_running(servers)
        print(f"Processes left running: {', '.join(map(str, left)) or 'none'}", flush=True)
    print()
    print(report(runs, args))
    write_json(args.out, runs, args, setup_seconds)
    print(f"\nWritten to {args.out} (logs beside it: {stem.name}-*.log)")


if __name__ == "__main__":
    main(sys.argv[1:])
