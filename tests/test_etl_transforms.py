"""Each ETL transform on small hand-built DataFrames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from creditscore.domain import features
from etl import build_features, schemas, validate
from etl.schemas import SourceSchema

NOW = datetime(2026, 11, 1, tzinfo=UTC)

GOOD_CUSTOMER = {
    "national_id": "001085012345",
    "full_name": "Nguyễn Văn An",
    "email": "an.nguyen1@gmail.com",
    "phone_number": "0912345678",
    "income": "12000000",
    "savings": "3000000",
    "debt": "6000000",
    "has_dependents": "true",
    "has_mortgage": "false",
    "has_savings_account": "true",
    "has_credit_card": "false",
    "age": "34",
    "employment_years": "6",
    "num_past_due_30_59": "0",
    "num_past_due_60_89": "0",
    "num_past_due_90_plus": "0",
    "credit_utilization": "0.35",
    "open_credit_lines": "3",
    "num_credit_inquiries_6m": "1",
    "months_since_oldest_account": "120",
    "default_24m": "0",
    "updated_at": "2026-05-01 10:00:00",
}


def _raw(spark: SparkSession, schema: SourceSchema, rows: Sequence[Mapping[str, str]]) -> DataFrame:
    struct = T.StructType(
        [T.StructField(c, T.StringType()) for c in schema.source.columns]
        + [T.StructField(validate.CORRUPT, T.StringType())]
    )
    return spark.createDataFrame([tuple(r.get(c) for c in struct.fieldNames()) for r in rows], struct)


CUSTOMER_CASES: list[tuple[dict[str, str], str | None, str | None]] = [
    ({}, None, None),
    ({"national_id": "0010850123"}, "malformed_id", "national_id"),
    ({"national_id": "CCCD00108501"}, "malformed_id", "national_id"),
    ({"national_id": "001085012"}, None, None),
    ({"full_name": "  "}, "missing_value", "full_name"),
    ({"email": "an.nguyen1.gmail.com"}, "malformed_email", "email"),
    ({"phone_number": "12345"}, "malformed_phone", "phone_number"),
    ({"income": "12tr"}, "non_numeric", "income"),
    ({"savings": "N/A"}, "non_numeric", "savings"),
    ({"debt": "-5"}, "negative_value", "debt"),
    ({"income": "NaN"}, "non_numeric", "income"),
    ({"has_mortgage": "maybe"}, "bad_flag", "has_mortgage"),
    ({"has_mortgage": "Yes"}, None, None),
    ({"age": "7"}, "impossible_age", "age"),
    ({"age": "-3"}, "impossible_age", "age"),
    ({"age": "150"}, "impossible_age", "age"),
    ({"age": "34.5"}, "non_numeric", "age"),
    ({"num_past_due_30_59": "-1"}, "negative_value", "num_past_due_30_59"),
    ({"credit_utilization": "11"}, "out_of_range", "credit_utilization"),
    ({"default_24m": "2"}, "out_of_range", "default_24m"),
    ({"updated_at": "01/05/2026"}, "bad_timestamp", "updated_at"),
    ({"updated_at": "2031-01-01 00:00:00"}, "future_date", "updated_at"),
    ({validate.CORRUPT: '001085012345,"Nguyễn Văn An,...'}, "malformed_record", None),
]


@pytest.fixture(scope="module")
def checked_cases(spark: SparkSession) -> DataFrame:
    """Every case checked together in one Spark job; rows keep the cases' order (no shuffle)."""
    rows = [{**GOOD_CUSTOMER, **change} for change, _, _ in CUSTOMER_CASES]
    return validate.check(_raw(spark, schemas.CUSTOMERS, rows), schemas.CUSTOMERS, NOW).cache()


@pytest.mark.parametrize("case", range(len(CUSTOMER_CASES)))
def test_check_names_the_first_problem_of_a_customer_row(checked_cases: DataFrame, case: int) -> None:
    _, reason, field = CUSTOMER_CASES[case]
    problem = checked_cases.collect()[case][validate.PROBLEM]
    assert problem == (None if reason is None else f"{reason}|{field or ''}")


