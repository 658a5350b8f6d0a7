from __future__ import annotations

import io
import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from boto3.dynamodb.types import TypeDeserializer

from creditscore import aws
from creditscore.config import Settings
from etl.features import FEATURES, GROUPS, LABEL, names
from etl.load_customers import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    LoadError,
    LoadSummary,
    WriteRequest,
    check_count,
    latest_snapshot,
    load_customers,
    put_with_retries,
)

SNAPSHOT = "2026-11-27"
_COUNT_UNITS = ("count", "days")
_ITEM_ATTRIBUTES = {
    "national_id",
    "full_name",
    "email",
    "phone_number",
    *GROUPS,
    "features_as_of",
    "snapshot",
    "loaded_at",
}


def _tables(customers: int, seed: int = 3) -> tuple[pa.Table, pa.Table]:
    """A snapshot as Spark writes it: ints for counts, 0/1 flags (one as floats), floats of every scale."""
    rng = np.random.default_rng(seed)
    ids = [f"{n:012d}" for n in rng.choice(10**12, size=customers, replace=False)]
    features: dict[str, Any] = {"national_id": ids}
    for feature in FEATURES:
        if feature.unit in _COUNT_UNITS:
            features[feature.name] = rng.integers(0, 40, customers)
        elif feature.unit == "0/1":
            flags = rng.integers(0, 2, customers)
            features[feature.name] = flags.astype(np.float64) if feature.name == "verified_profile" else flags
        else:
            features[feature.name] = rng.normal(0, 1, customers) * 10.0 ** rng.integers(-4, 9, customers)
    # Values whose DynamoDB form is easy to get wrong.
    features["income"][:3] = [0.1, 2_500_000.0, 1e23]
    features[LABEL] = rng.integers(0, 2, customers)
    features["features_as_of"] = ["2026-11-26"] * customers
    identity = {
        "national_id": ids[::-1],
        "full_name": [f"Nguyễn Văn {n}" for n in range(customers)],
        "email": [f"customer{n}@example.com" for n in range(customers)],
        "phone_number": [f"+8490{n:07d}" for n in range(customers)],
    }
    return pa.table(features), pa.table(identity)


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _put_table(s3: Any, bucket: str, prefix: str, table: pa.Table, parts: int) -> None:
    rows = -(-table.num_rows // parts)
    for part in range(parts):
        key = f"{prefix}part-{part:05d}-c000.snappy.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=_parquet(table.slice(part * rows, rows)))
    # What Spark leaves beside the parts; none of it is parquet a loader should read.
    s3.put_object(Bucket=bucket, Key=f"{prefix}_SUCCESS", Body=b"")
    s3.put_object(Bucket=bucket, Key=f"{prefix}.part-00000-c000.snappy.parquet.crc", Body=b"crc")
    s3.put_object(Bucket=bucket, Key=f"{prefix}_temporary/0/part-00009.parquet", Body=b"not parquet")


def _put_snapshot(
    settings: Settings, features: pa.Table, identity: pa.Table, snapshot: str = SNAPSHOT, parts: int = 2
) -> None:
    s3 = aws.client("s3", settings)
    _put_table(s3, settings.cleaned_bucket, f"features/snapshot={snapshot}/", features, parts)
    _put_table(s3, settings.cleaned_bucket, f"identity/snapshot={snapshot}/", identity, parts)


def _stored(settings: Settings) -> dict[str, dict[str, Any]]:
    deserializer = TypeDeserializer()
    pages = (
        aws.client("dynamodb", settings).get_paginator("scan").paginate(TableName=settings.customers_table)
    )
    items = [
        {k: deserializer.deserialize(v) for k, v in raw.items()} for page in pages for raw in page["Items"]
    ]
    return {item["national_id"]: item for item in items}


def test_each_customer_becomes_one_item_with_features_grouped_as_decimals(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    features, identity = _tables(300)
    _put_snapshot(settings, features, identity, parts=3)

    summary = load_customers(settings, SNAPSHOT, progress=False)

    assert isinstance(summary, LoadSummary)
    assert (summary.snapshot, summary.items_written, summary.items_in_table) == (SNAPSHOT, 300, 300)
    assert summary.retries == 0 and summary.seconds > 0
    stored = _stored(settings)
    assert len(stored) == 300
    rows = features.to_pylist()
    people = {row["national_id"]: row for row in identity.to_pylist()}
    for row in (*rows[:3], rows[150], rows[-1]):
        item = stored[row["national_id"]]
        assert set(item) == _ITEM_ATTRIBUTES
        assert {name: item[name] for name in identity.column_names} == people[row["national_id"]]
        for group in GROUPS:
            assert sorted(item[group]) == sorted(names(group))
            for name, value in item[group].items():
                assert isinstance(value, Decimal)
                assert value == Decimal(repr(float(row[name]))), name
                assert float(value) == row[name], f"{name} must round-trip exactly"
        assert (item["features_as_of"], item["snapshot"]) == ("2026-11-26", SNAPSHOT)
        assert datetime.fromisoformat(item["loaded_at"]).utcoffset() == timedelta(0)
    incomes = [str(stored[row["national_id"]]["application"]["income"]) for row in rows[:3]]
    assert incomes == ["0.1", "2500000", "1E+23"]
    assert all(LABEL not in item and all(LABEL not in item[g] for g in GROUPS) for item in stored.values())
    logged = "".join(capsys.readouterr())
    assert "customers loaded" in logged and "300" in logged
    assert not any(row["national_id"] in logged for row in rows), "no raw national ID in the logs"


def test_rerunning_a_snapshot_rewrites_the_same_items(settings: Settings) -> None:
    features, identity = _tables(120)
    _put_snapshot(settings, features, identity)
    load_customers(settings, SNAPSHOT, progress=False)
    first = _stored(settings)

    again = load_customers(settings, SNAPSHOT, progress=False)

    second = _stored(settings)
    assert again.items_written == again.items_in_table == len(second) == len(first) == 120
    for national_id, item in first.items():
        assert {k: v for k, v in second[national_id].items() if k != "loaded_at"} == {
            k: v for k, v in item.items() if k != "loaded_at"
        }


def test_latest_snapshot_is_the_newest(settings: Settings) -> None:
    s3 = aws.client("s3", settings)
    with pytest.raises(LoadError, match="no snapshots under"):
        latest_snapshot(s3, settings.cleaned_bucket)
    features, identity = _tables(3)
    for snapshot in ("2026-11-27", "2026-10-31"):
        _put_snapshot(settings, features, identity, snapshot=snapshot, parts=1)
    s3.put_object(Bucket=settings.cleaned_bucket, Key="features/_SUCCESS", Body=b"")

    assert latest_snapshot(s3, settings.cleaned_bucket) == "2026-11-27"


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ("2099-01-01", r"no such snapshot: no parquet parts under s3://cs-t\d+-cleaned/features/snapshot=2099-01-01/"),
        ("../raw", "snapshot id '../raw' is malformed"),
    ],
)  # fmt: skip
def test_a_missing_or_malformed_snapshot_is_refused(settings: Settings, snapshot: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        load_customers(settings, snapshot, progress=False)


def _assert_table_empty(settings: Settings) -> None:
    assert _stored(settings) == {}, "nothing is written when the snapshot is refused"


@pytest.mark.parametrize(
    ("drop_features", "drop_identity", "message"),
    [
        (0, 3, "3 of 40 features rows have no identity row, 0 of 37 identity rows have no features row"),
        (2, 0, "0 of 38 features rows have no identity row, 2 of 40 identity rows have no features row"),
    ],
)
def test_identity_and_features_must_cover_the_same_customers(
    settings: Settings, drop_features: int, drop_identity: int, message: str
) -> None:
    features, identity = _tables(40)
    _put_snapshot(settings, features.slice(drop_features), identity.slice(drop_identity))

    with pytest.raises(LoadError, match=message):
        load_customers(settings, SNAPSHOT, progress=False)
    _assert_table_empty(settings)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (math.nan, "is NaN or infinite"),
        (-math.inf, "is NaN or infinite"),
        (None, "is null"),
        (1e200, "is outside"),
    ],
)
def test_a_bad_feature_value_names_the_row_and_feature_and_nothing_is_written(
    settings: Settings, value: float | None, problem: str
) -> None:
    features, identity = _tables(60)
    # The last row of the second part: a problem there must stop the load before any first-part write.
    balances = features.column("balance_mean_6m").to_pylist()
    balances[59] = value
    features = features.set_column(
        features.column_names.index("balance_mean_6m"), "balance_mean_6m", pa.array(balances, pa.float64())
    )
    _put_snapshot(settings, features, identity)

    with pytest.raises(LoadError, match=f"row 59: feature 'balance_mean_6m' {problem}") as raised:
        load_customers(settings, SNAPSHOT, progress=False)
    assert features.column("national_id")[59].as_py() not in str(raised.value)
    _assert_table_empty(settings)


