"""``creditscore``: one command-line entry point, one subcommand per job.

Bad command-line input exits with code 2 and a message naming the problem (argparse's convention);
a job that fails for another reason exits with code 1. ``train --publish`` exits with code 3 when the model
was published but the quality gate kept the current-version pointer where it was.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creditscore.cli.args import (
    existing_dir,
    iso_date,
    json_object,
    key_name,
    mapping_file,
    month_count,
    port_number,
    positive_int,
    scorer_name,
    share_of_rows,
    worker_processes,
)
from creditscore.cli.data import cmd_etl, cmd_generate, cmd_ingest, cmd_load_customers
from creditscore.cli.demo import DEMO_KEY_FILE, cmd_demo
from creditscore.cli.local import cmd_local_aws, sigterm_as_interrupt
from creditscore.cli.models import (
    cmd_models_list,
    cmd_models_promote,
    cmd_models_rollback,
    cmd_models_show,
    cmd_train,
)
from creditscore.cli.service import cmd_apikey_new, cmd_serve, cmd_smoke
from creditscore.config import SCOPES, ConfigError, Settings, load_settings
from creditscore.errors import JobError
from creditscore.logs import configure_logging
from etl.synthetic import DEFAULT_AS_OF


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
        "--port", type=port_number, default=4566, help="moto's port (S3 and every service but DynamoDB)"
    )
    local.add_argument("--dynamodb-port", type=port_number, default=8000, help="DynamoDB Local's port")

    gen = add("generate", cmd_generate, "Write synthetic customers, transactions and social CSV files.")
    gen.add_argument("--customers", type=positive_int, required=True, metavar="N")
    gen.add_argument("--seed", type=int, default=42, metavar="S")
    gen.add_argument("--out", type=Path, required=True, metavar="DIR")
    gen.add_argument("--months", type=month_count, default=12, help="months of transactions (1-24)")
    gen.add_argument(
        "--dirty-share", type=share_of_rows, default=0.01, help="share of dirty rows per source (0-0.5)"
    )
    gen.add_argument(
        "--as-of", type=iso_date, default=DEFAULT_AS_OF, help="day the history ends (YYYY-MM-DD)"
    )

    ing = add("ingest", cmd_ingest, "Upload a directory of source CSV files to the raw bucket.")
    ing.add_argument("directory", type=existing_dir, metavar="DIR")
    ing.add_argument("--ingest-date", type=iso_date, default=datetime.now(UTC).date(), metavar="YYYY-MM-DD")

    etl = add("etl", cmd_etl, "Validate, clean and featurise the raw bucket into the cleaned bucket (Spark).")
    etl.add_argument("--ingest-date", type=iso_date, default=None, help="raw partition (default: latest)")
    etl.add_argument("--snapshot", default=None, help="output snapshot id (default: the ingest date)")
    etl.add_argument(
        "--as-of", type=iso_date, default=None, help="feature windows end here (default: data's end)"
    )

    load = add("load-customers", cmd_load_customers, "Write a snapshot's customers and features to DynamoDB.")
    load.add_argument("--snapshot", default=None, help="snapshot id (default: the latest)")

    demo = add("demo", cmd_demo, "Run the platform locally end to end; Ctrl-C stops everything it started.")
    demo.add_argument("--customers", type=positive_int, default=20_000, metavar="N")
    demo.add_argument("--seed", type=int, default=42, metavar="S")
    demo.add_argument("--data-dir", type=Path, default=Path(".demo/data"), metavar="DIR")
    demo.add_argument("--host", default="127.0.0.1", help="local AWS endpoint's address")
    demo.add_argument(
        "--port", type=port_number, default=4566, help="local moto endpoint's port (S3 and the rest)"
    )
    demo.add_argument("--dynamodb-port", type=port_number, default=8000, help="DynamoDB Local's port")
    demo.add_argument("--api-host", default="127.0.0.1", help="scoring service's address")
    demo.add_argument("--api-port", type=port_number, default=8080, help="scoring service's port")

    smoke = add("smoke", cmd_smoke, "Check a running demo's answers end to end (what `make smoke` runs).")
    smoke.add_argument("--api-port", type=port_number, default=8080, help="the demo's scoring service port")
    smoke.add_argument("--port", type=port_number, default=4566, help="the demo's local moto endpoint port")
    smoke.add_argument(
        "--dynamodb-port", type=port_number, default=8000, help="the demo's DynamoDB Local port"
    )
    smoke.add_argument(
        "--api-key-file", type=Path, default=Path(".demo") / DEMO_KEY_FILE, metavar="FILE", help="demo's key"
    )
    smoke.add_argument(
        "--with-demo", action="store_true", help="start the demo first, stop it after (and check it stops)"
    )

    serve = add("serve", cmd_serve, "Run the scoring service (gunicorn master over aiohttp workers).")
    serve.add_argument("--host", default=None, help="address to bind (default: CREDITSCORE_HOST)")
    serve.add_argument("--port", type=port_number, default=None, help="port (default: CREDITSCORE_PORT)")
    serve.add_argument(
        "--workers",
        type=worker_processes,
        default=None,
        help="worker processes (default: CREDITSCORE_WORKERS)",
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
        type=key_name,
        default=None,
        help="who holds the key (logged and recorded with every score it asks for; default: a fingerprint)",
    )

    train = add("train", cmd_train, "Train a scorer, write its report and charts, and optionally publish it.")
    train.add_argument("--model", type=scorer_name, required=True, metavar="NAME", help="an installed scorer")
    train.add_argument(
        "--data", default=None, metavar="URI", help="s3://… or local .parquet/.csv (default: latest snapshot)"
    )
    train.add_argument("--mapping", type=mapping_file, default=None, metavar="FILE", help="YAML/JSON mapping")
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
    signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    try:
        code: int = args.handler(args, settings)
    except (JobError, ValueError) as error:
        print(f"creditscore {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
