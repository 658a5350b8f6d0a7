"""AWS Glue 5.0 entry point (Spark 3.5, Python 3.11): the pipeline of ``creditscore etl``, on s3:// paths.

Job arguments (``--name value``): RAW_BUCKET, CLEANED_BUCKET, and optionally INGEST_DATE (YYYY-MM-DD;
default: the newest raw partition, as a run started by new raw objects gets no date), SNAPSHOT (default:
the ingest date) and AS_OF (default: the day after the latest transaction). The ``etl``
package rides along through ``--extra-py-files``; Terraform's ``ml`` module uploads both.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import boto3

from etl import pipeline, report
from etl.glue_args import resolved_options
from etl.ingest import latest_ingest_date, raw_key
from etl.sources import SOURCES

REQUIRED = ["JOB_NAME", "RAW_BUCKET", "CLEANED_BUCKET"]
OPTIONAL = ["INGEST_DATE", "SNAPSHOT", "AS_OF"]


def main(argv: list[str]) -> pipeline.EtlReport:
    from awsglue.context import GlueContext  # type: ignore[import-not-found]
    from awsglue.job import Job  # type: ignore[import-not-found]
    from pyspark.context import SparkContext

    args = resolved_options(argv, REQUIRED, OPTIONAL)
    glue = GlueContext(SparkContext.getOrCreate())
    job = Job(glue)
    job.init(args["JOB_NAME"], args)

    s3 = boto3.client("s3")
    ingest_date = (
        date.fromisoformat(args["INGEST_DATE"])
        if args.get("INGEST_DATE")
        else latest_ingest_date(s3, args["RAW_BUCKET"])
    )
    snapshot = args.get("SNAPSHOT") or ingest_date.isoformat()
    as_of = date.fromisoformat(args["AS_OF"]) if args.get("AS_OF") else None
    raw_paths = {s.name: f"s3://{args['RAW_BUCKET']}/{raw_key(s, ingest_date)}" for s in SOURCES}
    result = pipeline.run(
        glue.spark_session,
        raw_paths,
        f"s3://{args['CLEANED_BUCKET']}",
        snapshot,
        now=datetime.now(UTC),
        as_of=as_of,
    )
    s3.put_object(
        Bucket=args["CLEANED_BUCKET"],
        Key=f"reports/snapshot={snapshot}/{report.REPORT_NAME}",
        Body=report.to_json(result).encode(),
        ContentType="application/json",
    )
    print(report.to_table(result))
    job.commit()
    return result


if __name__ == "__main__":
    main(sys.argv)