def test_unreadable_parts_missing_columns_and_repeated_ids_are_refused(settings: Settings) -> None:
    features, identity = _tables(20)
    s3 = aws.client("s3", settings)
    _put_snapshot(settings, features.drop_columns(["savings"]), identity)
    with pytest.raises(LoadError, match=r"features of snapshot 2026-11-27 lacks columns \['savings'\]"):
        load_customers(settings, SNAPSHOT, progress=False)

    _put_snapshot(settings, features, pa.concat_tables([identity, identity.slice(0, 2)]))
    with pytest.raises(LoadError, match="identity of snapshot 2026-11-27: 2 rows repeat a national_id"):
        load_customers(settings, SNAPSHOT, progress=False)

    key = f"identity/snapshot={SNAPSHOT}/part-00001-c000.snappy.parquet"
    s3.put_object(Bucket=settings.cleaned_bucket, Key=key, Body=b"PAR1 truncated")
    with pytest.raises(LoadError, match=f"s3://{settings.cleaned_bucket}/{key} is not a readable parquet"):
        load_customers(settings, SNAPSHOT, progress=False)
    _assert_table_empty(settings)


def test_the_count_check_catches_a_missing_item(settings: Settings) -> None:
    features, identity = _tables(50)
    _put_snapshot(settings, features, identity)
    load_customers(settings, SNAPSHOT, progress=False)
    dynamodb = aws.client("dynamodb", settings)
    assert check_count(dynamodb, settings.customers_table, SNAPSHOT, 50) == 50

    gone = features.column("national_id")[7].as_py()
    dynamodb.delete_item(TableName=settings.customers_table, Key={"national_id": {"S": gone}})

    with pytest.raises(LoadError, match=r"49 items in table \S+, 50 customers in the snapshot"):
        check_count(dynamodb, settings.customers_table, SNAPSHOT, 50)
    assert check_count(dynamodb, settings.customers_table, "2026-01-01", 0) == 0


