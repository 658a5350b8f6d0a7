"""Benchmark the online-store loader against DynamoDB Local: items, seconds and items/s per pool size and
per transaction size.

    .venv/bin/python -m bench.load_customers --customers 20000 --workers 1 4 8 --per-transaction 8

Run it as a module from the repository root: run as a path, bench/ comes first on sys.path and a sibling
script named like a package (bench/etl.py) would shadow that package.

Starts its own local endpoints (DynamoDB Local, moto for S3) on free ports, writes a synthetic snapshot
(random feature values) into the cleaned bucket, then loads it once per ``--workers`` and
``--per-transaction`` pair into a fresh table, and (unless ``--no-reload``) once more into the same table,
as a nightly run of the next snapshot would: every item and guard is then already there. The "prepare"
line is the CPU floor of a load: reading, validating and serialising the snapshot and building its
transactions without writing anything. Each load's time includes its count check, timed again on its own so
the write rate can be read apart.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from creditscore import aws
from creditscore.config import Settings, load_settings
from creditscore.domain.features import FEATURES, LABEL
from creditscore.local_aws import LocalAws
from creditscore.logs import configure_logging
from etl.customer_writes import CUSTOMERS_PER_TRANSACTION, Attempt, Target
from etl.load_customers import (
    LoadSummary,
    count_snapshot_items,
    customer_groups,
    features_prefix,
    identity_prefix,
    load_customers,
    numbered,
    read_snapshot,
    shared_contacts,
)

SNAPSHOT = "2026-11-27"
_COUNT_UNITS = ("count", "0/1", "days")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 8], help="pool sizes to compare")
    parser.add_argument(
        "--per-transaction",
        type=int,
        nargs="+",
        default=[CUSTOMERS_PER_TRANSACTION],
        help="customers per TransactWriteItems to compare",
    )
    parser.add_argument("--no-reload", action="store_true", help="skip the second load into the same table")
    parser.add_argument("--parts", type=int, default=4, help="parquet parts per table, as Spark would write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--progress", action="store_true", help="show the loader's progress bar")
    return parser.parse_args(argv)


def _tables(customers: int, seed: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)
    ids = [f"{n:012d}" for n in rng.choice(10**12, size=customers, replace=False)]
    features: dict[str, Any] = {"national_id": ids}
    for feature in FEATURES:
        if feature.unit in _COUNT_UNITS:
            features[feature.name] = rng.integers(0, 30, customers)
        else:
            features[feature.name] = rng.lognormal(10, 3, customers) * rng.choice([-1.0, 1.0], customers)
    features[LABEL] = rng.integers(0, 2, customers)
    features["features_as_of"] = [SNAPSHOT] * customers
    identity = {
        "national_id": ids,
        "full_name": [f"Customer {n}" for n in range(customers)],
        "email": [f"customer{n}@example.com" for n in range(customers)],
        "phone_number": [f"+8490{n:07d}" for n in range(customers)],
    }
    return pa.table(features), pa.table(identity)


def _write(s3: Any, bucket: str, prefix: str, table: pa.Table, parts: int) -> None:
    rows = -(-table.num_rows // parts)
    for part in range(parts):
        buffer = io.BytesIO()
        pq.write_table(table.slice(part * rows, rows), buffer)
        s3.put_object(Bucket=bucket, Key=f"{prefix}part-{part:05d}.parquet", Body=buffer.getvalue())
    s3.put_object(Bucket=bucket, Key=f"{prefix}_SUCCESS", Body=b"")


def _prepared(settings: Settings, args: argparse.Namespace) -> Settings:
    aws.bootstrap(settings)
    s3 = aws.client("s3", settings)
    features, identity = _tables(args.customers, args.seed)
    _write(s3, settings.cleaned_bucket, features_prefix(SNAPSHOT), features, args.parts)
    _write(s3, settings.cleaned_bucket, identity_prefix(SNAPSHOT), identity, args.parts)
    return settings


def _prepare_seconds(settings: Settings) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        customers = read_snapshot(aws.client("s3", settings), settings.cleaned_bucket, SNAPSHOT, pool)
    shared_contacts(customers)
    target = Target(settings.customers_table, SNAPSHOT, "2026-11-27T00:00:00+00:00")
    for group in customer_groups(numbered(customers), CUSTOMERS_PER_TRANSACTION):
        for customer in group:
            target.entries(Attempt(customer))
    return time.perf_counter() - started


def _count_seconds(settings: Settings) -> float:
    started = time.perf_counter()
    count_snapshot_items(aws.client("dynamodb", settings), settings.customers_table, SNAPSHOT)
    return time.perf_counter() - started


def _line(label: str, items: int, seconds: float, extra: str = "") -> str:
    return f"{label:<18} {items:>8,} items {seconds:8.2f} s {items / seconds:8,.0f} items/s{extra}"


def _report(label: str, settings: Settings, summary: LoadSummary) -> str:
    # The summary's time includes the count check; timing a second count shows the rate without it.
    counting = _count_seconds(settings)
    writes = summary.items_written / (summary.seconds - counting)
    return (
        _line(label, summary.items_written, summary.seconds)
        + f" | count check {counting:6.2f} s, without it {writes:,.0f} items/s"
        + f", retries {summary.retries}, rejected {summary.rows_rejected}"
    )


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    defaults = load_settings()
    with LocalAws.on_free_ports(defaults) as local:

        def settings_for(env: str) -> Settings:
            return local.settings(load_settings({"CREDITSCORE_ENV": env}))

        first = _prepared(settings_for("bench-prepare"), args)
        configure_logging(first)
        print(f"customers {args.customers:,}, {len(FEATURES)} features, {args.parts} parts per table")
        print(_line("prepare", args.customers, _prepare_seconds(first), " (read, validate, serialise)"))
        for workers in args.workers:
            for per_transaction in args.per_transaction:
                settings = _prepared(settings_for(f"bench-w{workers}-t{per_transaction}"), args)
                for run in ("load", "reload")[: 1 if args.no_reload else 2]:
                    summary = load_customers(
                        settings,
                        SNAPSHOT,
                        progress=args.progress,
                        workers=workers,
                        per_transaction=per_transaction,
                    )
                    print(_report(f"{run} w{workers} t{per_transaction}", settings, summary))


if __name__ == "__main__":
    main(sys.argv[1:])
