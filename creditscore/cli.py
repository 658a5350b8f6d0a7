"""``creditscore``: one command-line entry point, one subcommand per job.

Bad command-line input exits with code 2 and a message naming the problem (argparse's convention);
a job that fails for another reason exits with code 1. ``train --publish`` exits with code 3 when the model
was published but the quality gate kept the current-version pointer where it was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from tqdm import tqdm

from creditscore import aws
from creditscore.config import KEY_NAME_RE, SCOPES, ConfigError, Settings, endpoint_environment, load_settings
from creditscore.console import print_table
from creditscore.errors import JobError
from creditscore.local_aws import ChildServer, LocalAws
from creditscore.logs import configure_logging
from etl import ingest as ingest_mod
from etl.sources import GENERATION_FILE
from etl.synthetic import DEFAULT_AS_OF, generate
from server.auth import new_key

if TYPE_CHECKING:
    from etl.load_customers import LoadSummary
    from training.mapping import ColumnMapping

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
# Distinct from 1 (failed) so a retraining schedule can tell "published, not promoted" from a crash.
EXIT_GATE_REFUSED = 3
REPORTS_DIR = Path(".demo/reports")
# Beside the demo's data directory: where `creditscore smoke` finds the running demo's key.
DEMO_KEY_FILE = "api-key"


def _bounded(
    parse: Callable[[str], float], low: float, high: float | None, expected: str
) -> Callable[[str], Any]:
    """An argparse type: ``parse`` the text and require low <= value <= high, saying which rule failed."""

    def convert(text: str) -> float:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"greater than {low - 1:g}" if high is None else f"from {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value:g}")
        return value

    return convert


_positive_int = _bounded(int, 1, None, "a whole number")
_port = _bounded(int, 1, 65535, "a port number")
_worker_count = _bounded(int, 1, 256, "a whole number of worker processes")
_months = _bounded(int, 1, 24, "a whole number of months")
_share = _bounded(float, 0.0, 0.5, "a number from 0 to 0.5")


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _key_name(text: str) -> str:
    if not KEY_NAME_RE.match(text):
        raise argparse.ArgumentTypeError(
            f"expected up to 32 lowercase letters, digits, '.', '_' or '-', got {text!r}"
        )
    return text


def _existing_dir(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return path


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object such as {{"max_depth": 3}}, got {text!r}')
    return value


def _scorer_name(text: str) -> str:
    # Imported here: discovery imports every installed scorer (XGBoost, torch, ...).
    from plugins.manager import PluginError, scorer

    try:
        scorer(text)
    except PluginError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _mapping_file(text: str) -> ColumnMapping:
    from training.mapping import MappingError, load_mapping

    try:
        return load_mapping(Path(text))
    except MappingError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _wait_until_interrupted(*servers: ChildServer) -> int:
    """Until Ctrl-C / SIGTERM (0), or until one of ``servers`` exits by itself (1)."""
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while True:
            for server in servers:
                if (code := server.process.poll()) is not None:
                    print(f"The {server.what} exited unexpectedly with code {code}.", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"\nStopping the {' and the '.join(s.what for s in reversed(servers))}.", flush=True)
        return 0


def _bootstrap_and_report(settings: Settings) -> None:
    for name, created in aws.bootstrap(settings).items():
        print(f"  {'created ' if created else 'exists  '} {name}")


def _local_aws(args: argparse.Namespace, settings: Settings, log_dir: Path | None = None) -> LocalAws:
    return LocalAws(args.host, args.port, args.dynamodb_port, Path(settings.dynamodb_local_dir), log_dir)


def _print_endpoints(local: LocalAws, region: str) -> None:
    print(
        f"  DynamoDB Local on {local.dynamodb_endpoint_url}, moto (S3 and the rest) on {local.endpoint_url}"
    )
    print(f"  region {region}")


# --- subcommands -----------------------------------------------------------------------------------------


def cmd_local_aws(args: argparse.Namespace, settings: Settings) -> int:
    with _local_aws(args, settings) as endpoints:
        local = endpoints.settings(settings)
        print("Local AWS endpoints:")
        _print_endpoints(endpoints, local.aws_region)
        _bootstrap_and_report(local)
        if local != settings:
            print("Point the other jobs at them:")
            for name, value in endpoint_environment(local).items():
                print(f"  export {name}={value}")
        # Any other AWS tool (the aws CLI, a boto3 script) finds them through botocore's own variables.
        print("Other AWS tools (aws CLI, boto3):")
        print(f"  export AWS_ENDPOINT_URL_DYNAMODB={endpoints.dynamodb_endpoint_url}")
        print(f"  export AWS_ENDPOINT_URL={endpoints.endpoint_url}")
        return _wait_until_interrupted(*endpoints.servers)


def _generate(out: Path, customers: int, seed: int, months: int, dirty_share: float, as_of: date) -> None:
    summary = generate(
        out, customers=customers, seed=seed, months=months, dirty_share=dirty_share, as_of=as_of
    )
    print_table(
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
    _print_load(settings, load_customers(settings, snapshot))
    return 0


def _print_load(settings: Settings, summary: LoadSummary) -> None:
    from etl.load_customers import quarantine_prefix

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


def _list_bucket(settings: Settings, bucket: str) -> None:
    objects = ingest_mod.list_objects(aws.client("s3", settings), bucket)
    print(f"\ns3://{bucket}: {len(objects)} objects")
    print_table(["bytes", "key"], [(size, key) for key, size in objects])


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
    with _local_aws(args, settings, log_dir=args.data_dir.parent) as endpoints:
        settings = endpoints.settings(settings)
        print(f"[1/{DEMO_STEPS}] Local AWS endpoints")
        _print_endpoints(endpoints, settings.aws_region)
        _bootstrap_and_report(settings)
        if _reusable_data(args.data_dir, args.customers, args.seed):
            print(f"[2/{DEMO_STEPS}] Reusing the data already generated in {args.data_dir} (same arguments)")
        else:
            what = f"{args.customers:,} customers (seed {args.seed})"
            print(f"[2/{DEMO_STEPS}] Generating {what} into {args.data_dir}")
            _generate(args.data_dir, args.customers, args.seed, DEMO_MONTHS, DEMO_DIRTY_SHARE, DEFAULT_AS_OF)
        ingest_date = datetime.now(UTC).date()
        print(f"[3/{DEMO_STEPS}] Ingesting into s3://{settings.raw_bucket}")
        if code := _ingest_directory(args.data_dir, settings, ingest_date):
            return code
        _list_bucket(settings, settings.raw_bucket)
        print(f"\n[4/{DEMO_STEPS}] ETL (Spark, local mode) into s3://{settings.cleaned_bucket}")
        etl_report = run_local(settings, ingest_date, snapshot=None)
        print(report.to_table(etl_report))
        print(f"\n[5/{DEMO_STEPS}] Loading customers into DynamoDB table {settings.customers_table}")
        _print_load(settings, load_customers(settings, etl_report.snapshot))
        for n, model in enumerate(DEMO_MODELS, start=1):
            print(f"\n[6/{DEMO_STEPS}] Training and publishing {model} ({n} of {len(DEMO_MODELS)})")
            if code := _train(settings, model, None, None, {}, publish=True, out_dir=None):
                return code
        print(f"\n[7/{DEMO_STEPS}] Starting the scoring service on http://{args.api_host}:{args.api_port}")
        key, entry = new_key(SCOPES)
        with _service(settings, args.api_host, args.api_port, entry, args.data_dir.parent) as service:
            print(f"Ready in {time.monotonic() - started:.0f}s.")
            _print_try_it(settings, f"http://{args.api_host}:{args.api_port}", key)
            # Last: `creditscore smoke --with-demo` takes the file as the sign that the demo is all set.
            _write_private(args.data_dir.parent / DEMO_KEY_FILE, key)
            return _wait_until_interrupted(*endpoints.servers, service)


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


def _print_try_it(settings: Settings, base: str, key: str) -> None:
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


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here, not at the top: the runner must set Prometheus' multiprocess directory before
    # anything imports prometheus_client.
    from server.runner import serve, worker_count

    workers = worker_count(settings, args.workers)
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"Serving on http://{host}:{port} with {workers} worker(s); SIGTERM or Ctrl-C stops.")
    serve(settings, host, port, workers)
    return 0


def cmd_smoke(args: argparse.Namespace, settings: Settings) -> int:
    from creditscore.smoke import read_key, run_smoke, running_demo

    base = f"http://127.0.0.1:{args.api_port}"
    settings = replace(
        settings,
        aws_endpoint_url=f"http://127.0.0.1:{args.port}",
        dynamodb_endpoint_url=f"http://127.0.0.1:{args.dynamodb_port}",
    )
    if not args.with_demo:
        return run_smoke(base, read_key(args.api_key_file), settings)
    started = time.monotonic()
    with running_demo(args.api_port, args.port, args.dynamodb_port, args.api_key_file):
        print(f"Demo ready after {time.monotonic() - started:.0f}s.", flush=True)
        return run_smoke(base, read_key(args.api_key_file), settings)


def cmd_apikey_new(args: argparse.Namespace, _settings: Settings) -> int:
    key, entry = new_key(args.scope, args.name or "")
    print(f"API key (shown once; give it to the client):\n  {key}")
    print(f"Its CREDITSCORE_API_KEYS entry (comma-separated with any others):\n  {entry}")
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    return _train(settings, args.model, args.data, args.mapping, args.params, args.publish, args.out)


def _train(
    settings: Settings,
    model: str,
    data_uri: str | None,
    mapping: ColumnMapping | None,
    overrides: dict[str, Any],
    publish: bool,
    out_dir: Path | None,
) -> int:
    from creditscore.domain.scores import Scaling
    from plugins.manager import scorer as find_scorer
    from training import data, pipeline, report

    scorer = find_scorer(model)
    features = mapping.feature_names if mapping else scorer.features
    table = data.load_table(settings, data_uri, features, mapping)
    print(f"Training {scorer.name} on {len(table.labels):,} rows of {table.source}")
    scaling = Scaling.from_settings(settings)
    params = {**(mapping.params if mapping else {}), **overrides}
    result = pipeline.train(scorer, table, params, scaling=scaling)
    out = out_dir or REPORTS_DIR / scorer.name
    written = pipeline.write_outputs(result, out)
    print_table(*report.summary_rows(result.report))
    calibration = result.report["calibration"]
    print(
        f"{result.manifest.model} version {result.manifest.version}, calibrated (Platt "
        f"a={calibration['a']:.3f}, b={calibration['b']:.3f}); report and charts: "
        + ", ".join(str(path) for path in written)
    )
    if not publish:
        return 0
    from plugins.registry import Gate, Registry

    outcome = Registry.from_settings(settings).publish(
        result.manifest, result.files, Gate.from_settings(settings)
    )
    where = f"s3://{settings.models_bucket}/{outcome.model}/{outcome.version}/"
    if outcome.promoted:
        print(f"Published {where} and made it current: {outcome.reason}")
        return 0
    print(
        f"Published {where} but the current version stays {outcome.current or 'unset'}: {outcome.reason}. "
        f"To serve it anyway: creditscore models promote {outcome.model} {outcome.version}",
        file=sys.stderr,
    )
    return EXIT_GATE_REFUSED


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry, auc_of

    registry = Registry.from_settings(settings)
    rows = [
        (
            "*" if info.current else "",
            model,
            info.version,
            f"{auc_of(info.manifest):.4f}" if info.manifest else "-",
            info.manifest.created_at if info.manifest else "incomplete: no manifest",
        )
        for model in registry.models()
        for info in registry.listing(model)
    ]
    if not rows:
        print(f"No models in s3://{settings.models_bucket}")
        return 0
    print_table(["current", "model", "version", "test AUC", "created"], rows)
    return 0


def cmd_models_show(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry
    from training import report

    registry = Registry.from_settings(settings)
    current = registry.pointer(args.model)
    version = args.version or registry.current_version(args.model)
    manifest, _ = registry.verified_files(args.model, version)
    plugin = manifest.plugin
    fields = [
        ("model", manifest.model),
        ("version", version + (" (current)" if current and current.version == version else "")),
        ("created_at", manifest.created_at),
        ("plugin", f"{plugin.get('module')} from {plugin.get('distribution')} {plugin.get('version')}"),
        ("code_version", manifest.code_version),
        ("segment", manifest.segment),
        ("training data", f"sha256 {manifest.training_data_fingerprint}"),
        ("features", ", ".join(manifest.features)),
        ("params", json.dumps(manifest.params, sort_keys=True)),
    ]
    for name, value in fields:
        print(f"{name + ':':<15}{value}")
    print()
    print_table(*report.summary_rows({"metrics": manifest.metrics}))
    print()
    print_table(["file", "sha256 (verified)"], sorted(manifest.files.items()))
    return 0


def cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry

    pointer = Registry.from_settings(settings).promote(args.model, args.version)
    was = pointer.previous[0] if pointer.previous else "none"
    print(f"{args.model}: current version is {pointer.version} (before: {was})")
    return 0


def cmd_models_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from plugins.registry import Registry

    pointer = Registry.from_settings(settings).rollback(args.model)
    print(f"{args.model}: rolled back; current version is {pointer.version}")
    return 0


# --- parser ----------------------------------------------------------------------------------------------


def _command(
    subparsers: Any, name: str, handler: Callable[[argparse.Namespace, Settings], int], help_: str
) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = subparsers.add_parser(name, help=help_, description=help_)
    command.set_defaults(handler=handler)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditscore", description="Credit-scoring platform jobs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help_: str
    ) -> argparse.ArgumentParser:
        return _command(sub, name, handler, help_)

    local = add(
        "local-aws",
        cmd_local_aws,
        "Run the local AWS endpoints (DynamoDB Local, moto) with the buckets and tables.",
    )
    local.add_argument("--host", default="127.0.0.1", help="moto's address to bind (default: loopback only)")
    local.add_argument(
        "--port", type=_port, default=4566, help="moto's port (S3 and every service but DynamoDB)"
    )
    local.add_argument("--dynamodb-port", type=_port, default=8000, help="DynamoDB Local's port")

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
    demo.add_argument("--host", default="127.0.0.1", help="local AWS endpoint's address")
    demo.add_argument("--port", type=_port, default=4566, help="local moto endpoint's port (S3 and the rest)")
    demo.add_argument("--dynamodb-port", type=_port, default=8000, help="DynamoDB Local's port")
    demo.add_argument("--api-host", default="127.0.0.1", help="scoring service's address")
    demo.add_argument("--api-port", type=_port, default=8080, help="scoring service's port")

    smoke = add("smoke", cmd_smoke, "Check a running demo's answers end to end (what `make smoke` runs).")
    smoke.add_argument("--api-port", type=_port, default=8080, help="the demo's scoring service port")
    smoke.add_argument("--port", type=_port, default=4566, help="the demo's local moto endpoint port")
    smoke.add_argument("--dynamodb-port", type=_port, default=8000, help="the demo's DynamoDB Local port")
    smoke.add_argument(
        "--api-key-file", type=Path, default=Path(".demo") / DEMO_KEY_FILE, metavar="FILE", help="demo's key"
    )
    smoke.add_argument(
        "--with-demo", action="store_true", help="start the demo first, stop it after (and check it stops)"
    )

    serve = add("serve", cmd_serve, "Run the scoring service (gunicorn master over aiohttp workers).")
    serve.add_argument("--host", default=None, help="address to bind (default: CREDITSCORE_HOST)")
    serve.add_argument("--port", type=_port, default=None, help="port (default: CREDITSCORE_PORT)")
    serve.add_argument(
        "--workers", type=_worker_count, default=None, help="worker processes (default: CREDITSCORE_WORKERS)"
    )

    apikey = sub.add_parser("apikey", help="Make API keys for the scoring service.")
    apikey_actions = apikey.add_subparsers(dest="action", required=True, metavar="ACTION")
    new = _command(
        apikey_actions, "new", cmd_apikey_new, "Print a fresh API key and its configuration entry."
    )
    new.add_argument(
        "--scope",
        action="append",
        choices=SCOPES,
        required=True,
        help="a scope the key grants; repeat for several",
    )
    new.add_argument(
        "--name",
        type=_key_name,
        default=None,
        help="who holds the key (logged and recorded with every score it asks for; default: a fingerprint)",
    )

    train = add("train", cmd_train, "Train a scorer, write its report and charts, and optionally publish it.")
    train.add_argument(
        "--model", type=_scorer_name, required=True, metavar="NAME", help="an installed scorer"
    )
    train.add_argument(
        "--data", default=None, metavar="URI", help="s3://… or local .parquet/.csv (default: latest snapshot)"
    )
    train.add_argument(
        "--mapping", type=_mapping_file, default=None, metavar="FILE", help="YAML/JSON mapping"
    )
    train.add_argument("--params", type=json_object, default={}, metavar="JSON", help="training parameters")
    train.add_argument("--publish", action="store_true", help="publish to the models bucket, apply the gate")
    train.add_argument("--out", type=Path, default=None, metavar="DIR", help="default: .demo/reports/NAME/")

    models = sub.add_parser("models", help="Inspect and manage the model registry.")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(
        name: str, handler: Callable[[argparse.Namespace, Settings], int], help_: str
    ) -> argparse.ArgumentParser:
        return _command(actions, name, handler, help_)

    action("list", cmd_models_list, "Every model and its versions; the current one marked *.")
    show = action("show", cmd_models_show, "A version's manifest and metrics (default: the current one).")
    show.add_argument("model", metavar="MODEL")
    show.add_argument("version", nargs="?", default=None, metavar="VERSION")
    promote = action("promote", cmd_models_promote, "Make VERSION current; the old one goes on the history.")
    promote.add_argument("model", metavar="MODEL")
    promote.add_argument("version", metavar="VERSION")
    rollback = action("rollback", cmd_models_rollback, "Make the previously current version current again.")
    rollback.add_argument("model", metavar="MODEL")
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