def _requests(count: int) -> list[WriteRequest]:
    return [{"PutRequest": {"Item": {"national_id": {"S": str(n)}}}} for n in range(count)]


def test_unprocessed_items_are_retried_with_jittered_capped_backoff() -> None:
    sent: list[int] = []
    waits: list[float] = []

    def throttled_twice(requests: list[WriteRequest]) -> list[WriteRequest]:
        sent.append(len(requests))
        return requests[: len(requests) // 2] if len(sent) <= 2 else []

    assert put_with_retries(throttled_twice, _requests(25), sleep=waits.append) == 2
    assert sent == [25, 12, 6]
    assert len(waits) == 2
    assert all(
        0 <= w <= min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**n) for n, w in enumerate(waits, 1)
    )


def test_retries_stop_at_the_limit() -> None:
    waits: list[float] = []

    with pytest.raises(LoadError, match="25 items were still unprocessed after 4 retries"):
        put_with_retries(lambda requests: requests, _requests(25), max_retries=4, sleep=waits.append)
    assert len(waits) == 4
    assert max(waits) <= BACKOFF_CAP_SECONDS


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1, "0.1"), (2.0, "2"), (-0.0, "0"), (7, "7"), (1e23, "1E+23"), (1 / 3, "0.3333333333333333")],
)
def test_numbers_take_their_shortest_exact_decimal_form(value: float, expected: str) -> None:
    assert str(aws.to_decimal(value)) == expected
