"""``generate``, ``ingest``, ``etl``, ``load-customers``: the data commands, raw CSV to DynamoDB."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from creditscore import aws
from creditscore.config import Settings
from creditscore.console import print_table
from etl import ingest as ingest_mod
from etl.synthetic import DEFAULT_AS_OF, generate

if TYPE_CHECKING:
    from etl.load_customers import LoadSummary


def generate_data(out: Path, customers: int, seed: int, months: int, dirty_share: float, as_of: date) -> None:
    summary = generate(
        out, customers=customers, seed=seed, months=months, dirty_share=dirty_share, as_of=as_of
    )
    print_table(
        ["file", "rows", "dirty rows"],
        [(summary.files[s], summary.rows[s], summary.dirty_rows.get(s, 0)) for s in summary.rows],
    )
    print(f"Generated in {summary.seconds:.1f}s into {out}")


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    as_of = args.as_of or DEFAULT_AS_OF
    generate_data(args.out, args.customers, args.seed, args.months, args.dirty_share, as_of)
    return 0


def ingest_directory(directory: Path, settings: Settings, ingest_date: date) -> int:
    s3 = aws.client("s3", settings)
    landed: list[ingest_mod.Landed] = []
    refused: list[str] = []
    for path in ingest_mod.source_files(directory):
        try:
            local = ingest_mod.describe(path, ingest_mod.check_file(path))
            with tqdm(total=local.size, unit="B", unit_scale=True, desc=path.name, file=sys.stderr) as bar:
                landed.append(ingest_mod.upload(s3, settings.raw_bucket, local, ingest_date, bar.update))
        except ingest_mod.IngestError as error:
            refused.append(str(error))
    if landed:
        print_table(
            ["file", "status", "bytes", "sha256", "key"],
            [
                (x.file, x.status, x.size, x.sha256[:12], f"s3://{settings.raw_bucket}/{x.key}")
                for x in landed
            ],
        )
    for reason in refused:
        print(f"refused: {reason}", file=sys.stderr)
    return 1 if refused else 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    return ingest_directory(args.directory, settings, args.ingest_date)


def cmd_etl(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: Spark (and a JVM) is only needed by this job.
    from etl import report
    from etl.local_runner import run_local

    result = run_local(settings, args.ingest_date, args.snapshot, args.as_of)
    print(report.to_table(result))
    print(f"Report: s3://{settings.cleaned_bucket}/reports/snapshot={result.snapshot}/{report.REPORT_NAME}")
    return 0 if all(c.balanced for c in result.sources.values()) else 1


def cmd_load_customers(args: argparse.Namespace, settings: Settings) -> int:
    from etl.load_customers import latest_snapshot, load_customers

    snapshot = args.snapshot or latest_snapshot(aws.client("s3", settings), settings.cleaned_bucket)
    print_load(settings, load_customers(settings, snapshot))
    return 0


def print_load(settings: Settings, summary: LoadSummary) -> None:
    from etl.load_customers import quarantine_prefix
    from etl.load_record import load_report_key

    print(
        f"Loaded {summary.items_written:,} customers of snapshot {summary.snapshot} into "
        f"{settings.customers_table} in {summary.seconds:.1f}s "
        f"({summary.items_written / max(summary.seconds, 1e-9):,.0f} items/s); "
        f"the table holds {summary.items_in_table:,} items of that snapshot"
    )
    if summary.rejected:
        # Reported like the ETL's quarantine, not a failure: the rest of the snapshot is loaded.
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in summary.rejected.items())
        print(
            f"Rejected {summary.rows_rejected:,} of {summary.rows:,} rows ({reasons}); quarantined under "
            f"s3://{settings.cleaned_bucket}/{quarantine_prefix(summary.snapshot)}"
        )
    print(f"Report: s3://{settings.cleaned_bucket}/{load_report_key(summary.snapshot)}")


def list_bucket(settings: Settings, bucket: str) -> None:
    objects = ingest_mod.list_objects(aws.client("s3", settings), bucket)
    print(f"\ns3://{bucket}: {len(objects)} objects")
    print_table(["bytes", "key"], [(size, key) for key, size in objects])
