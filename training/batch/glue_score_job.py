"""AWS Glue 5.0 entry point of batch scoring: ``creditscore score --engine spark`` on ``s3://`` paths, for a
book too large for one machine. modules/ml's on-demand job ``{prefix}-score-book`` runs it (no trigger: an
operator or a schedule starts it, docs/operations.md).

Job arguments (``--NAME value``): MODELS_BUCKET, MODEL (``NAME`` for its current version, or
``NAME@VERSION``), INPUT (``s3://`` of a .csv or .parquet file, or of a folder so named holding part
files), OUTPUT (``s3://`` ending .parquet or .csv: a folder of part files, replaced), and optionally
REJECTS (default: beside OUTPUT, ``{stem}.rejects.csv``), ID_COLUMN (default: found as ``creditscore
score`` finds it) and REASONS (reason codes per row, default 0). The scoring is
:func:`training.batch.spark_scoring.score_to`, the code of ``--engine spark``: every row either scored or
in the rejects with its reason, column and value. A JSON summary (rows read, scored, rejected by reason)
ends the run's output log.

The ``creditscore`` wheel rides along through ``--additional-python-modules`` (its entry points register the
scorers), so Glue imports the same code the tests ran. Run locally exactly so, against the local endpoints
(``CREDITSCORE_AWS_ENDPOINT_URL``); Spark local mode has no S3 connector, so there the input is staged
through a temporary directory and the outputs uploaded to the keys Glue would write
(:mod:`training.batch.s3_staging`)::

    python -m training.batch.glue_score_job --JOB_NAME local --MODELS_BUCKET creditscore-dev-models \
        --MODEL xgboost-new-customer --INPUT s3://creditscore-dev-cleaned/books/2026-12.csv \
        --OUTPUT s3://creditscore-dev-cleaned/scores/2026-12/scores.parquet
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Final, NoReturn

import boto3
from pyspark.sql import SparkSession

from creditscore import aws
from creditscore.config import Settings, load_settings
from creditscore.errors import JobError
from etl.glue_args import resolved_options
from training.batch import BatchScoringError
from training.batch.run import REJECTS_SUFFIX
from training.batch.s3_staging import download, split_uri, upload
from training.batch.source import LoadedModel, load_model
from training.batch.spark_scoring import score_to

REQUIRED: Final = ["JOB_NAME", "MODELS_BUCKET", "MODEL", "INPUT", "OUTPUT"]
OPTIONAL: Final = ["REJECTS", "ID_COLUMN", "REASONS"]


@dataclasses.dataclass(frozen=True)
class Paths:
    """The run's three ``s3://`` locations, checked before anything is read or written."""

    data: str
    out: str
    rejects: str

    @classmethod
    def of(cls, args: dict[str, str]) -> Paths:
        data, out = args["INPUT"], args["OUTPUT"].rstrip("/")
        rejects = (args.get("REJECTS") or _rejects_beside(out)).rstrip("/")
        for name, uri in (("INPUT", data), ("OUTPUT", out), ("REJECTS", rejects)):
            try:
                split_uri(uri)
            except BatchScoringError:
                _refuse(f"--{name} {uri!r} is not s3://BUCKET/KEY")
        if PurePosixPath(out).suffix.lower() not in (".parquet", ".csv"):
            _refuse(f"--OUTPUT {out} must end with .parquet or .csv")
        # Each output folder is replaced whole: one inside the other would lose the first one written.
        if _within(out, rejects) or _within(rejects, out):
            _refuse(f"--OUTPUT {out} and --REJECTS {rejects} must be apart")
        # Spark's overwrite clears an output folder before the input is read: the book would be gone.
        if any(_within(data.rstrip("/"), output) for output in (out, rejects)):
            _refuse(
                f"--INPUT {data} would be overwritten by the outputs: choose another --OUTPUT or --REJECTS"
            )
        return cls(data, out, rejects)