def test_rejected_rows_keep_source_reason_field_and_original_record(checked_cases: DataFrame) -> None:
    rejected = validate.rejected_rows(checked_cases, schemas.CUSTOMERS).collect()
    expected = [(reason, field) for _, reason, field in CUSTOMER_CASES if reason is not None]
    assert sorted((r["reason"], r["field"] or "") for r in rejected) == sorted(
        (r, f or "") for r, f in expected
    )
    assert {r["source"] for r in rejected} == {"customers"}
    malformed = next(r for r in rejected if r["reason"] == "malformed_record")
    assert malformed["record"] == '001085012345,"Nguyễn Văn An,...', "an unparsed line is kept as it was read"
    negative = next(r for r in rejected if r["reason"] == "negative_value")
    assert '"debt":"-5"' in negative["record"], "a parsed row is kept as its raw text fields"


def test_valid_rows_are_typed(spark: SparkSession) -> None:
    checked = validate.check(_raw(spark, schemas.CUSTOMERS, [GOOD_CUSTOMER]), schemas.CUSTOMERS, NOW)
    row = validate.valid_rows(checked, schemas.CUSTOMERS).first()
    assert row is not None
    assert (row["income"], row["age"], row["has_dependents"], row["has_mortgage"]) == (12_000_000.0, 34, 1, 0)
    assert row["updated_at"] == datetime(2026, 5, 1, 10, 0, 0)


def test_transactions_reject_unknown_directions_and_categories(spark: SparkSession) -> None:
    base = {
        "transaction_id": "t1",
        "national_id": "001085012345",
        "timestamp": "2026-05-01 10:00:00",
        "amount": "1000",
        "direction": "debit",
        "category": "groceries",
        "balance_after": "-500",
    }
    rows = [base, {**base, "direction": "sideways"}, {**base, "category": "lottery"}]
    checked = validate.check(_raw(spark, schemas.TRANSACTIONS, rows), schemas.TRANSACTIONS, NOW)
    reasons = sorted(r["reason"] for r in validate.rejected_rows(checked, schemas.TRANSACTIONS).collect())
    assert reasons == ["bad_category", "bad_category"]
    assert validate.valid_rows(checked, schemas.TRANSACTIONS).count() == 1, (
        "a negative balance is an overdraft"
    )


def test_latest_record_wins_and_the_older_is_kept_as_superseded(spark: SparkSession) -> None:
    older = {**GOOD_CUSTOMER, "income": "9000000", "updated_at": "2026-01-01 00:00:00"}
    newer = {**GOOD_CUSTOMER, "income": "12000000", "updated_at": "2026-06-01 00:00:00"}
    other = {**GOOD_CUSTOMER, "national_id": "001085099999"}
    checked = validate.check(_raw(spark, schemas.CUSTOMERS, [newer, older, other]), schemas.CUSTOMERS, NOW)
    deduplicated = validate.latest_wins(validate.valid_rows(checked, schemas.CUSTOMERS), schemas.CUSTOMERS)
    kept = {r["national_id"]: r["income"] for r in deduplicated.kept.collect()}
    assert kept == {"001085012345": 12_000_000.0, "001085099999": 12_000_000.0}
    superseded = deduplicated.superseded.collect()
    assert [(r["reason"], r["field"]) for r in superseded] == [("duplicate", "national_id")]
    assert '"income":"9000000.0"' in superseded[0]["record"]


def test_rows_of_unknown_customers_are_quarantined(spark: SparkSession) -> None:
    social = {
        "national_id": "001085012345",
        "account_age_months": "20",
        "num_connections": "100",
        "posts_per_month": "2.5",
        "share_defaulted_connections": "0.1",
        "avg_sentiment": "0.2",
        "verified_profile": "true",
        "updated_at": "2026-05-01 10:00:00",
    }
    rows = [social, {**social, "national_id": "079099999999"}]
    checked = validate.check(_raw(spark, schemas.SOCIAL, rows), schemas.SOCIAL, NOW)
    customers = spark.createDataFrame([("001085012345",)], "national_id string")
    known, unknown = validate.known_customers(
        validate.valid_rows(checked, schemas.SOCIAL), customers, schemas.SOCIAL
    )
    assert [r["national_id"] for r in known.collect()] == ["001085012345"]
    assert [(r["reason"], "079099999999" in r["record"]) for r in unknown.collect()] == [
        ("unknown_customer", True)
    ]


