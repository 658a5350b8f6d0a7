"""Benchmark: local ETL wall time and rows/s, and the DynamoDB load rate, against a fresh local endpoint.

    .venv/bin/python -m bench.etl_pipeline --customers 20000
    .venv/bin/python -m bench.etl_pipeline --customers 200000 --data-dir /tmp/bench-200k  # keeps the CSVs

Prints one line per figure. Not a test: run it by hand and quote the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

from creditscore import aws
from creditscore.config import load_settings
from creditscore.local_aws import LocalAws
from etl import ingest
from etl.load_customers import load_customers
from etl.local_runner import run_local
from etl.sources import GENERATION_FILE
from etl.synthetic import generate

INGEST_DAY = date(2026, 10, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse/keep generated CSVs here")
    # The load is timed on its own by bench/load_customers.py; skip it to time the ETL alone.
    parser.add_argument("--no-load", action="store_true", help="skip the DynamoDB load")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-etl-") as tmp:
        data = args.data_dir or Path(tmp) / "raw"
        meta = data / GENERATION_FILE
        if not (meta.is_file() and json.loads(meta.read_text()).get("customers") == args.customers):
            generate(data, customers=args.customers, seed=args.seed, progress=True)
        defaults = load_settings()
        with LocalAws.on_free_ports(defaults) as endpoints:
            settings = endpoints.settings(defaults)
            aws.bootstrap(settings)
            s3 = aws.client("s3", settings)
            started = time.perf_counter()
            for path in ingest.source_files(data):
                local = ingest.describe(path, ingest.check_file(path))
                ingest.upload(s3, settings.raw_bucket, local, INGEST_DAY)
            ingest_seconds = time.perf_counter() - started

            started = time.perf_counter()
            report = run_local(settings, INGEST_DAY, snapshot=None)
            etl_seconds = time.perf_counter() - started
            rows = sum(c.read for c in report.sources.values())

            loaded = None if args.no_load else load_customers(settings, report.snapshot, progress=False)

    print(f"customers            {args.customers:,}")
    print(f"raw rows             {rows:,}")
    print(f"ingest               {ingest_seconds:.1f} s")
    print(f"etl wall time        {etl_seconds:.1f} s (Spark pipeline {report.seconds:.1f} s)")
    print(f"etl rows/s           {rows / etl_seconds:,.0f}")
    if loaded is not None:
        print(f"dynamodb load        {loaded.items_written:,} items in {loaded.seconds:.1f} s")
        print(f"dynamodb items/s     {loaded.items_written / loaded.seconds:,.0f}")


if __name__ == "__main__":
    main()
