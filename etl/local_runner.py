"""``creditscore etl``: the ETL in Spark local mode, reading the raw bucket and writing the cleaned bucket.

Spark here has no S3 connector, so the raw objects are staged from the configured endpoint into a
temporary directory and the outputs uploaded back. A re-run of a snapshot replaces it: its old objects are
deleted first, and the report, written last, marks a complete snapshot.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import structlog

from creditscore import aws
from creditscore.config import Settings
from creditscore.errors import JobError
from etl import pipeline, report
from etl.ingest import latest_ingest_date, list_objects, raw_key
from etl.sources import SOURCES
from etl.spark import local_session

OUTPUTS: Final = ("quarantine", "identity", "transactions", "features")

log = structlog.get_logger(__name__)


class EtlError(JobError):
    """The raw data for the run is missing or incomplete."""


def _stage(s3: Any, bucket: str, ingest_date: date, into: Path) -> dict[str, str]:
    paths: dict[str, str] = {}
    for source in SOURCES:
        key = raw_key(source, ingest_date)
        target = into / source.name / source.file_name
        target.parent.mkdir(parents=True)
        try:
            s3.download_file(bucket, key, str(target))
        except Exception as error:
            raise EtlError(
                f"s3://{bucket}/{key} could not be read ({error}); ingest all three sources"
            ) from error
        paths[source.name] = str(target)
    return paths


def _delete_prefix(s3: Any, bucket: str, prefix: str) -> None:
    keys = [key for key, _ in list_objects(s3, bucket) if key.startswith(prefix)]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def _upload_tree(s3: Any, bucket: str, root: Path, prefix: str) -> int:
    uploaded = 0
    for path in sorted(root.rglob("*")):
        # Spark's .crc side files and _SUCCESS markers mean nothing outside Hadoop's filesystem.
        if path.is_file() and not path.name.endswith(".crc") and path.name != "_SUCCESS":
            s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}")
            uploaded += 1
    return uploaded


def run_local(
    settings: Settings, ingest_date: date | None, snapshot: str | None, as_of: date | None = None
) -> pipeline.EtlReport:
    s3 = aws.client("s3", settings)
    ingest_date = ingest_date or latest_ingest_date(s3, settings.raw_bucket)
    snapshot = snapshot or ingest_date.isoformat()
    with tempfile.TemporaryDirectory(prefix="creditscore-etl-") as tmp:
        work = Path(tmp)
        raw_paths = _stage(s3, settings.raw_bucket, ingest_date, work / "raw")
        out = work / "out"
        spark = local_session()
        result = pipeline.run(spark, raw_paths, out.as_uri(), snapshot, now=datetime.now(UTC), as_of=as_of)
        report_path = out / "reports" / f"snapshot={snapshot}" / report.REPORT_NAME
        report_path.parent.mkdir(parents=True)
        report_path.write_text(report.to_json(result))
        for output in (*OUTPUTS, "reports"):
            prefix = f"{output}/snapshot={snapshot}"
            _delete_prefix(s3, settings.cleaned_bucket, prefix + "/")
            files = _upload_tree(s3, settings.cleaned_bucket, out / output / f"snapshot={snapshot}", prefix)
            log.info("etl output uploaded", output=output, snapshot=snapshot, files=files)
    return result
