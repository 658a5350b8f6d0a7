"""``creditscore``: one command-line entry point, one subcommand per job.

Bad command-line input exits with code 2 and a message naming the problem (argparse's convention);
a job that fails for another reason exits with code 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from tqdm import tqdm

from creditscore import aws
from creditscore.config import ConfigError, Settings, load_settings
from creditscore.errors import JobError
from creditscore.local_aws import LocalAws
from creditscore.logs import configure_logging
from etl import ingest as ingest_mod
from etl.sources import GENERATION_FILE
from etl.synthetic import DEFAULT_AS_OF, generate

DEMO_MONTHS = 12
DEMO_DIRTY_SHARE = 0.01


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, got {value}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 0.5, got {text!r}") from None
    if not 0.0 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be from 0 to 0.5, got {value}")
    return value


def _months(text: str) -> int:
    value = _positive_int(text)
    if value > 24:
        raise argparse.ArgumentTypeError(f"must be from 1 to 24, got {value}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return path


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print(
            "  ".join(c.rjust(w) if c[:1].isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=True))
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _wait_until_interrupted(server: LocalAws) -> int:
    print("Press Ctrl-C to stop.", flush=True)
    try:
        code = server.process.wait()
    except KeyboardInterrupt:
        print("\nStopping the local AWS endpoint.", flush=True)
        return 0
    print(f"The local AWS endpoint exited unexpectedly with code {code}.", file=sys.stderr)
    return 1


def _bootstrap_and_report(settings: Settings) -> None:
    for name, created in aws.bootstrap(settings).items():
        print(f"  {'created ' if created else 'exists  '} {name}")


def _local_settings(settings: Settings, server: LocalAws) -> Settings:
    return replace(settings, aws_endpoint_url=server.endpoint_url)


# --- subcommands -----------------------------------------------------------------------------------------


def cmd_local_aws(args: argparse.Namespace, settings: Settings) -> int:
    with LocalAws(args.host, args.port) as server:
        local = _local_settings(settings, server)
        print(f"Local AWS endpoint (moto) on {server.endpoint_url}, region {local.aws_region}")
        _bootstrap_and_report(local)
        if local.aws_endpoint_url != settings.aws_endpoint_url:
            print(f"Point the other jobs at it: export CREDITSCORE_AWS_ENDPOINT_URL={server.endpoint_url}")
        return _wait_until_interrupted(server)


def _generate(out: Path, customers: int, seed: int, months: int, dirty_share: float, as_of: date) -> None:
    summary = generate(
        out, customers=customers, seed=seed, months=months, dirty_share=dirty_share, as_of=as_of
    )
    _print_table(
        ["file", "rows", "dirty rows"],
        [(summary.files[s], summary.rows[s], summary.dirty_rows.get(s, 0)) for s in summary.rows],
    )
    print(f"Generated in {summary.seconds:.1f}s into {out}")


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    _generate(args.out, args.customers, args.seed, args.months, args.dirty_share, args.as_of)
    return 0


def _ingest_directory(directory: Path, settings: Settings, ingest_date: date) -> int:
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
        _print_table(
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
    return _ingest_directory(args.directory, settings, args.ingest_date)


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
    summary = load_customers(settings, snapshot)
    print(
        f"Loaded {summary.items_written:,} customers of snapshot {snapshot} into {settings.customers_table} "
        f"in {summary.seconds:.1f}s ({summary.items_written / max(summary.seconds, 1e-9):,.0f} items/s); "
        f"the table holds {summary.items_in_table:,} items of that snapshot"
    )
    return 0


def _list_bucket(settings: Settings, bucket: str) -> None:
    objects = ingest_mod.list_objects(aws.client("s3", settings), bucket)
    print(f"\ns3://{bucket}: {len(objects)} objects")
    _print_table(["bytes", "key"], [(size, key) for key, size in objects])


def _reusable_data(out: Path, customers: int, seed: int) -> bool:
    """True when ``out`` holds intact files generated with the same arguments as the demo's."""
    meta = out / GENERATION_FILE
    if not meta.is_file():
        return False
    recorded: dict[str, Any] = json.loads(meta.read_text())
    expected = {"customers": customers, "seed": seed, "months": DEMO_MONTHS, "dirty_share": DEMO_DIRTY_SHARE}
    if any(recorded.get(key) != value for key, value in expected.items()):
        return False
    return all(
        (out / name).is_file() and hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
        for name, digest in recorded.get("sha256", {}).items()
    )


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from etl import report
    from etl.load_customers import load_customers
    from etl.local_runner import run_local

    started = time.monotonic()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    with LocalAws(args.host, args.port, log_path=args.data_dir.parent / "moto.log") as server:
        settings = _local_settings(settings, server)
        print(f"[1/5] Local AWS endpoint (moto) on {server.endpoint_url}")
        _bootstrap_and_report(settings)
        if _reusable_data(args.data_dir, args.customers, args.seed):
            print(f"[2/5] Reusing the data already generated in {args.data_dir} (same arguments)")
        else:
            print(f"[2/5] Generating {args.customers:,} customers (seed {args.seed}) into {args.data_dir}")
            _generate(args.data_dir, args.customers, args.seed, DEMO_MONTHS, DEMO_DIRTY_SHARE, DEFAULT_AS_OF)
        ingest_date = datetime.now(UTC).date()
        print(f"[3/5] Ingesting into s3://{settings.raw_bucket}")
        if code := _ingest_directory(args.data_dir, settings, ingest_date):
            return code
        _list_bucket(settings, settings.raw_bucket)
        print(f"\n[4/5] ETL (Spark, local mode) into s3://{settings.cleaned_bucket}")
        etl_report = run_local(settings, ingest_date, snapshot=None)
        print(report.to_table(etl_report))
        print(f"\n[5/5] Loading customers into DynamoDB table {settings.customers_table}")
        loaded = load_customers(settings, etl_report.snapshot)
        print(f"Loaded {loaded.items_written:,} customers in {loaded.seconds:.1f}s")
        print(
            f"\nReady in {time.monotonic() - started:.0f}s. The endpoint stays up: "
            f"export CREDITSCORE_AWS_ENDPOINT_URL={server.endpoint_url} to use it from another shell."
        )
        return _wait_until_interrupted(server)


