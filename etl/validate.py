"""Parse, type and check raw rows; split them into valid rows and quarantined rows with a reason code.

Reason codes (the first problem found, in column order, wins):

| code | meaning |
| --- | --- |
| `malformed_record` | the line does not parse as a record (broken quoting, wrong field count) |
| `missing_value` | a required field is empty |
| `malformed_id` | `national_id` is not 9 or 12 digits |
| `malformed_email`, `malformed_phone` | not an email address / a Vietnamese phone number |
| `non_numeric` | a numeric field does not parse as a number (or a count is not whole) |
| `negative_value` | money or a count below zero |
| `impossible_age` | age outside 18–100 |
| `out_of_range` | any other value outside its documented range |
| `bad_flag` | a yes/no field that is not true/false/1/0/yes/no |
| `bad_timestamp` | a timestamp not in `YYYY-MM-DD HH:MM:SS` |
| `future_date` | a timestamp after the ETL run |
| `bad_category` | a direction or category outside the documented lists |
| `duplicate` | superseded by a later record with the same key (kept in quarantine, counted apart) |
| `unknown_customer` | a transaction or social row whose customer is not among the valid customers |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from creditscore.domain.identity import EMAIL_PATTERN, NATIONAL_ID_PATTERN, PHONE_PATTERN
from etl.schemas import TIMESTAMP_FORMAT, Column, SourceSchema

CORRUPT: Final = "_corrupt_record"
PROBLEM: Final = "_problem"
QUARANTINE_COLUMNS: Final = ("source", "reason", "field", "record")

_TRUE: Final = ("true", "1", "yes")
_FALSE: Final = ("false", "0", "no")


def read_raw(spark: SparkSession, path: str, schema: SourceSchema) -> DataFrame:
    """Every column as a string, plus the raw line of any record that does not parse."""
    struct = T.StructType(
        [T.StructField(name, T.StringType()) for name in schema.source.columns]
        + [T.StructField(CORRUPT, T.StringType())]
    )
    return spark.read.csv(
        path,
        schema=struct,
        header=True,
        # Check the header names against the schema instead of trusting column positions.
        enforceSchema=False,
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT,
        # RFC 4180: a quote inside a quoted field is doubled (Spark's default escape is a backslash).
        escape='"',
        encoding="UTF-8",
    )


def _numeric(raw: SparkColumn) -> SparkColumn:
    return F.trim(raw).cast(T.DoubleType())


def _problems(column: Column, now: datetime) -> list[tuple[SparkColumn, str]]:
    """(violated-condition, reason) pairs for one column, in the order they are checked."""
    raw = F.col(column.name)
    found: list[tuple[SparkColumn, str]] = [(raw.isNull() | (F.trim(raw) == ""), "missing_value")]
    if column.kind == "id":
        found.append((~raw.rlike(NATIONAL_ID_PATTERN), "malformed_id"))
    elif column.kind == "email":
        found.append((~raw.rlike(EMAIL_PATTERN), "malformed_email"))
    elif column.kind == "phone":
        found.append((~raw.rlike(PHONE_PATTERN), "malformed_phone"))
    elif column.kind == "flag":
        found.append((~F.lower(F.trim(raw)).isin(*_TRUE, *_FALSE), "bad_flag"))
    elif column.kind == "choice":
        found.append((~raw.isin(*column.choices), "bad_category"))
    elif column.kind == "timestamp":
        parsed = F.to_timestamp(raw, TIMESTAMP_FORMAT)
        found += [(parsed.isNull(), "bad_timestamp"), (parsed > F.lit(now), "future_date")]
    elif column.kind in ("money", "number", "count"):
        value = _numeric(raw)
        not_number = value.isNull() | F.isnan(value) | (F.abs(value) == float("inf"))
        if column.kind == "count":
            not_number = not_number | (value != F.floor(value))
        found.append((not_number, "non_numeric"))
        if column.minimum == 0:
            found.append((value < 0, "negative_value"))
        elif column.minimum is not None:
            found.append((value < column.minimum, column.range_reason))
        if column.maximum is not None:
            found.append((value > column.maximum, column.range_reason))
    return found


def _typed(column: Column) -> SparkColumn:
    raw = F.col(column.name)
    if column.kind in ("money", "number"):
        return _numeric(raw).alias(column.name)
    if column.kind == "count":
        return _numeric(raw).cast(T.LongType()).alias(column.name)
    if column.kind == "flag":
        return F.lower(F.trim(raw)).isin(*_TRUE).cast(T.IntegerType()).alias(column.name)
    if column.kind == "timestamp":
        return F.to_timestamp(raw, TIMESTAMP_FORMAT).alias(column.name)
    return F.trim(raw).alias(column.name)


def _record(schema: SourceSchema) -> SparkColumn:
    """The original record: the raw line when it did not parse, else its fields as JSON text."""
    fields = F.to_json(F.struct(*[F.col(name) for name in schema.source.columns]))
    return F.coalesce(F.col(CORRUPT), fields)


def check(raw: DataFrame, schema: SourceSchema, now: datetime) -> DataFrame:
    """Each row's first problem as ``reason|field`` (null when valid), its typed values, and for a rejected
    row its original record. Narrower than the raw strings, so it is cheaper to keep in memory."""
    checks = [F.when(F.col(CORRUPT).isNotNull(), F.lit("malformed_record|"))]
    for column in schema.columns:
        for violated, reason in _problems(column, now):
            checks.append(F.when(violated, F.lit(f"{reason}|{column.name}")))
    problem = raw.select("*", F.coalesce(*checks).alias(PROBLEM))
    return problem.select(
        PROBLEM,
        *[_typed(c) for c in schema.columns],
        F.when(F.col(PROBLEM).isNotNull(), _record(schema)).alias("record"),
    )


def valid_rows(checked: DataFrame, schema: SourceSchema) -> DataFrame:
    return checked.filter(F.col(PROBLEM).isNull()).select(*[c.name for c in schema.columns])


def problem_counts(checked: DataFrame) -> dict[str | None, int]:
    """Rows per reason code in one pass; the key None counts the valid rows."""
    reason = F.split(F.col(PROBLEM), r"\|").getItem(0).alias("reason")
    return {row["reason"]: int(row["count"]) for row in checked.groupBy(reason).count().collect()}


def rejected_rows(checked: DataFrame, schema: SourceSchema) -> DataFrame:
    problem = F.split(F.col(PROBLEM), r"\|")
    return checked.filter(F.col(PROBLEM).isNotNull()).select(
        F.lit(schema.source.name).alias("source"),
        problem.getItem(0).alias("reason"),
        F.when(problem.getItem(1) != "", problem.getItem(1)).alias("field"),
        F.col("record"),
    )


@dataclass(frozen=True)
class Deduplicated:
    ranked: DataFrame  # every valid row with its rank; persist it to rank once for both outputs
    kept: DataFrame
    superseded: DataFrame  # in quarantine form


def quarantine_form(rows: DataFrame, schema: SourceSchema, reason: str, field: str | None) -> DataFrame:
    """Valid-but-not-kept rows in the quarantine's columns, their fields as JSON text."""
    as_text = [F.col(c.name).cast(T.StringType()).alias(c.name) for c in schema.columns]
    return rows.select(
        F.lit(schema.source.name).alias("source"),
        F.lit(reason).alias("reason"),
        F.lit(field).cast(T.StringType()).alias("field"),
        F.to_json(F.struct(*as_text)).alias("record"),
    )


def latest_wins(valid: DataFrame, schema: SourceSchema) -> Deduplicated:
    """One row per key: the one with the latest ``latest_by``; ties broken by the record's content."""
    ranked = valid.withColumn(
        "_rank",
        F.row_number().over(
            Window.partitionBy(schema.key).orderBy(
                F.col(schema.latest_by).desc(), F.xxhash64(*[c.name for c in schema.columns])
            )
        ),
    )
    kept = ranked.filter(F.col("_rank") == 1).drop("_rank")
    older = ranked.filter(F.col("_rank") > 1).drop("_rank")
    return Deduplicated(ranked, kept, quarantine_form(older, schema, "duplicate", schema.key))


def known_customers(
    rows: DataFrame, customer_ids: DataFrame, schema: SourceSchema
) -> tuple[DataFrame, DataFrame]:
    """Split rows into those whose national_id is a valid customer and the rest (quarantine form)."""
    known = rows.join(customer_ids, on="national_id", how="left_semi")
    unknown = rows.join(customer_ids, on="national_id", how="left_anti")
    return known, quarantine_form(unknown, schema, "unknown_customer", "national_id")
