"""AWS Glue 5.0 entry point of the load: ``creditscore load-customers`` on the cleaned bucket, started by the
Glue workflow once the ETL job has succeeded (modules/ml's conditional trigger).

Job arguments (``--name value``): CLEANED_BUCKET, CUSTOMERS_TABLE and optionally SNAPSHOT (default: the
newest snapshot under ``features/``, the one the ETL just wrote). The load is
:func:`etl.load_customers.load_customers`, as on a laptop: every row validated before the first write, the
merge-not-overwrite writes, the quarantine, the count check, then the report and the newest-snapshot pointer
(:mod:`etl.load_record`) that starts retraining. It needs no Spark (pyarrow reads the parts); it is a
``glueetl`` job because Glue's Python shell jobs stop at Python 3.9.

Run locally exactly so, against the local endpoints (``CREDITSCORE_AWS_ENDPOINT_URL``)::

    python -m etl.glue_load_job --JOB_NAME local --CLEANED_BUCKET creditscore-dev-cleaned \
        --CUSTOMERS_TABLE creditscore-dev-customers
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Final

import boto3

from creditscore import aws
from creditscore.config import load_settings
from etl.glue_args import resolved_options
from etl.load_customers import LoadSummary, latest_snapshot, load_customers

REQUIRED: Final = ["JOB_NAME", "CLEANED_BUCKET", "CUSTOMERS_TABLE"]
OPTIONAL: Final = ["SNAPSHOT"]


def main(argv: list[str]) -> LoadSummary:
    args = resolved_options(argv, REQUIRED, OPTIONAL)
    settings = load_settings()
    settings = dataclasses.replace(
        settings,
        cleaned_bucket=args["CLEANED_BUCKET"],
        customers_table=args["CUSTOMERS_TABLE"],
        # A Glue job has no CREDITSCORE_* environment: its region is the one boto3 finds where it runs.
        aws_region=boto3.session.Session().region_name or settings.aws_region,
    )
    snapshot = args.get("SNAPSHOT") or latest_snapshot(aws.client("s3", settings), settings.cleaned_bucket)
    # No progress bar: CloudWatch keeps every redraw as a line.
    summary = load_customers(settings, snapshot, progress=False)
    print(json.dumps({**dataclasses.asdict(summary), "rows_rejected": summary.rows_rejected}, sort_keys=True))
    return summary


if __name__ == "__main__":
    main(sys.argv)