# --- parser ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditscore", description="Credit-scoring platform jobs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help_: str
    ) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_, description=help_)
        command.set_defaults(handler=handler)
        return command

    local = add("local-aws", cmd_local_aws, "Run the local AWS endpoint (moto) with the buckets and tables.")
    local.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    local.add_argument("--port", type=_port, default=4566)

    gen = add("generate", cmd_generate, "Write synthetic customers, transactions and social CSV files.")
    gen.add_argument("--customers", type=_positive_int, required=True, metavar="N")
    gen.add_argument("--seed", type=int, default=42, metavar="S")
    gen.add_argument("--out", type=Path, required=True, metavar="DIR")
    gen.add_argument("--months", type=_months, default=12, help="months of transactions (1-24)")
    gen.add_argument(
        "--dirty-share", type=_share, default=0.01, help="share of dirty rows per source (0-0.5)"
    )
    gen.add_argument(
        "--as-of", type=_iso_date, default=DEFAULT_AS_OF, help="day the history ends (YYYY-MM-DD)"
    )

    ing = add("ingest", cmd_ingest, "Upload a directory of source CSV files to the raw bucket.")
    ing.add_argument("directory", type=_existing_dir, metavar="DIR")
    ing.add_argument("--ingest-date", type=_iso_date, default=datetime.now(UTC).date(), metavar="YYYY-MM-DD")

    etl = add("etl", cmd_etl, "Validate, clean and featurise the raw bucket into the cleaned bucket (Spark).")
    etl.add_argument("--ingest-date", type=_iso_date, default=None, help="raw partition (default: latest)")
    etl.add_argument("--snapshot", default=None, help="output snapshot id (default: the ingest date)")
    etl.add_argument(
        "--as-of", type=_iso_date, default=None, help="feature windows end here (default: data's end)"
    )

    load = add("load-customers", cmd_load_customers, "Write a snapshot's customers and features to DynamoDB.")
    load.add_argument("--snapshot", default=None, help="snapshot id (default: the latest)")

    demo = add("demo", cmd_demo, "Run the platform locally end to end; Ctrl-C stops everything it started.")
    demo.add_argument("--customers", type=_positive_int, default=20_000, metavar="N")
    demo.add_argument("--seed", type=int, default=42, metavar="S")
    demo.add_argument("--data-dir", type=Path, default=Path(".demo/data"), metavar="DIR")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=_port, default=4566)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        parser.exit(2, f"creditscore: configuration error: {error}\n")
    configure_logging(settings)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        code: int = args.handler(args, settings)
    except (JobError, ValueError) as error:
        print(f"creditscore {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
