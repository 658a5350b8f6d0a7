"""Clean rows in, one feature row per customer out, following the definitions in
:mod:`creditscore.domain.features`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Final

import pandas as pd
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from creditscore.domain import features
from creditscore.domain.features import FORM_FIELDS

IDENTITY_COLUMNS: Final = ("national_id", "full_name", "email", "phone_number")


def _application_batches(batches: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    for batch in batches:
        derived = features.application_features({c: batch[c].to_numpy() for c in FORM_FIELDS})
        yield pd.DataFrame({"national_id": batch["national_id"], **derived})


def application(customers: DataFrame) -> DataFrame:
    """The ten application features, computed by the same function the scoring service runs."""
    schema = T.StructType(
        [T.StructField("national_id", T.StringType())]
        + [T.StructField(name, T.DoubleType()) for name in features.names(features.APPLICATION)]
    )
    return customers.select("national_id", *FORM_FIELDS).mapInPandas(_application_batches, schema)


def _share(part: SparkColumn, whole: SparkColumn) -> SparkColumn:
    return F.when(whole > 0, F.coalesce(part, F.lit(0.0)) / whole).otherwise(F.lit(0.0))


def transaction_aggregates(transactions: DataFrame, as_of: date) -> DataFrame:
    """Per customer, every windowed transaction feature, in one pass over the transactions.

    A window of w months is [as_of − w months, as_of). Windows without transactions give 0.
    """
    end = F.lit(as_of).cast(T.TimestampType())
    credit = F.col("direction") == "credit"
    debit = F.col("direction") == "debit"
    aggregates: list[SparkColumn] = []
    for w in features.WINDOWS_MONTHS:
        inside = (F.col("timestamp") >= F.add_months(F.lit(as_of), -w).cast(T.TimestampType())) & (
            F.col("timestamp") < end
        )

        def within(condition: SparkColumn, value: SparkColumn, inside: SparkColumn = inside) -> SparkColumn:
            return F.when(inside & condition, value)

        debits = F.sum(within(debit, F.col("amount")))
        balance = within(F.lit(True), F.col("balance_after"))
        aggregates += [
            (F.coalesce(F.sum(within(credit, F.col("amount"))), F.lit(0.0)) / w).alias(f"inflow_mean_{w}m"),
            (F.coalesce(debits, F.lit(0.0)) / w).alias(f"outflow_mean_{w}m"),
            (
                F.count_distinct(within(F.col("category") == "salary", F.date_trunc("month", "timestamp")))
                / w
            ).alias(f"salary_regularity_{w}m"),
            F.coalesce(F.avg(balance), F.lit(0.0)).alias(f"balance_mean_{w}m"),
            F.coalesce(F.stddev_pop(balance), F.lit(0.0)).alias(f"balance_volatility_{w}m"),
            F.coalesce(F.min(balance), F.lit(0.0)).alias(f"balance_min_{w}m"),
            F.count_distinct(within(F.col("balance_after") < 0, F.to_date("timestamp")))
            .cast(T.DoubleType())
            .alias(f"overdraft_days_{w}m"),
            _share(F.sum(within(debit & (F.col("category") == "gambling"), F.col("amount"))), debits).alias(
                f"gambling_share_{w}m"
            ),
            _share(
                F.sum(within(debit & (F.col("category") == "cash_advance"), F.col("amount"))), debits
            ).alias(f"cash_advance_share_{w}m"),
            F.count(within(F.lit(True), F.lit(1))).cast(T.DoubleType()).alias(f"txn_count_{w}m"),
        ]
    return transactions.groupBy("national_id").agg(*aggregates)


def feature_table(customers: DataFrame, transactions: DataFrame, social: DataFrame, as_of: date) -> DataFrame:
    """One row per valid customer: national_id, every feature (as double), the label, features_as_of.

    Customers without transactions or without a social row get 0 for those features.
    """
    transaction_names = features.names(features.TRANSACTION)
    social_names = features.names(features.SOCIAL)
    traditional = customers.select(
        "national_id",
        *[F.col(n).cast(T.DoubleType()).alias(n) for n in features.names(features.TRADITIONAL)],
        F.col(features.LABEL).cast(T.IntegerType()).alias(features.LABEL),
    )
    social_features = social.select(
        "national_id", *[F.col(n).cast(T.DoubleType()).alias(n) for n in social_names]
    )
    table = (
        application(customers)
        .join(traditional, "national_id")
        .join(transaction_aggregates(transactions, as_of), "national_id", "left")
        .join(social_features, "national_id", "left")
        .fillna(0.0, subset=transaction_names + social_names)
    )
    ordered = [n for f in features.GROUPS for n in features.names(f)]
    return table.select(
        "national_id", *ordered, features.LABEL, F.lit(as_of.isoformat()).alias("features_as_of")
    )