def _transactions(spark: SparkSession, rows: list[tuple[str, str, float, str, str, float]]) -> DataFrame:
    return spark.createDataFrame(
        [(nid, datetime.fromisoformat(ts), amount, d, c, b) for nid, ts, amount, d, c, b in rows],
        "national_id string, timestamp timestamp, amount double, direction string, category string, "
        "balance_after double",
    )


def test_transaction_windows_follow_their_definitions(spark: SparkSession) -> None:
    as_of = date(2026, 7, 1)
    rows = [
        # inside 3 months (from 2026-04-01)
        ("A", "2026-06-25 09:00:00", 10_000_000.0, "credit", "salary", 12_000_000.0),
        ("A", "2026-06-26 10:00:00", 1_000_000.0, "debit", "gambling", 11_000_000.0),
        ("A", "2026-06-27 10:00:00", 3_000_000.0, "debit", "groceries", 8_000_000.0),
        ("A", "2026-05-25 09:00:00", 10_000_000.0, "credit", "salary", 2_000_000.0),
        # inside 6 but not 3 months
        ("A", "2026-02-10 12:00:00", 4_000_000.0, "debit", "cash_advance", -1_000_000.0),
        ("A", "2026-02-10 18:00:00", 1_000_000.0, "debit", "dining", -2_000_000.0),
        # on as_of itself: outside every window
        ("A", "2026-07-01 00:00:00", 99_000_000.0, "credit", "transfer_in", 99_000_000.0),
    ]
    got = build_features.transaction_aggregates(_transactions(spark, rows), as_of).first()
    assert got is not None
    assert got["inflow_mean_3m"] == pytest.approx(20_000_000 / 3)
    assert got["outflow_mean_3m"] == pytest.approx(4_000_000 / 3)
    assert got["outflow_mean_6m"] == pytest.approx(9_000_000 / 6)
    assert got["salary_regularity_3m"] == pytest.approx(2 / 3)
    assert got["salary_regularity_12m"] == pytest.approx(2 / 12)
    assert got["gambling_share_3m"] == pytest.approx(0.25)
    assert got["cash_advance_share_3m"] == 0.0
    assert got["cash_advance_share_6m"] == pytest.approx(4 / 9)
    assert got["overdraft_days_3m"] == 0.0
    assert got["overdraft_days_6m"] == 1.0, "two overdrawn transactions on one day are one day"
    assert got["balance_min_6m"] == -2_000_000.0
    balances = np.array([12e6, 11e6, 8e6, 2e6])
    assert got["balance_mean_3m"] == pytest.approx(balances.mean())
    assert got["balance_volatility_3m"] == pytest.approx(balances.std())
    assert (got["txn_count_3m"], got["txn_count_6m"], got["txn_count_12m"]) == (4.0, 6.0, 6.0)


def test_application_features_match_the_seed_and_guard_zero_income(spark: SparkSession) -> None:
    customers = spark.createDataFrame(
        [("A", 10e6, 5e6, 20e6, 1, 0, 1, 0), ("B", 0.0, 5e6, 1e6, 0, 1, 0, 1)],
        "national_id string, income double, savings double, debt double, has_dependents int, "
        "has_mortgage int, "
        "has_savings_account int, has_credit_card int",
    )
    got = {r["national_id"]: r.asDict() for r in build_features.application(customers).collect()}
    assert list(got["A"])[1:] == features.names(features.APPLICATION)
    assert (got["A"]["savings_to_income"], got["A"]["debt_to_income"], got["A"]["net_worth"]) == (
        0.5,
        2.0,
        -10e6,
    )
    assert (got["B"]["savings_to_income"], got["B"]["debt_to_income"], got["B"]["net_worth"]) == (
        0.0,
        0.0,
        -1e6,
    )
    assert got["B"]["has_credit_card"] == 1.0


def test_the_features_document_is_generated_from_the_registry() -> None:
    from pathlib import Path

    document = (Path(__file__).parents[1] / "docs" / "features.md").read_text()
    assert document == features.markdown(), "run: python -m creditscore.domain.features > docs/features.md"
    assert len({f.name for f in features.FEATURES}) == len(features.FEATURES)
