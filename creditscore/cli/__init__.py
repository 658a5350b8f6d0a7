"""``creditscore``: one command-line entry point, one subcommand per job.

Bad command-line input exits with code 2 and a message naming the problem (argparse's convention);
a job that fails for another reason exits with code 1. ``train --publish`` and ``models publish`` exit with
code 3 when the model was published but the quality gate kept the current-version pointer where it was.

The base install (what a host has) runs ``serve``, ``apikey``, ``models`` and ``smoke``; every other job
needs extras of the package (``EXTRAS``: ``etl``, ``train``, ``local``; ``demo`` all three). A job's module is
imported only when that job runs, so a missing extra fails that job alone: exit code 1 and a message naming
the ``pip install 'creditscore[...]'`` that installs it.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from creditscore.cli.args import (
    DEMO_KEY_FILE,
    existing_dir,
    iso_date,
    json_object,
    key_name,
    mapping_file,
    month_count,
    port_number,
    positive_int,
    reason_count,
    scorer_name,
    scores_file,
    share_of_rows,
    thread_count,
    worker_processes,
)
from creditscore.cli.local import sigterm_as_interrupt
from creditscore.config import SCOPES, ConfigError, Settings, load_settings
from creditscore.errors import JobError
from creditscore.logs import configure_logging

#: The modules each extra of the package brings that the jobs import (the distributions behind them are in
#: pyproject.toml's [project.optional-dependencies]; tests/test_install_extras.py checks the two agree).
EXTRAS: Final[Mapping[str, tuple[str, ...]]] = {
    "etl": ("pyspark", "pandas", "pyarrow", "tqdm"),
    "train": ("matplotlib", "pandas", "pyarrow", "yaml", "tqdm"),
    "local": ("moto", "werkzeug"),
}
Handler = Callable[[argparse.Namespace, Settings], int]
#: Where ``score`` runs: in this process, or as a Spark job (training/batch/spark_scoring.py).
ENGINES: Final = ("local", "spark")
_T = TypeVar("_T")


_AS_CHALLENGER: Final = (
    "a version the gate lets in becomes the model's shadow challenger, the current version staying current "
    "(a model with none yet: it becomes current)"
)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class MissingExtra(Exception):
    """A job needs extras of the package that are not installed."""

    def __init__(self, command: str, extras: Sequence[str], modules: Sequence[str]) -> None:
        self.command = command
        self.extras = tuple(extras)
        self.modules = tuple(modules)
        super().__init__(str(self))

    def __str__(self) -> str:
        names = [f"[{extra}]" for extra in self.extras]
        which = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        plural = "s" if len(names) > 1 else ""
        return (
            f"creditscore {self.command}: needs the {which} extra{plural} of the package (not installed: "
            f"no module {', '.join(self.modules)}): pip install 'creditscore[{','.join(self.extras)}]'"
        )


def extras_providing(module: str) -> list[str]:
    """The extras that bring ``module`` (a dotted name; its top-level package decides)."""
    top = module.partition(".")[0]
    return [extra for extra, modules in EXTRAS.items() if top in modules]


@dataclass(frozen=True)
class Deferred:
    """``module:attribute``, imported only when the job runs (its module may need an extra)."""

    target: str

    def load(self) -> Any:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Job:
    """A subcommand: its full name, its handler and the extras its modules import."""

    name: str
    handler: Deferred
    extras: tuple[str, ...] = ()

    def require(self) -> None:
        """Raise ``MissingExtra`` unless every module of the job's extras can be imported."""
        missing = {extra: [m for m in EXTRAS[extra] if not _importable(m)] for extra in self.extras}
        extras = [extra for extra, modules in missing.items() if modules]
        if extras:
            modules = list(dict.fromkeys(m for extra in extras for m in missing[extra]))
            raise MissingExtra(self.name, extras, modules)

    def requiring(self, convert: Callable[[str], _T]) -> Callable[[str], _T]:
        """An argument type whose conversion imports the job's extras: checked first, as the job is."""

        @functools.wraps(convert)
        def checked(text: str) -> _T:
            self.require()
            return convert(text)

        return checked