def _refuse(message: str) -> NoReturn:
    raise BatchScoringError(message)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def _rejects_beside(out: str) -> str:
    """``s3://b/scores/x.parquet`` -> ``s3://b/scores/x.rejects.csv``, as ``creditscore score`` names it."""
    folder, _, name = out.rpartition("/")
    return f"{folder}/{name.removesuffix(PurePosixPath(name).suffix)}{REJECTS_SUFFIX}"


def _model_spec(spec: str) -> str:
    # A directory means the machine it is on; Glue reads versions from the models bucket only.
    if "/" in spec or spec.startswith("."):
        _refuse(f"--MODEL {spec!r}: name a published version, NAME or NAME@VERSION")
    return spec


@contextmanager
def _glue_session(job_name: str, args: dict[str, str]) -> Iterator[SparkSession | None]:
    """Glue's session, committed when the run succeeds; None outside Glue."""
    try:
        from awsglue.context import GlueContext  # type: ignore[import-not-found]
        from awsglue.job import Job  # type: ignore[import-not-found]
    except ImportError:
        yield None
        return
    from pyspark.context import SparkContext

    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(job_name, args)
    yield glue.spark_session
    job.commit()


def _score_staged(
    settings: Settings, loaded: LoadedModel, paths: Paths, id_column: str | None, reasons: int
) -> dict[str | None, int]:
    """Outside Glue: the same scoring on local copies, the outputs uploaded as Glue's Spark writes them."""
    from etl.spark import local_session

    s3 = aws.client("s3", settings)
    with tempfile.TemporaryDirectory(prefix="creditscore-score-") as tmp:
        work = Path(tmp)
        data = download(s3, paths.data, work / "in")
        out = work / "out" / PurePosixPath(paths.out).name
        rejects = work / "rejects" / PurePosixPath(paths.rejects).name
        spark = local_session("creditscore-score")
        counted = score_to(spark, loaded, str(data), out, rejects, id_column=id_column, reasons=reasons)
        upload(s3, out, paths.out)
        upload(s3, rejects, paths.rejects)
    return counted


def main(argv: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    args = resolved_options(argv, REQUIRED, OPTIONAL)
    paths = Paths.of(args)
    try:
        reasons = int(args.get("REASONS") or 0)
    except ValueError:
        raise BatchScoringError(f"--REASONS {args['REASONS']!r} is not a whole number") from None
    settings = load_settings()
    settings = dataclasses.replace(
        settings,
        models_bucket=args["MODELS_BUCKET"],
        # A Glue job has no CREDITSCORE_* environment: its region is the one boto3 finds where it runs.
        aws_region=boto3.session.Session().region_name or settings.aws_region,
    )
    loaded = load_model(_model_spec(args["MODEL"]), settings)
    id_column = args.get("ID_COLUMN") or None
    with _glue_session(args["JOB_NAME"], args) as spark:
        if spark is None:
            counted = _score_staged(settings, loaded, paths, id_column, reasons)
        else:
            counted = score_to(
                spark, loaded, paths.data, paths.out, paths.rejects, id_column=id_column, reasons=reasons
            )
    scored = counted.pop(None, 0)
    rejected = {str(reason): count for reason, count in sorted(counted.items(), key=lambda kv: str(kv[0]))}
    seconds = time.perf_counter() - started
    summary = {
        "model": loaded.manifest.model,
        "version": loaded.manifest.version,
        "origin": loaded.origin,
        "input": paths.data,
        "output": paths.out,
        "rejects": paths.rejects,
        "read": scored + sum(rejected.values()),
        "scored": scored,
        "rejected": rejected,
        "seconds": round(seconds, 3),
    }
    print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    try:
        main(sys.argv)
    except JobError as error:
        # The reason, not a traceback, in the run's error log; a non-zero exit fails the run.
        print(f"creditscore score-book: {error}", file=sys.stderr)
        sys.exit(1)
