"""``creditscore demo``: the whole platform on this machine, from generated data to a serving API."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creditscore import aws
from creditscore.cli.args import DEMO_KEY_FILE
from creditscore.cli.data import generate_data, ingest_directory, list_bucket, print_load
from creditscore.cli.local import (
    bootstrap_and_report,
    local_endpoints,
    print_endpoints,
    wait_until_interrupted,
)
from creditscore.cli.models import train_and_report
from creditscore.config import SCOPES, Settings, endpoint_environment
from creditscore.local_aws import ChildServer
from etl.sources import GENERATION_FILE
from etl.synthetic import DEFAULT_AS_OF
from server.auth import new_key

DEMO_MONTHS = 12
DEMO_DIRTY_SHARE = 0.01
DEMO_MODELS = ("xgboost-new-customer", "pytorch-traditional", "extratrees-social")
DEMO_STEPS = 7
DEMO_APPLICANT = {
    "full_name": "Nguyen Van An",
    "national_id": "001234567890",
    "email": "an.nguyen@example.com",
    "phone_number": "0912345678",
    "income": 25_000_000,
    "savings": 40_000_000,
    "debt": 10_000_000,
    "cat_dependents": "Yes",
    "cat_mortgage": "No",
    "cat_savings_account": "Yes",
    "cat_credit_card": "No",
}
# Beside the demo's data directory: where `creditscore smoke` finds the running demo's key.


def reusable_data(out: Path, customers: int, seed: int) -> bool:
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
    with local_endpoints(args, settings, log_dir=args.data_dir.parent) as endpoints:
        settings = endpoints.settings(settings)
        print(f"[1/{DEMO_STEPS}] Local AWS endpoints")
        print_endpoints(endpoints, settings.aws_region)
        bootstrap_and_report(settings)
        if reusable_data(args.data_dir, args.customers, args.seed):
            print(f"[2/{DEMO_STEPS}] Reusing the data already generated in {args.data_dir} (same arguments)")
        else:
            what = f"{args.customers:,} customers (seed {args.seed})"
            print(f"[2/{DEMO_STEPS}] Generating {what} into {args.data_dir}")
            generate_data(
                args.data_dir, args.customers, args.seed, DEMO_MONTHS, DEMO_DIRTY_SHARE, DEFAULT_AS_OF
            )
        ingest_date = datetime.now(UTC).date()
        print(f"[3/{DEMO_STEPS}] Ingesting into s3://{settings.raw_bucket}")
        if code := ingest_directory(args.data_dir, settings, ingest_date):
            return code
        list_bucket(settings, settings.raw_bucket)
        print(f"\n[4/{DEMO_STEPS}] ETL (Spark, local mode) into s3://{settings.cleaned_bucket}")
        etl_report = run_local(settings, ingest_date, snapshot=None)
        print(report.to_table(etl_report))
        print(f"\n[5/{DEMO_STEPS}] Loading customers into DynamoDB table {settings.customers_table}")
        print_load(settings, load_customers(settings, etl_report.snapshot))
        for n, model in enumerate(DEMO_MODELS, start=1):
            print(f"\n[6/{DEMO_STEPS}] Training and publishing {model} ({n} of {len(DEMO_MODELS)})")
            if code := train_and_report(settings, model, None, None, {}, publish=True, out_dir=None):
                return code
        print(f"\n[7/{DEMO_STEPS}] Starting the scoring service on http://{args.api_host}:{args.api_port}")
        key, entry = new_key(SCOPES)
        with _service(settings, args.api_host, args.api_port, entry, args.data_dir.parent) as service:
            print(f"Ready in {time.monotonic() - started:.0f}s.")
            print_try_it(settings, f"http://{args.api_host}:{args.api_port}", key)
            # Last: `creditscore smoke --with-demo` takes the file as the sign that the demo is all set.
            _write_private(args.data_dir.parent / DEMO_KEY_FILE, key)
            return wait_until_interrupted(*endpoints.servers, service)


def _write_private(path: Path, text: str) -> None:
    """Writes ``text`` readable by the owner only (created so, never world-readable in between)."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(text + "\n")


def _service(settings: Settings, host: str, port: int, api_keys: str, work_dir: Path) -> ChildServer:
    """``creditscore serve`` against the demo's endpoint, as a child that dies with the demo (not started)."""
    env = {
        **os.environ,
        **endpoint_environment(settings),
        "CREDITSCORE_API_KEYS": api_keys,
    }
    command = [sys.executable, "-m", "creditscore.cli", "serve", "--host", host, "--port", str(port)]
    probe = f"http://{host}:{port}/ready"
    # Each worker loads the three models before it answers.
    return ChildServer("scoring service", command, probe, work_dir / "service.log", env, start_timeout=180)


def print_try_it(settings: Settings, base: str, key: str) -> None:
    # The table also holds the contacts' guard items, which have no email; a page may hold guards only.
    pages = (
        aws.client("dynamodb", settings)
        .get_paginator("scan")
        .paginate(
            TableName=settings.customers_table,
            FilterExpression="attribute_exists(email)",
            ProjectionExpression="national_id",
            PaginationConfig={"PageSize": 100},
        )
    )
    found = next((str(item["national_id"]["S"]) for page in pages for item in page["Items"]), None)
    national_id = found or "001234567890"
    new = json.dumps(DEMO_APPLICANT)
    exports = "\n".join(f"  export {name}={value}" for name, value in endpoint_environment(settings).items())
    print(
        f"""
API key for this demo (score and admin scopes; also in .demo/{DEMO_KEY_FILE}, readable by you only,
for `make smoke`; a new one each run):
  export API_KEY={key}

Score a new applicant:
  curl -s {base}/api/v1/predict-new-customer -H "X-API-Key: $API_KEY" \\
    -H 'Content-Type: application/json' -d '{new}'

Score that applicant again, now as an existing customer (from the stored application):
  curl -s {base}/api/v1/predict-existing-customer -H "X-API-Key: $API_KEY" \\
    -H 'Content-Type: application/json' -d '{{"email": "{DEMO_APPLICANT["email"]}"}}'

Score an existing customer the batch loaded (one of the {settings.customers_table} items):
  curl -s {base}/api/v1/predict-existing-customer -H "X-API-Key: $API_KEY" \\
    -H 'Content-Type: application/json' -d '{{"national_id": "{national_id}"}}'

Management dashboard: {base}/dashboard
Check it all end to end from another shell: make smoke
Load it as a bank's clients would, beside a seed-style Flask + boto3 peer: python -m bench.service --peer
(figures from this 2-core machine in the README's "Performance": about 250 requests/s per host on each
seed endpoint, 3.3 service CPU-ms per new customer and 4.4 per existing one, 0 errors).
Also: {base}/ready, {base}/metrics, {base}/api/v1/openapi.json; service log in .demo/service.log.
Other shells reach the local AWS endpoints with:
{exports}
"""
    )
