"""The ETL as one function of paths: raw CSV in, features, identity, clean transactions and quarantine out.

The same function runs in Glue (``s3://`` paths) and locally (staged directories), so there is one ETL.

Outputs under ``out_root``:

- ``features/snapshot=S/`` — one row per customer: national_id, every feature, the label, features_as_of
- ``identity/snapshot=S/`` — national_id, full_name, email, phone_number (kept apart from training data)
- ``transactions/snapshot=S/`` — the clean, deduplicated transactions of known customers
- ``quarantine/snapshot=S/source=…/`` — every row not written: source, reason, field, original record
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import schemas, validate
from etl.build_features import IDENTITY_COLUMNS, feature_table
from etl.schemas import SourceSchema


@dataclass
class SourceCounts:
    read: int = 0
    written: int = 0
    quarantined: int = 0
    superseded: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.quarantined + self.superseded


@dataclass
class EtlReport:
    snapshot: str
    features_as_of: str
    started_at: str
    seconds: float
    sources: dict[str, SourceCounts]
    customers_without_transactions: int
    customers_without_social: int


@dataclass(frozen=True)
class _Checked:
    checked: DataFrame
    deduplicated: validate.Deduplicated


def _check(spark: SparkSession, path: str, schema: SourceSchema, now: datetime) -> _Checked:
    checked = validate.check(validate.read_raw(spark, path, schema), schema, now)
    deduplicated = validate.latest_wins(validate.valid_rows(checked, schema), schema)
    # Each is read by several outputs and counts: compute once.
    checked.persist(StorageLevel.MEMORY_AND_DISK)
    deduplicated.ranked.persist(StorageLevel.MEMORY_AND_DISK)
    return _Checked(checked, deduplicated)


def _features_as_of(transactions: DataFrame) -> date:
    """The day after the latest transaction: trailing windows end where the data ends."""
    latest = transactions.agg(F.max("timestamp")).first()
    if latest is None or latest[0] is None:
        raise ValueError(
            "no valid transactions: cannot place the feature windows; pass an explicit as-of date"
        )
    day: date = latest[0].date()
    return day + timedelta(days=1)


def _count(checked: _Checked, written: DataFrame, unknown: int = 0) -> SourceCounts:
    reasons = validate.problem_counts(checked.checked)
    valid = reasons.pop(None, 0)
    kept = checked.deduplicated.kept.count()
    counts = SourceCounts(
        read=valid + sum(reasons.values()),
        written=written.count(),
        quarantined=sum(reasons.values()) + unknown,
        superseded=valid - kept,
    )
    counts.reasons = {str(k): v for k, v in reasons.items()}
    if counts.superseded:
        counts.reasons["duplicate"] = counts.superseded
    if unknown:
        counts.reasons["unknown_customer"] = unknown
    counts.reasons = dict(sorted(counts.reasons.items()))
    return counts


def run(
    spark: SparkSession,
    raw_paths: Mapping[str, str],
    out_root: str,
    snapshot: str,
    now: datetime,
    as_of: date | None = None,
) -> EtlReport:
    """Validate, deduplicate, join and featurise; write every output; account for every row read."""
    started = datetime.now().astimezone()
    checked = {s.source.name: _check(spark, raw_paths[s.source.name], s, now) for s in schemas.SCHEMAS}
    customers = checked["customers"].deduplicated.kept
    customer_ids = customers.select("national_id")
    transactions, unknown_transactions = validate.known_customers(
        checked["transactions"].deduplicated.kept, customer_ids, schemas.TRANSACTIONS
    )
    social, unknown_social = validate.known_customers(
        checked["social"].deduplicated.kept, customer_ids, schemas.SOCIAL
    )
    transactions = transactions.persist(StorageLevel.MEMORY_AND_DISK)

    quarantine = reduce(
        DataFrame.unionByName,
        [validate.rejected_rows(c.checked, s) for s, c in zip(schemas.SCHEMAS, checked.values(), strict=True)]
        + [c.deduplicated.superseded for c in checked.values()]
        + [unknown_transactions, unknown_social],
    )
    quarantine.write.mode("overwrite").partitionBy("source").parquet(
        f"{out_root}/quarantine/snapshot={snapshot}"
    )

    as_of = as_of or _features_as_of(transactions)
    table = feature_table(customers, transactions, social, as_of)
    table.write.mode("overwrite").parquet(f"{out_root}/features/snapshot={snapshot}")
    customers.select(*IDENTITY_COLUMNS).write.mode("overwrite").parquet(
        f"{out_root}/identity/snapshot={snapshot}"
    )
    transactions.write.mode("overwrite").parquet(f"{out_root}/transactions/snapshot={snapshot}")

    written_transactions = transactions.count()
    written_social = social.count()
    counts = {
        "customers": _count(checked["customers"], customers),
        "transactions": _count(
            checked["transactions"],
            transactions,
            unknown=checked["transactions"].deduplicated.kept.count() - written_transactions,
        ),
        "social": _count(
            checked["social"], social, unknown=checked["social"].deduplicated.kept.count() - written_social
        ),
    }
    with_transactions = transactions.select("national_id").distinct().count()
    with_social = social.select("national_id").distinct().count()
    report = EtlReport(
        snapshot=snapshot,
        features_as_of=as_of.isoformat(),
        started_at=started.isoformat(timespec="seconds"),
        seconds=round((datetime.now().astimezone() - started).total_seconds(), 1),
        sources=counts,
        customers_without_transactions=counts["customers"].written - with_transactions,
        customers_without_social=counts["customers"].written - with_social,
    )
    for c in checked.values():
        c.checked.unpersist()
        c.deduplicated.ranked.unpersist()
    transactions.unpersist()
    return report
