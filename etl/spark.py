"""The local Spark session (Glue builds its own; see etl/glue_job.py)."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession


def local_session(app_name: str = "creditscore-etl", driver_memory: str = "6g") -> SparkSession:
    # Sessions are per-process singletons: settings only apply to the first one built.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[*]")
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "true")
        # Timestamps in the raw data are UTC; parse them as such whatever the machine's zone.
        .config("spark.sql.session.timeZone", "UTC")
        # Two cores: a few shuffle partitions beat the default 200 tiny tasks.
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark
