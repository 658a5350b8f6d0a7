from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from creditscore import aws
from creditscore.cli import demo as cli_demo
from creditscore.config import Settings
from creditscore.domain import identity as contacts
from creditscore.domain.features import APPLICATION, FEATURES, GROUPS, LABEL, names
from etl.customer_writes import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    LOADED,
    Attempt,
    Customer,
    CustomerWriter,
    Request,
    Target,
    WriteError,
)
from etl.load_customers import (
    LoadError,
    LoadSummary,
    check_count,
    latest_snapshot,
    load_customers,
    quarantine_prefix,
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
    "source",
}
# What the scoring service writes on a customer's item; a load must leave all of it alone.
_SERVICE_FIELDS = {
    "last_score": {"score": Decimal(712), "band": "Good", "models": {"xgboost": "v3"}},
    "score_version": Decimal(4),
    "created_at": "2026-12-01T09:30:00+00:00",
    "created_by": "sha256:0123abcd",
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


def _items(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every item of the customers table, guards included, by key."""
    deserializer = TypeDeserializer()
    pages = (
        aws.client("dynamodb", settings).get_paginator("scan").paginate(TableName=settings.customers_table)
    )
    items = [
        {k: deserializer.deserialize(v) for k, v in raw.items()} for page in pages for raw in page["Items"]
    ]
    return {item["national_id"]: item for item in items}


def _stored(settings: Settings) -> dict[str, dict[str, Any]]:
    """The customers in the table, by national ID."""
    return {key: item for key, item in _items(settings).items() if contacts.is_customer_key(key)}


def _guards(settings: Settings) -> dict[str, str]:
    """Every guard item's key and owner."""
    items = _items(settings).items()
    return {key: item[contacts.OWNER] for key, item in items if not contacts.is_customer_key(key)}


def _owner(settings: Settings, field: contacts.ContactField, value: str) -> str | None:
    return _guards(settings).get(contacts.guard_key(field, value))


def _with_contacts(identity: pa.Table, changes: dict[str, dict[str, str]]) -> pa.Table:
    """``identity`` with some customers' identity attributes changed: national_id -> {attribute: value}."""
    rows = identity.to_pylist()
    for row in rows:
        row.update(changes.get(row["national_id"], {}))
    return pa.Table.from_pylist(rows, schema=identity.schema)


def _ids(features: pa.Table) -> list[str]:
    """National IDs in snapshot row order."""
    return [str(national_id) for national_id in features.column("national_id").to_pylist()]


def _quarantined(settings: Settings, snapshot: str = SNAPSHOT) -> list[dict[str, Any]]:
    s3 = aws.client("s3", settings)
    listed = s3.list_objects_v2(Bucket=settings.cleaned_bucket, Prefix=quarantine_prefix(snapshot))
    rows: list[dict[str, Any]] = []
    for entry in listed.get("Contents", []):
        body = s3.get_object(Bucket=settings.cleaned_bucket, Key=entry["Key"])["Body"].read()
        rows.extend(pq.read_table(pa.BufferReader(body)).to_pylist())
    return sorted(rows, key=lambda row: row["row"])


def _service_creates(settings: Settings, national_id: str, email: str, phone: str) -> dict[str, Any]:
    """A customer created as the scoring service does: source api, its form's application group, its
    contacts claimed in the same transaction. Returns the item."""
    table = settings.customers_table
    item = {
        "national_id": national_id,
        "full_name": "Trần Thị Bình",
        "email": email,
        "phone_number": phone,
        "source": "api",
        APPLICATION: {name: Decimal(n + 1000) for n, name in enumerate(names(APPLICATION))},
        **_SERVICE_FIELDS,
    }
    serializer = TypeSerializer()
    put = {"TableName": table, "Item": {k: serializer.serialize(v) for k, v in item.items()}}
    aws.client("dynamodb", settings).transact_write_items(
        TransactItems=[
            {"Put": put | {"ConditionExpression": "attribute_not_exists(national_id)"}},
            contacts.claim(table, "email", email, national_id),
            contacts.claim(table, "phone_number", phone, national_id),
        ]
    )
    return item


def _update(settings: Settings, national_id: str, **values: Any) -> None:
    """SET ``values`` on one item, as another writer (the service) would."""
    serializer = TypeSerializer()
    aws.client("dynamodb", settings).update_item(
        TableName=settings.customers_table,
        Key={"national_id": {"S": national_id}},
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
        ExpressionAttributeNames={f"#{name}": name for name in values},
        ExpressionAttributeValues={f":{name}": serializer.serialize(v) for name, v in values.items()},
    )


def test_each_customer_becomes_one_item_with_features_grouped_as_decimals(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    features, identity = _tables(120)
    _put_snapshot(settings, features, identity, parts=3)

    summary = load_customers(settings, SNAPSHOT, progress=False)

    assert isinstance(summary, LoadSummary)
    assert (summary.snapshot, summary.rows, summary.items_written, summary.items_in_table) == (
        SNAPSHOT,
        120,
        120,
        120,
    )
    assert summary.rejected == {} and summary.rows_rejected == 0
    assert summary.retries == 0 and summary.seconds > 0
    stored = _stored(settings)
    assert len(stored) == 120
    rows = features.to_pylist()
    people = {row["national_id"]: row for row in identity.to_pylist()}
    for row in (*rows[:3], rows[60], rows[-1]):
        item = stored[row["national_id"]]
        assert set(item) == _ITEM_ATTRIBUTES
        assert {name: item[name] for name in identity.column_names} == people[row["national_id"]]
        for group in GROUPS:
            assert sorted(item[group]) == sorted(names(group))
            for name, value in item[group].items():
                assert isinstance(value, Decimal)
                assert value == Decimal(repr(float(row[name]))), name
                assert float(value) == row[name], f"{name} must round-trip exactly"
        assert (item["features_as_of"], item["snapshot"], item["source"]) == ("2026-11-26", SNAPSHOT, "batch")
        assert datetime.fromisoformat(item["loaded_at"]).utcoffset() == timedelta(0)
    incomes = [str(stored[row["national_id"]]["application"]["income"]) for row in rows[:3]]
    assert incomes == ["0.1", "2500000", "1E+23"]
    assert all(LABEL not in item and all(LABEL not in item[g] for g in GROUPS) for item in stored.values())
    logged = "".join(capsys.readouterr())
    assert "customers loaded" in logged and "120" in logged
    assert not any(row["national_id"] in logged for row in rows), "no raw national ID in the logs"


def test_rerunning_a_snapshot_rewrites_the_same_items(settings: Settings) -> None:
    features, identity = _tables(60)
    _put_snapshot(settings, features, identity)
    load_customers(settings, SNAPSHOT, progress=False)
    first = _stored(settings)

    again = load_customers(settings, SNAPSHOT, progress=False)

    second = _stored(settings)
    assert again.items_written == again.items_in_table == len(second) == len(first) == 60
    for national_id, item in first.items():
        assert {k: v for k, v in second[national_id].items() if k != "loaded_at"} == {
            k: v for k, v in item.items() if k != "loaded_at"
        }


def test_a_reload_keeps_what_the_service_wrote_and_an_api_customers_application(settings: Settings) -> None:
    features, identity = _tables(30)
    batch_id, api_id = _ids(features)[4], _ids(features)[9]
    api_person = next(row for row in identity.to_pylist() if row["national_id"] == api_id)
    # A customer the service created before the bank's snapshot had them; one the loader created first.
    created = _service_creates(settings, api_id, api_person["email"], api_person["phone_number"])
    _put_snapshot(settings, features, identity)
    load_customers(settings, SNAPSHOT, progress=False)
    foreign_application = {name: Decimal(-7) for name in names(APPLICATION)}
    _update(settings, batch_id, **_SERVICE_FIELDS, application=foreign_application)
    _update(settings, api_id, traditional_features={"stale": Decimal(1)})

    summary = load_customers(settings, SNAPSHOT, progress=False)

    assert (summary.items_written, summary.items_in_table, summary.rows_rejected) == (30, 30, 0)
    stored = _stored(settings)
    row = features.to_pylist()[4]
    batch = stored[batch_id]
    assert {name: batch[name] for name in _SERVICE_FIELDS} == _SERVICE_FIELDS
    assert batch["source"] == "batch"
    assert batch[APPLICATION] == {name: Decimal(repr(float(row[name]))) for name in names(APPLICATION)}
    api = stored[api_id]
    assert {name: api[name] for name in _SERVICE_FIELDS} == _SERVICE_FIELDS
    assert (api["source"], api[APPLICATION]) == ("api", created[APPLICATION])
    assert sorted(api["traditional_features"]) == sorted(names("traditional_features")), "loaded over"
    assert api["snapshot"] == SNAPSHOT


def test_every_loaded_customer_holds_the_guards_of_its_email_and_phone(settings: Settings) -> None:
    features, identity = _tables(40)
    _put_snapshot(settings, features, identity)

    load_customers(settings, SNAPSHOT, progress=False)

    expected = {
        contacts.guard_key(field, row[field]): row["national_id"]
        for row in identity.to_pylist()
        for field in contacts.CONTACT_FIELDS
    }
    assert _guards(settings) == expected
    guards = [item for key, item in _items(settings).items() if key in expected]
    assert not any("email" in item or "phone_number" in item for item in guards), "invisible to the indexes"


def test_a_contact_another_customer_holds_is_rejected_quarantined_and_the_rest_load(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    features, identity = _tables(30)
    ids = _ids(features)
    holder = _service_creates(settings, "000000000123", "Holder@Example.com", "0912345678")
    # A case variant of the holder's email, the +84 form of the holder's phone number.
    identity = _with_contacts(
        identity, {ids[3]: {"email": "holder@example.COM"}, ids[20]: {"phone_number": "+84912345678"}}
    )
    _put_snapshot(settings, features, identity)

    summary = load_customers(settings, SNAPSHOT, progress=False)

    assert summary.rejected == {
        "email_held_by_another_customer": 1,
        "phone_number_held_by_another_customer": 1,
    }
    assert (summary.rows, summary.items_written, summary.items_in_table) == (30, 28, 28)
    assert summary.items_written + summary.rows_rejected == summary.rows
    stored = _stored(settings)
    assert set(stored) == {*ids, holder["national_id"]} - {ids[3], ids[20]}
    assert stored[holder["national_id"]]["email"] == "Holder@Example.com"
    assert _owner(settings, "email", "holder@example.com") == holder["national_id"]
    assert _owner(settings, "phone_number", "0912345678") == holder["national_id"]
    assert _owner(settings, "phone_number", identity.to_pylist()[0]["phone_number"]) is not None
    # The rejected rows claimed nothing: their other contact is nobody's.
    people = {row["national_id"]: row for row in identity.to_pylist()}
    assert _owner(settings, "phone_number", people[ids[3]]["phone_number"]) is None
    assert _owner(settings, "email", people[ids[20]]["email"]) is None
    quarantined = _quarantined(settings)
    assert [(q["row"], q["national_id"], q["reason"], q["field"]) for q in quarantined] == [
        (3, ids[3], "email_held_by_another_customer", "email"),
        (20, ids[20], "phone_number_held_by_another_customer", "phone_number"),
    ]
    assert json.loads(quarantined[0]["record"])["email"] == "holder@example.COM"
    assert quarantined[0]["loaded_at"] == stored[ids[0]]["loaded_at"]
    logged = "".join(capsys.readouterr())
    assert "email_held_by_another_customer" in logged
    assert not any(national_id in logged for national_id in ids) and "holder@" not in logged.lower()


def test_rows_of_one_snapshot_sharing_a_contact_are_all_rejected_before_any_write(settings: Settings) -> None:
    features, identity = _tables(25)
    ids = _ids(features)
    identity = _with_contacts(
        identity,
        {
            ids[2]: {"email": "shared@example.com"},
            ids[17]: {"email": " SHARED@example.com"},
            ids[5]: {"phone_number": "0987654321"},
            ids[11]: {"phone_number": "+84987654321"},
        },
    )
    _put_snapshot(settings, features, identity)

    summary = load_customers(settings, SNAPSHOT, progress=False)

    assert summary.rejected == {"email_shared_in_snapshot": 2, "phone_number_shared_in_snapshot": 2}
    assert summary.items_written == summary.items_in_table == 21 == summary.rows - summary.rows_rejected
    assert set(_stored(settings)) == set(ids) - {ids[2], ids[17], ids[5], ids[11]}
    assert _owner(settings, "email", "shared@example.com") is None
    assert _owner(settings, "phone_number", "0987654321") is None
    assert [(q["row"], q["reason"]) for q in _quarantined(settings)] == [
        (2, "email_shared_in_snapshot"),
        (5, "phone_number_shared_in_snapshot"),
        (11, "phone_number_shared_in_snapshot"),
        (17, "email_shared_in_snapshot"),
    ]

    # Fixed in the next run of the snapshot: the quarantine is replaced, now empty.
    _put_snapshot(settings, features, _tables(25)[1])
    again = load_customers(settings, SNAPSHOT, progress=False)
    assert (again.items_written, again.rows_rejected, _quarantined(settings)) == (25, 0, [])


def test_a_changed_contact_releases_its_old_guard_for_another_customer(settings: Settings) -> None:
    features, identity = _tables(20)
    ids = _ids(features)
    mover, taker, later = ids[15], ids[1], ids[8]
    people = {row["national_id"]: row for row in identity.to_pylist()}
    old_email, old_phone = people[mover]["email"], people[mover]["phone_number"]
    taker_email = people[taker]["email"]
    _put_snapshot(settings, features, identity)
    load_customers(settings, SNAPSHOT, progress=False)

    # The mover changes both contacts; a customer of an earlier row takes the mover's old email in the same
    # load, so its claim is refused until the mover's row has released it.
    renewed = _with_contacts(
        identity,
        {
            mover: {"email": "mover.new@example.com", "phone_number": "0977000111"},
            taker: {"email": old_email},
        },
    )
    _put_snapshot(settings, features, renewed, snapshot="2026-12-27")
    # One worker: the groups go in row order, so the taker's claim comes before the mover's release.
    summary = load_customers(settings, "2026-12-27", progress=False, workers=1)

    assert (summary.items_written, summary.rows_rejected, summary.items_in_table) == (20, 0, 20)
    assert _owner(settings, "email", old_email) == taker
    assert _owner(settings, "email", "mover.new@example.com") == mover
    assert _owner(settings, "phone_number", "0977000111") == mover
    assert _owner(settings, "phone_number", old_phone) is None
    assert _owner(settings, "email", taker_email) is None
    assert len(_guards(settings)) == 40
    stored = _stored(settings)
    assert (stored[mover]["email"], stored[taker]["email"]) == ("mover.new@example.com", old_email)

    # A later load: another customer takes the address the taker gave up.
    _put_snapshot(settings, features, _with_contacts(renewed, {later: {"email": taker_email}}), "2027-01-27")
    assert load_customers(settings, "2027-01-27", progress=False).rows_rejected == 0
    assert _owner(settings, "email", taker_email) == later


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

    with pytest.raises(LoadError, match=r"49 items in table \S+, 50 expected"):
        check_count(dynamodb, settings.customers_table, SNAPSHOT, 50)
    assert check_count(dynamodb, settings.customers_table, "2026-01-01", 0) == 0


def _writer_customers(count: int) -> list[Customer]:
    values = {name: {"S": "-"} for name in LOADED}
    return [
        Customer(n, f"{n:012d}", {"email": f"c{n}@example.com", "phone_number": f"09{n:08d}"}, values)
        for n in range(count)
    ]


def _codes(requests: list[Request], failing: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [failing.get(n, {"Code": "None"}) for n in range(len(requests))]


def test_conflicts_are_retried_with_jittered_capped_backoff() -> None:
    sent: list[int] = []
    waits: list[float] = []

    def conflicting_twice(requests: list[Request]) -> list[dict[str, Any]] | None:
        sent.append(len(requests))
        return _codes(requests, {0: {"Code": "TransactionConflict"}}) if len(sent) <= 2 else None

    writer = CustomerWriter(conflicting_twice, Target("t", SNAPSHOT, "now"), sleep=waits.append)
    result = writer.write(_writer_customers(8))

    assert (result.written, result.retries, result.refused) == (8, 2, [])
    assert sent == [24, 24, 24], "the customers the conflict did not concern are sent again with it"
    assert len(waits) == 2
    assert all(
        0 <= w <= min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**n) for n, w in enumerate(waits, 1)
    )


def test_no_transaction_touches_an_item_twice() -> None:
    mover, taker = _writer_customers(2)
    # The taker's new address is the mover's old one; the mover's guard on it is missing (an item written
    # before guards existed), so the taker's claim passes while the mover's Update finds another address.
    taker = replace(taker, contacts={**taker.contacts, "email": "old@example.com"})
    stored = {"email": {"S": "old@example.com"}, "phone_number": {"S": mover.contacts["phone_number"]}}
    sent: list[list[Request]] = []

    def send(requests: list[Request]) -> list[dict[str, Any]] | None:
        sent.append(requests)
        if len(sent) > 1:
            return None
        return _codes(requests, {0: {"Code": "ConditionalCheckFailed", "Item": stored}})

    result = CustomerWriter(send, Target("t", SNAPSHOT, "now")).write([mover, taker])

    assert (result.written, result.refused) == (2, [])
    # The mover's release and the taker's claim of one guard go in two calls, the release first.
    assert [len(requests) for requests in sent] == [6, 4, 3]
    assert "Delete" in sent[1][-1] and sent[2][0]["Update"]["Key"]["national_id"]["S"] == taker.national_id
    for requests in sent:
        keys = [_touched(request) for request in requests]
        assert len(keys) == len(set(keys))


def _touched(request: Request) -> str:
    (kind, body), *_ = request.items()
    return str((body["Item"] if kind == "Put" else body["Key"])["national_id"]["S"])


@pytest.mark.parametrize(
    ("stored_email", "foreign", "released"),
    [
        ("C0@Example.com", frozenset(), []),  # the same address written otherwise: nothing given up
        ("old@example.com", frozenset(), ["email"]),
        ("old@example.com", frozenset({"email"}), []),  # its guard is another customer's to keep
    ],
)
def test_an_exact_attempt_releases_only_the_contacts_the_customer_gave_up(
    stored_email: str, foreign: frozenset[contacts.ContactField], released: list[str]
) -> None:
    customer = _writer_customers(1)[0]
    # The phone number as stored is the snapshot's in its +84 form: the same contact.
    stored = {"email": {"S": stored_email}, "phone_number": {"S": "+84900000000"}}

    entries = Target("t", SNAPSHOT, "now").entries(Attempt(customer, stored, foreign))

    assert [entry.field for entry in entries if entry.role == "release"] == released
    update = entries[0].request["Update"]
    assert update["ConditionExpression"] == (
        "email = :was_email AND phone_number = :was_phone_number AND attribute_not_exists(#source)"
    )
    assert f"{APPLICATION} = :{APPLICATION}" in update["UpdateExpression"]


def test_retries_stop_at_the_limit() -> None:
    waits: list[float] = []

    def conflicting(requests: list[Request]) -> list[dict[str, Any]]:
        return _codes(requests, {3: {"Code": "TransactionConflict"}})

    writer = CustomerWriter(conflicting, Target("t", SNAPSHOT, "now"), max_retries=4, sleep=waits.append)
    with pytest.raises(WriteError, match="customer at row 1 was still not written after 4 retries"):
        writer.write(_writer_customers(3))
    assert len(waits) == 4
    assert max(waits) <= BACKOFF_CAP_SECONDS


def test_a_cancellation_sends_refused_changed_and_untouched_customers_their_own_ways() -> None:
    customers = _writer_customers(3)
    sent: list[list[Request]] = []
    stored = {"email": {"S": "old@example.com"}, "phone_number": {"S": "0900000000"}, "source": {"S": "api"}}

    def cancel_once(requests: list[Request]) -> list[dict[str, Any]] | None:
        sent.append(requests)
        if len(sent) > 1:
            return None
        # Customer 0's Update finds other contacts stored; customer 1's email claim is refused.
        return _codes(
            requests,
            {0: {"Code": "ConditionalCheckFailed", "Item": stored}, 4: {"Code": "ConditionalCheckFailed"}},
        )

    waits: list[float] = []
    result = CustomerWriter(cancel_once, Target("t", SNAPSHOT, "now"), sleep=waits.append).write(customers)

    assert (result.written, result.retries, waits) == (2, 1, []), "a refusal or a change is not waited out"
    assert [(r.customer.row, r.field) for r in result.refused] == [(1, "email")]
    update, claim_email, claim_phone, *released = sent[1][:-3]
    assert sent[1][-3]["Update"]["Key"] == {"national_id": {"S": customers[2].national_id}}
    assert sent[1][-3]["Update"]["ConditionExpression"] == sent[0][6]["Update"]["ConditionExpression"]
    exact = update["Update"]
    assert exact["ConditionExpression"] == (
        "email = :was_email AND phone_number = :was_phone_number AND #source = :was_source"
    )
    assert exact["ExpressionAttributeValues"][":was_email"] == stored["email"]
    assert f"{APPLICATION} =" not in exact["UpdateExpression"], "the service's application group stays"
    assert ":application" not in exact["ExpressionAttributeValues"]
    assert [entry["Put"]["Item"]["national_id"]["S"] for entry in (claim_email, claim_phone)] == [
        contacts.guard_key("email", "c0@example.com"),
        contacts.guard_key("phone_number", "0900000000"),
    ]
    # Only the email changed: its old guard goes, the phone number's stays.
    assert [entry["Delete"]["Key"]["national_id"]["S"] for entry in released] == [
        contacts.guard_key("email", "old@example.com")
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1, "0.1"), (2.0, "2"), (-0.0, "0"), (7, "7"), (1e23, "1E+23"), (1 / 3, "0.3333333333333333")],
)
def test_numbers_take_their_shortest_exact_decimal_form(value: float, expected: str) -> None:
    assert str(aws.to_decimal(value)) == expected


def test_the_demo_offers_a_customer_as_its_example_never_a_guard(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    table = settings.customers_table
    dynamodb = aws.client("dynamodb", settings)
    # More guards than a scan page holds, then one customer (a scan's order is the hash keys' order, so the
    # guards may come first).
    guards = [contacts.claim(table, "email", f"g{n}@example.com", "000000000001") for n in range(150)]
    for first in range(0, len(guards), 25):
        batch = [{"PutRequest": {"Item": guard["Put"]["Item"]}} for guard in guards[first : first + 25]]
        dynamodb.batch_write_item(RequestItems={table: batch})
    customer = {"national_id": "000000000777", "email": "c@example.com", "phone_number": "0900000777"}
    dynamodb.put_item(TableName=table, Item={name: {"S": value} for name, value in customer.items()})

    cli_demo.print_try_it(settings, "http://127.0.0.1:8080", "cs_key")

    assert '{"national_id": "000000000777"}' in capsys.readouterr().out
