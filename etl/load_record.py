"""What a finished load leaves in the cleaned bucket: its report, and the pointer to the newest snapshot.

- ``reports/snapshot=S/load_report.json`` beside the ETL's report: the row accounting of
  :class:`etl.load_customers.LoadSummary` (rows = items written + rows rejected, per reason).
- ``snapshots/latest.json``: ``{"snapshot", "features", "loaded_at"}``, moved only forward (a re-load of an
  older snapshot leaves it), written last. A snapshot is complete once it is both cleaned and loaded, so
  this is what the cloud's retraining reads to train on the newest complete snapshot (modules/ml's state
  machine, through the S3 SDK integration: it cannot list folders and pick the newest by itself).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from creditscore import aws

if TYPE_CHECKING:
    from etl.load_customers import LoadSummary

LOAD_REPORT_NAME: Final = "load_report.json"
LATEST_SNAPSHOT_KEY: Final = "snapshots/latest.json"


def load_report_key(snapshot: str) -> str:
    return f"reports/snapshot={snapshot}/{LOAD_REPORT_NAME}"


def _put_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def latest_loaded(s3: Any, bucket: str) -> str | None:
    """The snapshot the pointer names, or None before the first load."""
    try:
        body = s3.get_object(Bucket=bucket, Key=LATEST_SNAPSHOT_KEY)["Body"].read()
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    return str(json.loads(body)["snapshot"])


def record_load(s3: Any, bucket: str, summary: LoadSummary, loaded_at: str, features: str) -> bool:
    """Write the load's report, then move the pointer to the snapshot (whose features are under the prefix
    ``features``) if it is the newest; True when it moved."""
    report = {**asdict(summary), "rows_rejected": summary.rows_rejected, "loaded_at": loaded_at}
    report["seconds"] = round(summary.seconds, 3)
    _put_json(s3, bucket, load_report_key(summary.snapshot), report)
    current = latest_loaded(s3, bucket)
    # Snapshot ids are ISO dates: the newest sorts last.
    if current is not None and current > summary.snapshot:
        return False
    pointer = {"snapshot": summary.snapshot, "features": features, "loaded_at": loaded_at}
    _put_json(s3, bucket, LATEST_SNAPSHOT_KEY, pointer)
    return True