def _command(subparsers: Any, job: Job, help_: str) -> argparse.ArgumentParser:
    name = job.name.rpartition(" ")[2]
    command: argparse.ArgumentParser = subparsers.add_parser(name, help=help_, description=help_)
    command.set_defaults(job=job)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditscore", description="Credit-scoring platform jobs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: str, help_: str, extras: tuple[str, ...] = ()) -> argparse.ArgumentParser:
        return _command(sub, Job(name, Deferred(handler), extras), help_)

    local = add(
        "local-aws",
        "creditscore.cli.local:cmd_local_aws",
        "Run the local AWS endpoints (DynamoDB Local, moto) with the buckets and tables.",
        ("local",),
    )
    local.add_argument("--host", default="127.0.0.1", help="moto's address to bind (default: loopback only)")
    local.add_argument(
        "--port", type=port_number, default=4566, help="moto's port (S3 and every service but DynamoDB)"
    )
    local.add_argument("--dynamodb-port", type=port_number, default=8000, help="DynamoDB Local's port")

    gen = add(
        "generate",
        "creditscore.cli.data:cmd_generate",
        "Write synthetic customers, transactions and social CSV files.",
        ("etl",),
    )
    gen.add_argument("--customers", type=positive_int, required=True, metavar="N")
    gen.add_argument("--seed", type=int, default=42, metavar="S")
    gen.add_argument("--out", type=Path, required=True, metavar="DIR")
    gen.add_argument("--months", type=month_count, default=12, help="months of transactions (1-24)")
    gen.add_argument(
        "--dirty-share", type=share_of_rows, default=0.01, help="share of dirty rows per source (0-0.5)"
    )
    gen.add_argument(
        "--as-of",
        type=iso_date,
        default=None,
        help="day the history ends (YYYY-MM-DD; default: the generator's fixed day, so runs repeat)",
    )

    ing = add(
        "ingest",
        "creditscore.cli.data:cmd_ingest",
        "Upload a directory of source CSV files to the raw bucket.",
        ("etl",),
    )
    ing.add_argument("directory", type=existing_dir, metavar="DIR")
    ing.add_argument("--ingest-date", type=iso_date, default=datetime.now(UTC).date(), metavar="YYYY-MM-DD")

    etl = add(
        "etl",
        "creditscore.cli.data:cmd_etl",
        "Validate, clean and featurise the raw bucket into the cleaned bucket (Spark).",
        ("etl",),
    )
    etl.add_argument("--ingest-date", type=iso_date, default=None, help="raw partition (default: latest)")
    etl.add_argument("--snapshot", default=None, help="output snapshot id (default: the ingest date)")
    etl.add_argument(
        "--as-of", type=iso_date, default=None, help="feature windows end here (default: data's end)"
    )

    load = add(
        "load-customers",
        "creditscore.cli.data:cmd_load_customers",
        "Write a snapshot's customers and features to DynamoDB.",
        ("etl",),
    )
    load.add_argument("--snapshot", default=None, help="snapshot id (default: the latest)")

    demo = add(
        "demo",
        "creditscore.cli.demo:cmd_demo",
        "Run the platform locally end to end; Ctrl-C stops everything it started.",
        ("etl", "train", "local"),
    )
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

    smoke = add(
        "smoke",
        "creditscore.cli.service:cmd_smoke",
        "Check a running demo's answers end to end (what `make smoke` runs).",
    )
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

    serve = add(
        "serve",
        "creditscore.cli.service:cmd_serve",
        "Run the scoring service (gunicorn master over aiohttp workers).",
    )
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
        apikey_actions,
        Job("apikey new", Deferred("creditscore.cli.service:cmd_apikey_new")),
        "Print a fresh API key and its configuration entry.",
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

    train_job = Job("train", Deferred("creditscore.cli.models:cmd_train"), ("train",))
    train = _command(
        sub, train_job, "Train a scorer, write its report and charts, and optionally publish it."
    )
    train.add_argument("--model", type=scorer_name, required=True, metavar="NAME", help="an installed scorer")
    train.add_argument(
        "--data", default=None, metavar="URI", help="s3://… or local .parquet/.csv (default: latest snapshot)"
    )
    train.add_argument(
        "--mapping",
        type=train_job.requiring(mapping_file),
        default=None,
        metavar="FILE",
        help="YAML/JSON mapping",
    )
    train.add_argument("--params", type=json_object, default={}, metavar="JSON", help="training parameters")
    train.add_argument("--publish", action="store_true", help="publish to the models bucket, apply the gate")
    train.add_argument("--as-challenger", action="store_true", help=_AS_CHALLENGER)
    train.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the report, the charts and the version itself go (its files and manifest.json: what "
        "--publish uploads, `models publish DIR` publishes and `score --model DIR` scores with); "
        "default: .demo/reports/NAME/",
    )

    score_job = Job("score", Deferred("creditscore.cli.scoring:cmd_score"), ("train",))
    score = _command(
        sub,
        score_job,
        "Score a CSV or Parquet file of rows with a model from the registry or a directory `train --out` "
        "wrote; rows that cannot be scored go to a rejects file with why.",
    )
    score.add_argument(
        "--model",
        required=True,
        metavar="NAME[@VERSION]|DIR",
        help="a model's current version in the models bucket, its VERSION, or the version `train --out DIR` "
        "wrote (an existing directory, or anything written as a path, is a DIR)",
    )
    score.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="the rows: a local .csv or .parquet file or s3://bucket/key.csv|.parquet, with a column per "
        "model feature (raw values, named as the manifest's features)",
    )
    score.add_argument(
        "--out", type=scores_file, required=True, metavar="FILE", help="the scores: .csv or .parquet"
    )
    score.add_argument(
        "--rejects",
        type=Path,
        default=None,
        metavar="FILE",
        help="the rows that could not be scored and why: Parquet when FILE ends in .parquet, else CSV "
        "(default: beside --out, NAME.rejects.csv)",
    )
    score.add_argument(
        "--id-column",
        default=None,
        metavar="COL",
        help="the column that identifies a row in the output (default: the first column named national_id, "
        "id or *_id; else the row number)",
    )
    score.add_argument(
        "--reasons",
        type=reason_count,
        default=0,
        metavar="N",
        help="also each row's N reasons, as the API ranks and screens them (default 0: the model's "
        "explanations cost far more than its scores)",
    )
    score.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=100_000,
        metavar="N",
        help="rows read, scored and written at a time (bounds the memory used; default 100000)",
    )
    score.add_argument(
        "--threads",
        type=thread_count,
        default=None,
        metavar="N",
        help="threads calling the model (default: one per core)",
    )
    score.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this process, a chunk at a time (default); spark: a Spark job (local mode here, "
        "needs the etl extra), --data read by Spark, --out and --rejects written as directories of part "
        "files; --chunk-rows and --threads do not apply",
    )

    models = sub.add_parser("models", help="Inspect and manage the model registry.")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, handler: str, help_: str) -> argparse.ArgumentParser:
        return _command(actions, Job(f"models {name}", Deferred(f"creditscore.cli.models:{handler}")), help_)

    action("list", "cmd_models_list", "Every model and its versions; the current one marked *.")
    show = action("show", "cmd_models_show", "A version's manifest and metrics (default: the current one).")
    show.add_argument("model", metavar="MODEL")
    show.add_argument("version", nargs="?", default=None, metavar="VERSION")
    publish = action(
        "publish",
        "cmd_models_publish",
        "Publish the version `train --out DIR` wrote, every file verified first, through the quality gate "
        "as `train --publish` does (exit 3: published, but the current version stays).",
    )
    publish.add_argument("directory", type=existing_dir, metavar="DIR")
    publish.add_argument("--as-challenger", action="store_true", help=_AS_CHALLENGER)
    promote = action(
        "promote", "cmd_models_promote", "Make VERSION current; the old one goes on the history."
    )
    promote.add_argument("model", metavar="MODEL")
    promote.add_argument("version", metavar="VERSION")
    rollback = action("rollback", "cmd_models_rollback", "Make the previously current version current again.")
    rollback.add_argument("model", metavar="MODEL")

    def challenge_action(name: str, handler: str, help_: str) -> argparse.ArgumentParser:
        job = Job(f"models {name}", Deferred(f"creditscore.cli.challenge:{handler}"))
        return _command(actions, job, help_)

    challenge = challenge_action(
        "challenge",
        "cmd_models_challenge",
        "Set MODEL's challenger to VERSION (shadow: scored beside every request, never the answer; split: "
        "the answer for --share of customers, by a hash of the national ID), --clear it, or --promote it "
        "to current (recorded with the compare figures); with MODEL alone, show it.",
    )
    challenge.add_argument("model", metavar="MODEL")
    challenge.add_argument("version", nargs="?", default=None, metavar="VERSION")
    challenge.add_argument("--mode", choices=("shadow", "split"), default=None, help="default: shadow")
    challenge.add_argument(
        "--share", type=float, default=None, metavar="SHARE", help="split only: share in (0, 1], default 0.1"
    )
    what = challenge.add_mutually_exclusive_group()
    what.add_argument("--clear", action="store_true", help="stop challenging; the service unloads it")
    what.add_argument("--promote", action="store_true", help="make the challenger current and record it")
    challenge.add_argument("--by", default=None, metavar="NAME", help="--promote: who decided (default: you)")
    challenge.add_argument(
        "--hours", type=int, default=24, metavar="N", help="--promote: the window of the recorded figures"
    )
    compare = challenge_action(
        "compare",
        "cmd_models_compare",
        "MODEL's challengers judged from the score history: shadow band agreement, mean absolute score "
        "difference and challenger latency, and split answers, by challenger version.",
    )
    compare.add_argument("model", metavar="MODEL")
    compare.add_argument("--hours", type=int, default=24, metavar="N", help="the window (default: 24)")
    return parser


@contextmanager
def _declared(job: Job) -> Iterator[None]:
    """A module of an extra the job does not declare, missing: the same answer as for a declared one."""
    try:
        yield
    except ModuleNotFoundError as error:
        extras = extras_providing(error.name or "")
        if not extras:
            raise
        raise MissingExtra(job.name, extras, [error.name or ""]) from error


def _load(args: argparse.Namespace) -> Handler:
    """The job's handler, its extras checked first."""
    job: Job = args.job
    job.require()
    with _declared(job):
        handler: Handler = job.handler.load()
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler = _load(args)
    except MissingExtra as error:
        print(error, file=sys.stderr)
        return 1
    try:
        settings = load_settings()
    except ConfigError as error:
        parser.exit(2, f"creditscore: configuration error: {error}\n")
    configure_logging(settings)
    signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    try:
        with _declared(args.job):
            code: int = handler(args, settings)
    except MissingExtra as error:
        print(error, file=sys.stderr)
        return 1
    except (JobError, ValueError) as error:
        print(f"creditscore {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
